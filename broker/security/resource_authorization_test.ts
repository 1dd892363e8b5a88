// deno-lint-ignore-file no-explicit-any -- the tests read generated response shapes.
import assert from "node:assert/strict";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  clusterAdminRule,
  configsRule,
  deleteRecordsRule,
  describeGroupsRule,
  type ResourceCheck,
} from "./resource_authorization.ts";

const only = (...allowed: string[]): ResourceCheck => (type, name, op) =>
  allowed.includes(`${type}:${name}:${op}`);

Deno.test("DescribeGroups serves the describable groups and answers the rest with code 30", () => {
  const req = { groups: ["a", "b"], includeAuthorizedOperations: false };
  const out = describeGroupsRule(req, only("Group:a:Describe")) as any;
  assert.deepEqual(out.request.groups, ["a"]);
  const res = out.finish({ throttleTimeMs: 0, groups: [{ groupId: "a", errorCode: 0 }] });
  assert.deepEqual(res.groups.map((g: any) => [g.groupId, g.errorCode]), [
    ["a", 0],
    ["b", ErrorCode.GROUP_AUTHORIZATION_FAILED],
  ]);
  // Nothing allowed: answered alone, never passed on as an empty list.
  const none = describeGroupsRule(req, only()) as any;
  assert.equal(none.request, undefined);
  assert.equal(none.response.groups.length, 2);
  assert.equal(describeGroupsRule(req, only("Group:a:Describe", "Group:b:Describe")), undefined);
});

Deno.test("Config and record APIs refuse topics and brokers with their own codes", () => {
  const rule = configsRule("DescribeConfigs", "kafka-cluster");
  const req = {
    resources: [{ resourceType: 2, resourceName: "t" }, { resourceType: 4, resourceName: "1" }],
  };
  const out = rule(req, only()) as any;
  assert.deepEqual(out.response.results.map((r: any) => r.errorCode), [
    ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
  ]);
  const brokerOnly = rule(req, only("Cluster:kafka-cluster:DescribeConfigs")) as any;
  assert.deepEqual(brokerOnly.request.resources.map((r: any) => r.resourceName), ["1"]);
  const records = deleteRecordsRule(
    { topics: [{ name: "t", partitions: [{ partitionIndex: 2, offset: 5n }] }], timeoutMs: 1 },
    only(),
  ) as any;
  assert.deepEqual(records.response.topics[0].partitions, [
    { partitionIndex: 2, lowWatermark: -1n, errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED },
  ]);
});

Deno.test("SCRAM admin refusals name each user once with CLUSTER_AUTHORIZATION_FAILED", () => {
  const rule = clusterAdminRule("AlterUserScramCredentials", "Alter", "kafka-cluster");
  const req = {
    deletions: [{ name: "a", mechanism: 1 }],
    upsertions: [{ name: "a" }, { name: "b" }],
  };
  const out = rule(req, only()) as any;
  assert.deepEqual(out.response.results.map((r: any) => [r.user, r.errorCode]), [
    ["a", ErrorCode.CLUSTER_AUTHORIZATION_FAILED],
    ["b", ErrorCode.CLUSTER_AUTHORIZATION_FAILED],
  ]);
  assert.equal(rule(req, only("Cluster:kafka-cluster:Alter")), undefined);
});
