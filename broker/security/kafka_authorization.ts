/**
 * Authorizes every Kafka request against the ACLs, as router middleware over the connection's
 * principal, with Kafka's operations per API:
 *
 * | API | check | refused as |
 * |---|---|---|
 * | Produce | Write on each Topic | TOPIC_AUTHORIZATION_FAILED per partition |
 * | Fetch (consumer) | Read on each Topic | TOPIC_AUTHORIZATION_FAILED per partition |
 * | Fetch (follower), OffsetForLeaderEpoch, WriteTxnMarkers | ClusterAction on Cluster | connection closed |
 * | ListOffsets | Describe on each Topic | TOPIC_AUTHORIZATION_FAILED per partition |
 * | Metadata | Describe on each Topic | hidden when listing all; error entry when named |
 * | CreateTopics | Create on the Topic or the Cluster | TOPIC_AUTHORIZATION_FAILED per topic |
 * | DeleteTopics | Delete on each Topic | TOPIC_AUTHORIZATION_FAILED per topic |
 * | JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit | Read on the Group | GROUP_AUTHORIZATION_FAILED |
 * | OffsetCommit | also Read on each Topic | TOPIC_AUTHORIZATION_FAILED per partition |
 * | OffsetFetch, FindCoordinator (group) | Describe on the Group | GROUP_AUTHORIZATION_FAILED |
 * | ListGroups | Describe on each Group | groups not describable are hidden |
 * | InitProducerId, transactional Produce, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit | TransactionalId rules (txn_authorization.ts) | TRANSACTIONAL_ID_AUTHORIZATION_FAILED and the rest, per Kafka |
 *
 * DescribeGroups, DeleteGroups, the config APIs, DeleteRecords and CreatePartitions answer each
 * refused resource with its error code, and the ACL and SCRAM admin APIs with
 * CLUSTER_AUTHORIZATION_FAILED (resource_authorization.ts). The remaining APIs
 * (OffsetForLeaderEpoch, FindCoordinator v4+, multi-group OffsetFetch) close the connection on a
 * refusal. An API with no rule
 * at all is refused unless the principal is a super user, so a new API is never open by mistake.
 *
 * ACLs are read from the store on every request, so a change applies to the next request of
 * every connection.
 *
 * @module
 */

// deno-lint-ignore-file no-explicit-any -- the rules read and amend many generated message types.

import { isClusterPeerPrincipal } from "./replication_auth.ts";
import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  createHeartbeatResponse,
  createJoinGroupResponse,
  createLeaveGroupResponse,
  createSyncGroupResponse,
} from "../../protocol/kafka/messages/mod.ts";
import type {
  MiddlewareOutcome,
  RequestMiddleware,
  RoutedRequest,
} from "../kafka_api/request_router.ts";
import {
  clusterAdminRule,
  configsRule,
  createPartitionsRule,
  deleteGroupsRule,
  deleteRecordsRule,
  describeGroupsRule,
} from "./resource_authorization.ts";
import {
  addOffsetsToTxnRule,
  addPartitionsToTxnRule,
  describeTransactionsRule,
  endTxnRule,
  initProducerIdRule,
  listTransactionsRule,
  transactionalProduceRefusal,
  txnOffsetCommitRule,
} from "./txn_authorization.ts";
import {
  type AclBinding,
  type AclOperation,
  authorize,
  authorizeAnyResource,
  type AuthorizerSettings,
  type ResourceType,
} from "./acl_authorizer.ts";

/** The name of the one Cluster resource, as Kafka spells it. */
export const CLUSTER_RESOURCE = "kafka-cluster";

type _Check = (type: ResourceType, name: string, op: AclOperation) => boolean;
type _CheckAny = (type: ResourceType, op: AclOperation) => boolean;
type _Rule = (
  req: any,
  check: _Check,
  version: number,
  checkAny: _CheckAny,
) => string | undefined | MiddlewareOutcome;

/** Builds the middleware; `acls` is read on every request. */
export function authorizationMiddleware(
  acls: () => readonly AclBinding[],
  settings: AuthorizerSettings,
): RequestMiddleware {
  return (routed: RoutedRequest) => {
    if (_ALWAYS.has(routed.apiKey)) return undefined;
    const { principal, remoteAddr } = routed.connection;
    // A broker that proved the cluster secret is the cluster itself (replica fetches and all).
    if (settings.superUsers.includes(principal) || isClusterPeerPrincipal(principal)) {
      return undefined;
    }
    const check: _Check = (resourceType, resourceName, operation) =>
      authorize(acls(), {
        principal,
        host: remoteAddr.hostname,
        resourceType,
        resourceName,
        operation,
      }, settings);
    const checkAny: _CheckAny = (resourceType, operation) =>
      authorizeAnyResource(acls(), {
        principal,
        host: remoteAddr.hostname,
        resourceType,
        operation,
      }, settings);
    const rule = _RULES.get(routed.apiKey);
    if (rule === undefined) {
      return `Cannot serve API key ${routed.apiKey} to ${principal}: it has no authorization rule`;
    }
    return rule(routed.request, check, routed.apiVersion, checkAny);
  };
}

const _ALWAYS = new Set<number>([
  ApiKey.ApiVersions,
  ApiKey.SaslHandshake,
  ApiKey.SaslAuthenticate,
]);

function _refuse(what: string): string {
  return `Cannot serve the request as the principal may not ${what}`;
}

/** Splits `items` into those `ok` passes and the rest. */
function _split<T>(items: readonly T[], ok: (t: T) => boolean): [T[], T[]] {
  const yes: T[] = [], no: T[] = [];
  for (const t of items) (ok(t) ? yes : no).push(t);
  return [yes, no];
}

function _produce(req: any, check: _Check): MiddlewareOutcome | undefined {
  const [ok, denied] = _split(req.topicData, (t: any) => check("Topic", t.name, "Write"));
  if (denied.length === 0) return undefined;
  return {
    request: { ...req, topicData: ok },
    finish: (res: any) => ({
      ...res,
      responses: [
        ...res.responses,
        ...denied.map((t: any) => ({
          name: t.name,
          partitionResponses: t.partitionData.map((p: any) => ({
            index: p.index,
            errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
            baseOffset: -1n,
            logAppendTimeMs: -1n,
            logStartOffset: -1n,
            recordErrors: [],
            errorMessage: "Not authorized to write to this topic",
            currentLeader: { leaderId: -1, leaderEpoch: -1 },
          })),
        })),
      ],
    }),
  };
}

function _fetch(req: any, check: _Check): string | MiddlewareOutcome | undefined {
  const replicaId = Math.max(req.replicaId, req.replicaState?.replicaId ?? -1);
  if (replicaId >= 0) {
    return check("Cluster", CLUSTER_RESOURCE, "ClusterAction")
      ? undefined
      : _refuse("fetch as a replica (ClusterAction on the Cluster)");
  }
  const [ok, denied] = _split(req.topics, (t: any) => check("Topic", t.topic, "Read"));
  if (denied.length === 0) return undefined;
  return {
    request: { ...req, topics: ok },
    finish: (res: any) => ({
      ...res,
      responses: [
        ...res.responses,
        ...denied.map((t: any) => ({
          topic: t.topic,
          topicId: t.topicId,
          partitions: t.partitions.map((p: any) => ({
            partitionIndex: p.partition,
            errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
            highWatermark: -1n,
            lastStableOffset: -1n,
            logStartOffset: -1n,
            divergingEpoch: { epoch: -1, endOffset: -1n },
            currentLeader: { leaderId: -1, leaderEpoch: -1 },
            snapshotId: { endOffset: -1n, epoch: -1 },
            abortedTransactions: null,
            preferredReadReplica: -1,
            records: null,
          })),
        })),
      ],
    }),
  };
}

function _listOffsets(req: any, check: _Check): MiddlewareOutcome | undefined {
  const [ok, denied] = _split(req.topics, (t: any) => check("Topic", t.name, "Describe"));
  if (denied.length === 0) return undefined;
  return {
    request: { ...req, topics: ok },
    finish: (res: any) => ({
      ...res,
      topics: [
        ...res.topics,
        ...denied.map((t: any) => ({
          name: t.name,
          partitions: t.partitions.map((p: any) => ({
            partitionIndex: p.partitionIndex,
            errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
            oldStyleOffsets: [],
            timestamp: -1n,
            offset: -1n,
            leaderEpoch: -1,
          })),
        })),
      ],
    }),
  };
}

function _metadata(req: any, check: _Check): MiddlewareOutcome {
  const describable = (name: string | null) => name !== null && check("Topic", name, "Describe");
  if (req.topics === null || req.topics.length === 0) {
    // Listing every topic: the ones the principal may not describe are simply not there.
    return {
      request: req,
      finish: (res: any) => ({
        ...res,
        topics: res.topics.filter((t: any) => describable(t.name)),
      }),
    };
  }
  const [ok, denied] = _split(req.topics, (t: any) => describable(t.name));
  return {
    // With every named topic refused, an empty list would mean "all topics": answer directly.
    request: { ...req, topics: ok },
    finish: (res: any) => ({
      ...res,
      topics: [
        ...(ok.length === 0 ? [] : res.topics),
        ...denied.map((t: any) => ({
          errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
          name: t.name,
          topicId: t.topicId,
          isInternal: false,
          partitions: [],
          topicAuthorizedOperations: -2147483648,
        })),
      ],
    }),
  };
}

function _createTopics(req: any, check: _Check): MiddlewareOutcome | undefined {
  if (check("Cluster", CLUSTER_RESOURCE, "Create")) return undefined;
  const [ok, denied] = _split(req.topics, (t: any) => check("Topic", t.name, "Create"));
  if (denied.length === 0) return undefined;
  return {
    request: { ...req, topics: ok },
    finish: (res: any) => ({
      ...res,
      topics: [
        ...res.topics,
        ...denied.map((t: any) => ({
          name: t.name,
          topicId: "AAAAAAAAAAAAAAAAAAAAAA",
          errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
          errorMessage: "Not authorized to create this topic",
          topicConfigErrorCode: 0,
          numPartitions: -1,
          replicationFactor: -1,
          configs: null,
        })),
      ],
    }),
  };
}

function _deleteTopics(req: any, check: _Check): string | MiddlewareOutcome | undefined {
  if (req.topics.some((t: any) => t.name === null)) {
    return check("Cluster", CLUSTER_RESOURCE, "Delete")
      ? undefined
      : _refuse("delete topics by id (Delete on the Cluster)");
  }
  const allowed = (name: string) => check("Topic", name, "Delete");
  const [okNames, deniedNames] = _split<string>(req.topicNames, allowed);
  const [okTopics, deniedTopics] = _split(req.topics, (t: any) => allowed(t.name));
  const denied = [...deniedNames, ...deniedTopics.map((t: any) => t.name as string)];
  if (denied.length === 0) return undefined;
  return {
    request: { ...req, topicNames: okNames, topics: okTopics },
    finish: (res: any) => ({
      ...res,
      responses: [
        ...res.responses,
        ...denied.map((name) => ({
          name,
          topicId: "AAAAAAAAAAAAAAAAAAAAAA",
          errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
          errorMessage: "Not authorized to delete this topic",
        })),
      ],
    }),
  };
}

function _groupRead(create: () => any): _Rule {
  return (req, check) => {
    if (check("Group", req.groupId, "Read")) return undefined;
    return { response: { ...create(), errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED } };
  };
}

function _offsetCommit(req: any, check: _Check): MiddlewareOutcome | undefined {
  const groupOk = check("Group", req.groupId, "Read");
  const [ok, denied] = groupOk
    ? _split(req.topics, (t: any) => check("Topic", t.name, "Read"))
    : [[], req.topics as any[]];
  if (denied.length === 0) return undefined;
  const code = groupOk
    ? ErrorCode.TOPIC_AUTHORIZATION_FAILED
    : ErrorCode.GROUP_AUTHORIZATION_FAILED;
  const refused = denied.map((t: any) => ({
    name: t.name,
    partitions: t.partitions.map((p: any) => ({
      partitionIndex: p.partitionIndex,
      errorCode: code,
    })),
  }));
  if (ok.length === 0) return { response: { throttleTimeMs: 0, topics: refused } };
  return {
    request: { ...req, topics: ok },
    finish: (res: any) => ({ ...res, topics: [...res.topics, ...refused] }),
  };
}

function _offsetFetch(req: any, check: _Check): string | MiddlewareOutcome | undefined {
  const ids: string[] = req.groups.length > 0
    ? req.groups.map((g: any) => g.groupId)
    : [req.groupId];
  const denied = ids.filter((g) => !check("Group", g, "Describe"));
  if (denied.length === 0) return undefined;
  if (req.groups.length > 0) return _refuse(`describe group ${denied[0]}`);
  return {
    response: {
      throttleTimeMs: 0,
      topics: [],
      errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED,
      groups: [],
    },
  };
}

function _findCoordinator(req: any, check: _Check, version: number) {
  const type: ResourceType = req.keyType === 1 ? "TransactionalId" : "Group";
  const keys: string[] = version >= 4 ? req.coordinatorKeys : [req.key];
  const denied = keys.filter((k) => !check(type, k, "Describe"));
  if (denied.length === 0) return undefined;
  const errorCode = type === "Group"
    ? ErrorCode.GROUP_AUTHORIZATION_FAILED
    : ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
  if (version < 4) {
    return {
      response: {
        throttleTimeMs: 0,
        errorCode,
        errorMessage: "Not authorized",
        nodeId: -1,
        host: "",
        port: -1,
        coordinators: [],
      },
    };
  }
  return _refuse(`describe ${type} ${denied[0]}`);
}

function _listGroups(req: any, check: _Check): MiddlewareOutcome {
  return {
    request: req,
    finish: (res: any) => ({
      ...res,
      groups: res.groups.filter((g: any) => check("Group", g.groupId, "Describe")),
    }),
  };
}

/** A rule that checks every (type, name, operation) and closes the connection on a refusal. */
function _all(list: (req: any) => [ResourceType, string, AclOperation][]): _Rule {
  return (req, check) => {
    for (const [type, name, op] of list(req)) {
      if (!check(type, name, op)) return _refuse(`${op} ${type} ${name}`);
    }
    return undefined;
  };
}

const _cluster = (op: AclOperation) => (): [ResourceType, string, AclOperation][] => [
  ["Cluster", CLUSTER_RESOURCE, op],
];

const _RULES = new Map<number, _Rule>([
  [ApiKey.Produce, (req, check) => transactionalProduceRefusal(req, check) ?? _produce(req, check)],
  [ApiKey.Fetch, _fetch],
  [ApiKey.ListOffsets, _listOffsets],
  [ApiKey.Metadata, _metadata],
  [ApiKey.CreateTopics, _createTopics],
  [ApiKey.DeleteTopics, _deleteTopics],
  [ApiKey.OffsetCommit, _offsetCommit],
  [ApiKey.OffsetFetch, _offsetFetch],
  [ApiKey.FindCoordinator, _findCoordinator],
  [ApiKey.JoinGroup, _groupRead(createJoinGroupResponse)],
  [ApiKey.SyncGroup, _groupRead(createSyncGroupResponse)],
  [ApiKey.Heartbeat, _groupRead(createHeartbeatResponse)],
  [ApiKey.LeaveGroup, _groupRead(createLeaveGroupResponse)],
  [ApiKey.ListGroups, _listGroups],
  [ApiKey.DescribeGroups, describeGroupsRule],
  [ApiKey.DeleteGroups, deleteGroupsRule],
  [ApiKey.DeleteRecords, deleteRecordsRule],
  [ApiKey.CreatePartitions, createPartitionsRule],
  [ApiKey.OffsetForLeaderEpoch, _all(_cluster("ClusterAction"))],
  [ApiKey.WriteTxnMarkers, _all(_cluster("ClusterAction"))],
  [
    ApiKey.InitProducerId,
    (req, check, _v, checkAny) => initProducerIdRule(req, check, checkAny, CLUSTER_RESOURCE),
  ],
  [ApiKey.AddPartitionsToTxn, addPartitionsToTxnRule],
  [ApiKey.AddOffsetsToTxn, addOffsetsToTxnRule],
  [ApiKey.EndTxn, endTxnRule],
  [ApiKey.TxnOffsetCommit, txnOffsetCommitRule],
  [ApiKey.DescribeTransactions, describeTransactionsRule],
  [ApiKey.ListTransactions, listTransactionsRule],
  [ApiKey.DescribeConfigs, configsRule("DescribeConfigs", CLUSTER_RESOURCE)],
  [ApiKey.AlterConfigs, configsRule("AlterConfigs", CLUSTER_RESOURCE)],
  [ApiKey.IncrementalAlterConfigs, configsRule("AlterConfigs", CLUSTER_RESOURCE)],
  [ApiKey.DescribeAcls, clusterAdminRule("DescribeAcls", "Describe", CLUSTER_RESOURCE)],
  [ApiKey.CreateAcls, clusterAdminRule("CreateAcls", "Alter", CLUSTER_RESOURCE)],
  [ApiKey.DeleteAcls, clusterAdminRule("DeleteAcls", "Alter", CLUSTER_RESOURCE)],
  [
    ApiKey.DescribeUserScramCredentials,
    clusterAdminRule("DescribeUserScramCredentials", "Describe", CLUSTER_RESOURCE),
  ],
  [
    ApiKey.AlterUserScramCredentials,
    clusterAdminRule("AlterUserScramCredentials", "Alter", CLUSTER_RESOURCE),
  ],
]);
