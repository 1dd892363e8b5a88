/**
 * GroupService over a real partition manager, with virtual time: commits land in
 * `__consumer_offsets`, a second service rebuilds them by reading the topic, and offsets of a
 * group that stays Empty past the retention are tombstoned (and stay gone after a rebuild).
 */

import { ManualClock } from "../ops/clock.ts";
import assert from "node:assert/strict";
import { ErrorCode } from "../protocol/kafka/errors.ts";
import { GroupService, OFFSETS_TOPIC } from "../broker/group/group_service.ts";
import { silentLogger } from "../ops/logger.ts";
import type { Broker } from "../broker/broker.ts";
import { createTestTopic, startGroupTestBroker, waitFor } from "./group_support.ts";

const RETENTION_MS = 60_000;
const CHECK_MS = 10_000;

function _service(b: Broker, timers: ManualClock): Promise<GroupService> {
  return GroupService.start({
    nodeId: 1,
    metadata: b.metadata,
    partitions: b.partitions,
    logger: silentLogger,
    replicationFactor: 1,
    timers,
    newId: () => "x",
  }, {
    offsetsTopicPartitions: 4,
    offsetsRetentionMs: RETENTION_MS,
    offsetsRetentionCheckIntervalMs: CHECK_MS,
  });
}

const _simple = (groupId: string) => ({
  groupId,
  generationId: -1,
  memberId: "",
  groupInstanceId: null,
});

Deno.test({
  name: "GroupService rebuilds offsets from the internal topic and expires those of Empty groups",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using b = await startGroupTestBroker();
    await createTestTopic(b.broker, "t", 3);
    const timers = new ManualClock(1_700_000_000_000);
    const svc = await _service(b.broker, timers);
    const entry = (partition: number, offset: bigint) => ({
      topic: "t",
      partition,
      offset,
      leaderEpoch: -1,
      metadata: null,
    });
    for (let i = 0; i < 50; i++) {
      const out = await svc.commitOffsets(_simple("old"), [entry(i % 3, BigInt(i))]);
      assert.notEqual(typeof out, "number");
    }
    const internal = b.broker.metadata.topic(OFFSETS_TOPIC);
    assert.ok(internal, "the first commit created the topic");
    assert.equal(internal.partitions.length, 4);
    assert.equal(internal.config["cleanup.policy"], "compact");
    assert.equal(internal.config["retention.ms"], -1, "time retention must not drop offsets");

    // A rebuild sees the last commit of every partition.
    const rebuilt = await _service(b.broker, new ManualClock(timers.nowMs() + 5_000));
    const wanted = [{ name: "t", partitions: [0, 1, 2] }];
    assert.deepEqual(rebuilt.offsets.fetch("old", wanted).map((o) => o.offset), [48n, 49n, 47n]);
    assert.equal(rebuilt.coordinator.stateOf("old"), "Empty", "known again as an Empty group");
    assert.equal(
      rebuilt.coordinator.stateSinceMs("old"),
      timers.nowMs(),
      "Empty since its last commit",
    );
    rebuilt.close();

    timers.advance(RETENTION_MS - CHECK_MS);
    await svc.commitOffsets(_simple("recent"), [entry(0, 5n)]);
    timers.advance(CHECK_MS);
    await waitFor(() => !svc.offsets.hasOffsets("old"), 5_000, "the expiry of group old");
    assert.equal(svc.offsets.hasOffsets("recent"), true);
    assert.equal(svc.coordinator.stateOf("old"), undefined, "the group went with its offsets");
    svc.close();

    const after = await _service(b.broker, new ManualClock(timers.nowMs()));
    assert.equal(after.offsets.hasOffsets("old"), false, "tombstones survive a rebuild");
    assert.equal(after.offsets.fetch("recent", [{ name: "t", partitions: [0] }])[0]?.offset, 5n);
    assert.equal(await after.deleteGroup("recent"), ErrorCode.NONE);
    assert.equal(await after.deleteGroup("recent"), ErrorCode.GROUP_ID_NOT_FOUND);
    after.close();
  },
});
