/**
 * ACL rules of the admin APIs that answer per resource. As in Kafka, a refused resource gets its
 * own error code in the response and the allowed ones are served; the connection stays open:
 *
 * | API | check | refused resource gets |
 * |---|---|---|
 * | DescribeGroups | Describe on each Group | GROUP_AUTHORIZATION_FAILED |
 * | DeleteGroups | Delete on each Group | GROUP_AUTHORIZATION_FAILED |
 * | DescribeConfigs | DescribeConfigs on the Topic, or on the Cluster for a broker | TOPIC_ / CLUSTER_AUTHORIZATION_FAILED |
 * | AlterConfigs, IncrementalAlterConfigs | AlterConfigs, likewise | TOPIC_ / CLUSTER_AUTHORIZATION_FAILED |
 * | DeleteRecords | Delete on each Topic | TOPIC_AUTHORIZATION_FAILED per partition |
 * | CreatePartitions | Alter on each Topic | TOPIC_AUTHORIZATION_FAILED |
 *
 * @module
 */

// deno-lint-ignore-file no-explicit-any -- the rules read and amend generated message types.

import { ErrorCode } from "../../protocol/kafka/errors.ts";
import { createDescribeGroupsResponseDescribedGroup } from "../../protocol/kafka/messages/mod.ts";
import type { MiddlewareOutcome } from "../kafka_api/request_router.ts";
import type { AclOperation, ResourceType } from "./acl_authorizer.ts";

/** One ACL check of the request's principal and host. */
export type ResourceCheck = (type: ResourceType, name: string, op: AclOperation) => boolean;

/**
 * Serves the allowed entries of `req[listKey]` and appends `refused(entry)` for the others to
 * `res[resultKey]`; answers alone when nothing is allowed, so the handler never sees an empty list
 * (which some APIs read as "all").
 */
function _perEntry(
  req: any,
  listKey: string,
  resultKey: string,
  allowed: (entry: any) => boolean,
  refused: (entry: any) => unknown,
): MiddlewareOutcome | undefined {
  const entries: any[] = req[listKey];
  const ok = entries.filter(allowed);
  if (ok.length === entries.length) return undefined;
  const answers = entries.filter((e) => !allowed(e)).map(refused);
  if (ok.length === 0) return { response: { throttleTimeMs: 0, [resultKey]: answers } };
  return {
    request: { ...req, [listKey]: ok },
    finish: (res: any) => ({ ...res, [resultKey]: [...res[resultKey], ...answers] }),
  };
}

/** DescribeGroups: Describe on each group. */
export function describeGroupsRule(req: any, check: ResourceCheck): MiddlewareOutcome | undefined {
  return _perEntry(req, "groups", "groups", (g) => check("Group", g, "Describe"), (g) => ({
    ...createDescribeGroupsResponseDescribedGroup(),
    groupId: g,
    errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED,
  }));
}

/** DeleteGroups: Delete on each group. */
export function deleteGroupsRule(req: any, check: ResourceCheck): MiddlewareOutcome | undefined {
  return _perEntry(
    req,
    "groupsNames",
    "results",
    (g) => check("Group", g, "Delete"),
    (g) => ({ groupId: g, errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED }),
  );
}

// Kafka's config resource types: 2 is a topic; a broker (4) or broker logger (8) is checked on
// the Cluster.
const _TOPIC_RESOURCE = 2;

/** DescribeConfigs, AlterConfigs and IncrementalAlterConfigs, for `op` and `cluster`. */
export function configsRule(op: "DescribeConfigs" | "AlterConfigs", cluster: string) {
  const resultKey = op === "DescribeConfigs" ? "results" : "responses";
  return (req: any, check: ResourceCheck): MiddlewareOutcome | undefined => {
    const isTopic = (r: any) => r.resourceType === _TOPIC_RESOURCE;
    return _perEntry(
      req,
      "resources",
      resultKey,
      (r) => isTopic(r) ? check("Topic", r.resourceName, op) : check("Cluster", cluster, op),
      (r) => ({
        errorCode: isTopic(r)
          ? ErrorCode.TOPIC_AUTHORIZATION_FAILED
          : ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
        errorMessage: `Not authorized to ${op === "DescribeConfigs" ? "describe" : "alter"} ` +
          `the configs of ${isTopic(r) ? "topic" : "broker"} ${r.resourceName}`,
        resourceType: r.resourceType,
        resourceName: r.resourceName,
        ...(op === "DescribeConfigs" ? { configs: [] } : {}),
      }),
    );
  };
}

/** DeleteRecords: Delete on each topic. */
export function deleteRecordsRule(req: any, check: ResourceCheck): MiddlewareOutcome | undefined {
  return _perEntry(req, "topics", "topics", (t) => check("Topic", t.name, "Delete"), (t) => ({
    name: t.name,
    partitions: t.partitions.map((p: any) => ({
      partitionIndex: p.partitionIndex,
      lowWatermark: -1n,
      errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    })),
  }));
}

/** CreatePartitions: Alter on each topic. */
export function createPartitionsRule(
  req: any,
  check: ResourceCheck,
): MiddlewareOutcome | undefined {
  return _perEntry(req, "topics", "results", (t) => check("Topic", t.name, "Alter"), (t) => ({
    name: t.name,
    errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    errorMessage: "Not authorized to alter this topic",
  }));
}

const _CLUSTER_DENIED = ErrorCode.CLUSTER_AUTHORIZATION_FAILED;
const _NOT_AUTHORIZED = "Not authorized on the cluster";

// The answer to a refused ACL or SCRAM admin request, per API: Kafka puts the code on each
// creation, filter or user, or on the whole response where there is nothing to list.
const _CLUSTER_REFUSALS = {
  DescribeAcls: () => ({
    throttleTimeMs: 0,
    errorCode: _CLUSTER_DENIED,
    errorMessage: _NOT_AUTHORIZED,
    resources: [],
  }),
  CreateAcls: (req: any) => ({
    throttleTimeMs: 0,
    results: req.creations.map(() => ({
      errorCode: _CLUSTER_DENIED,
      errorMessage: _NOT_AUTHORIZED,
    })),
  }),
  DeleteAcls: (req: any) => ({
    throttleTimeMs: 0,
    filterResults: req.filters.map(() => ({
      errorCode: _CLUSTER_DENIED,
      errorMessage: _NOT_AUTHORIZED,
      matchingAcls: [],
    })),
  }),
  DescribeUserScramCredentials: () => ({
    throttleTimeMs: 0,
    errorCode: _CLUSTER_DENIED,
    errorMessage: _NOT_AUTHORIZED,
    results: [],
  }),
  AlterUserScramCredentials: (req: any) => ({
    throttleTimeMs: 0,
    results: [...new Set([...req.deletions, ...req.upsertions].map((u: any) => u.name as string))]
      .map((user) => ({ user, errorCode: _CLUSTER_DENIED, errorMessage: _NOT_AUTHORIZED })),
  }),
} as const;

/**
 * The ACL and SCRAM admin APIs: `op` on the Cluster, else CLUSTER_AUTHORIZATION_FAILED in the
 * response, as Kafka answers (DescribeAcls and DescribeUserScramCredentials need Describe, the
 * others Alter).
 */
export function clusterAdminRule(
  api: keyof typeof _CLUSTER_REFUSALS,
  op: AclOperation,
  cluster: string,
) {
  return (req: any, check: ResourceCheck): MiddlewareOutcome | undefined =>
    check("Cluster", cluster, op) ? undefined : { response: _CLUSTER_REFUSALS[api](req) };
}
