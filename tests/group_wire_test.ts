/**
 * The group APIs at the newest versions RustMQ advertises (the shapes the Java client uses:
 * batched FindCoordinator v4, JoinGroup v9, OffsetCommit/OffsetFetch v8, LeaveGroup v5) and at
 * v0, sent as exact frames to an in-process broker. kafkajs and kcat cover the middle versions.
 */

import assert from "node:assert/strict";
import { ApiKey } from "../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../protocol/kafka/errors.ts";
import * as m from "../protocol/kafka/messages/mod.ts";
import type { Reader, Writer } from "../protocol/kafka/wire.ts";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { createTestTopic, startGroupTestBroker } from "./group_support.ts";

const enc = new TextEncoder();

function _call<Req, Res>(
  c: RawKafkaClient,
  apiKey: number,
  v: number,
  encode: (w: Writer, req: Req, v: number) => void,
  req: Req,
  decode: (r: Reader, v: number) => Res,
): Promise<Res> {
  return c.request(apiKey, v, (w) => encode(w, req, v), decode);
}

function _join(c: RawKafkaClient, v: number, memberId: string, instance: string | null = null) {
  return _call(c, ApiKey.JoinGroup, v, m.encodeJoinGroupRequest, {
    ...m.createJoinGroupRequest(),
    groupId: "w1",
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 10_000,
    memberId,
    groupInstanceId: instance,
    protocolType: "consumer",
    protocols: [{ name: "range", metadata: enc.encode("sub") }],
    reason: v >= 8 ? "test" : null,
  }, m.decodeJoinGroupResponse);
}

Deno.test({
  name:
    "group APIs at their newest advertised versions: join, sync, commit, fetch, describe, leave",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using b = await startGroupTestBroker();
    await createTestTopic(b.broker, "wt", 2);
    await using c = await RawKafkaClient.connect(b.broker.addrs.kafka.port);

    const found = await _call(c, ApiKey.FindCoordinator, 4, m.encodeFindCoordinatorRequest, {
      ...m.createFindCoordinatorRequest(),
      coordinatorKeys: ["w1", ""],
    }, m.decodeFindCoordinatorResponse);
    assert.equal(found.coordinators[0]?.errorCode, ErrorCode.NONE);
    assert.equal(found.coordinators[0]?.port, b.broker.addrs.kafka.port);
    assert.equal(found.coordinators[1]?.errorCode, ErrorCode.INVALID_GROUP_ID);
    assert.ok(b.broker.metadata.topic("__consumer_offsets"), "created on first use");

    const first = await _join(c, 9, "");
    assert.equal(first.errorCode, ErrorCode.MEMBER_ID_REQUIRED);
    const joined = await _join(c, 9, first.memberId, "inst-1");
    assert.equal(joined.errorCode, ErrorCode.NONE, "a known pending id joins");
    assert.equal(joined.protocolType, "consumer");
    assert.equal(joined.protocolName, "range");
    assert.equal(joined.leader, joined.memberId);
    assert.equal(joined.members[0]?.groupInstanceId, "inst-1");
    const gen = joined.generationId;

    const synced = await _call(c, ApiKey.SyncGroup, 5, m.encodeSyncGroupRequest, {
      ...m.createSyncGroupRequest(),
      groupId: "w1",
      generationId: gen,
      memberId: joined.memberId,
      groupInstanceId: "inst-1",
      protocolType: "consumer",
      protocolName: "range",
      assignments: [{ memberId: joined.memberId, assignment: enc.encode("all") }],
    }, m.decodeSyncGroupResponse);
    assert.equal(synced.errorCode, ErrorCode.NONE);
    assert.equal(new TextDecoder().decode(synced.assignment), "all");
    assert.equal(synced.protocolName, "range");

    const hb = await _call(c, ApiKey.Heartbeat, 4, m.encodeHeartbeatRequest, {
      groupId: "w1",
      generationId: gen,
      memberId: joined.memberId,
      groupInstanceId: "inst-1",
    }, m.decodeHeartbeatResponse);
    assert.equal(hb.errorCode, ErrorCode.NONE);

    const commit = await _call(c, ApiKey.OffsetCommit, 8, m.encodeOffsetCommitRequest, {
      ...m.createOffsetCommitRequest(),
      groupId: "w1",
      generationIdOrMemberEpoch: gen,
      memberId: joined.memberId,
      groupInstanceId: "inst-1",
      topics: [
        {
          name: "wt",
          partitions: [{
            ...m.createOffsetCommitRequestPartition(),
            partitionIndex: 1,
            committedOffset: 77n,
            committedLeaderEpoch: 3,
            committedMetadata: "md",
          }],
        },
        { name: "nope", partitions: [{ ...m.createOffsetCommitRequestPartition() }] },
      ],
    }, m.decodeOffsetCommitResponse);
    assert.deepEqual(commit.topics.map((t) => t.partitions[0]?.errorCode), [
      ErrorCode.NONE,
      ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    ]);

    const fetched = await _call(c, ApiKey.OffsetFetch, 8, m.encodeOffsetFetchRequest, {
      ...m.createOffsetFetchRequest(),
      groups: [
        { ...m.createOffsetFetchRequestGroup(), groupId: "w1", topics: null },
        {
          ...m.createOffsetFetchRequestGroup(),
          groupId: "none",
          topics: [{ name: "wt", partitionIndexes: [0] }],
        },
      ],
    }, m.decodeOffsetFetchResponse);
    const p1 = fetched.groups[0]?.topics[0]?.partitions[0];
    assert.deepEqual(
      [p1?.partitionIndex, p1?.committedOffset, p1?.committedLeaderEpoch, p1?.metadata],
      [1, 77n, 3, "md"],
    );
    assert.equal(fetched.groups[1]?.topics[0]?.partitions[0]?.committedOffset, -1n);

    const old = await _call(c, ApiKey.OffsetFetch, 1, m.encodeOffsetFetchRequest, {
      ...m.createOffsetFetchRequest(),
      groupId: "w1",
      topics: [{ name: "wt", partitionIndexes: [1] }],
    }, m.decodeOffsetFetchResponse);
    assert.equal(old.topics[0]?.partitions[0]?.committedOffset, 77n);

    const described = await _call(c, ApiKey.DescribeGroups, 5, m.encodeDescribeGroupsRequest, {
      groups: ["w1", "unknown"],
      includeAuthorizedOperations: false,
    }, m.decodeDescribeGroupsResponse);
    const d = described.groups[0]!;
    assert.deepEqual([d.groupState, d.protocolType, d.protocolData], [
      "Stable",
      "consumer",
      "range",
    ]);
    assert.equal(d.members[0]?.groupInstanceId, "inst-1");
    assert.equal(new TextDecoder().decode(d.members[0]?.memberAssignment), "all");
    assert.equal(d.members[0]?.clientId, "raw-test");
    assert.equal(described.groups[1]?.groupState, "Dead");

    const listed = await _call(c, ApiKey.ListGroups, 5, m.encodeListGroupsRequest, {
      statesFilter: ["stable"],
      typesFilter: [],
    }, m.decodeListGroupsResponse);
    assert.deepEqual(listed.groups.map((g) => [g.groupId, g.groupState, g.groupType]), [
      ["w1", "Stable", "classic"],
    ]);

    const del = (v: number) =>
      _call(c, ApiKey.DeleteGroups, v, m.encodeDeleteGroupsRequest, {
        groupsNames: ["w1", "never-existed"],
      }, m.decodeDeleteGroupsResponse);
    assert.deepEqual((await del(2)).results.map((r) => r.errorCode), [
      ErrorCode.NON_EMPTY_GROUP,
      ErrorCode.GROUP_ID_NOT_FOUND,
    ]);

    const left = await _call(c, ApiKey.LeaveGroup, 5, m.encodeLeaveGroupRequest, {
      ...m.createLeaveGroupRequest(),
      groupId: "w1",
      members: [{ memberId: "", groupInstanceId: "inst-1", reason: "done" }],
    }, m.decodeLeaveGroupResponse);
    assert.equal(left.errorCode, ErrorCode.NONE);
    assert.equal(left.members[0]?.errorCode, ErrorCode.NONE);

    assert.equal((await del(2)).results[0]?.errorCode, ErrorCode.NONE);
    const gone = await _call(c, ApiKey.OffsetFetch, 8, m.encodeOffsetFetchRequest, {
      ...m.createOffsetFetchRequest(),
      groups: [{ ...m.createOffsetFetchRequestGroup(), groupId: "w1", topics: null }],
    }, m.decodeOffsetFetchResponse);
    assert.deepEqual(gone.groups[0]?.topics, [], "deleting the group deleted its offsets");
  },
});

Deno.test({
  name: "group APIs at v0: FindCoordinator, JoinGroup without MEMBER_ID_REQUIRED, LeaveGroup",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using b = await startGroupTestBroker();
    await using c = await RawKafkaClient.connect(b.broker.addrs.kafka.port);
    const found = await _call(c, ApiKey.FindCoordinator, 0, m.encodeFindCoordinatorRequest, {
      ...m.createFindCoordinatorRequest(),
      key: "w1",
    }, m.decodeFindCoordinatorResponse);
    assert.deepEqual([found.errorCode, found.port], [ErrorCode.NONE, b.broker.addrs.kafka.port]);
    const joined = await _join(c, 0, "");
    assert.equal(joined.errorCode, ErrorCode.NONE);
    assert.equal(joined.leader, joined.memberId);
    const left = await _call(c, ApiKey.LeaveGroup, 0, m.encodeLeaveGroupRequest, {
      ...m.createLeaveGroupRequest(),
      groupId: "w1",
      memberId: joined.memberId,
    }, m.decodeLeaveGroupResponse);
    assert.equal(left.errorCode, ErrorCode.NONE);
    const again = await _call(c, ApiKey.LeaveGroup, 0, m.encodeLeaveGroupRequest, {
      ...m.createLeaveGroupRequest(),
      groupId: "w1",
      memberId: joined.memberId,
    }, m.decodeLeaveGroupResponse);
    assert.equal(again.errorCode, ErrorCode.UNKNOWN_MEMBER_ID);
  },
});
