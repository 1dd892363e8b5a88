import assert from "node:assert/strict";
import { FileStorage } from "./raft/mod.ts";
import type { MetadataCommand } from "./metadata/commands.ts";
import { openTestNode, registerBrokers } from "./_test_node.ts";

Deno.test("ControllerNode restarts from its snapshot and log with nothing lost", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rustmq-node-" });
  try {
    let node = await openTestNode({ storage: await FileStorage.open(dir), snapshotEntries: 5 });
    await registerBrokers(node, 1);
    for (let i = 0; i < 12; i++) {
      await node.execute({
        v: 1,
        op: "create_topic",
        name: `t${i}`,
        partitions: 1,
        replicationFactor: 1,
        configs: {},
        topicId: `id${i}`,
      });
    }
    assert.ok(node.status().snapshotIndex > 0, "the log was compacted");
    const before = node.sm.snapshot();
    const clusterId = node.sm.clusterId;
    await node.close();
    node = await openTestNode({ storage: await FileStorage.open(dir), snapshotEntries: 5 });
    try {
      await node.linearizableRead();
      assert.equal(node.sm.clusterId, clusterId);
      assert.equal(node.sm.topics().length, 12);
      assert.equal(node.sm.snapshot(), before);
    } finally {
      await node.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ControllerNode fences a broker by its injected clock and lifts it on heartbeat", async () => {
  let now = 0;
  const node = await openTestNode({ brokerLeaseMs: 1000, clock: { monotonicMs: () => now } });
  try {
    await registerBrokers(node, 2);
    await node.execute({
      v: 1,
      op: "create_topic",
      name: "t",
      partitions: 2,
      replicationFactor: 2,
      configs: {},
      topicId: "x",
    });
    const settle = () => new Promise((r) => setTimeout(r, 40));
    await settle(); // the leader saw both brokers and granted each a lease from now = 0
    now = 900;
    await node.brokerHeartbeat(1, node.sm.broker(1)!.epoch);
    now = 1500;
    await settle();
    assert.equal(node.sm.broker(1)!.fenced, false, "renewed at 900");
    assert.equal(node.sm.broker(2)!.fenced, true, "silent since 0");
    assert.ok(node.sm.topic("t")!.partitions.every((p) => p.leader === 1 && p.isr.length === 1));
    // The fenced broker heartbeats again with its registration: unfenced, rejoins no ISR by itself.
    await node.brokerHeartbeat(2, node.sm.broker(2)!.epoch);
    assert.equal(node.sm.broker(2)!.fenced, false);
    await assert.rejects(node.brokerHeartbeat(2, 1), { code: "STALE_BROKER_EPOCH" });
    await assert.rejects(node.brokerHeartbeat(9, 1), { code: "BROKER_NOT_REGISTERED" });
  } finally {
    await node.close();
  }
});

Deno.test("ControllerNode refuses malformed commands before they reach the log", async () => {
  const node = await openTestNode();
  try {
    const last = node.status().lastIndex;
    await assert.rejects(node.execute({ v: 1, op: "delete_topic" } as unknown as MetadataCommand), {
      code: "INVALID_REQUEST",
    });
    await assert.rejects(
      node.execute({ v: 2, op: "delete_topic", name: "x" } as unknown as MetadataCommand),
      {
        code: "INVALID_REQUEST",
      },
    );
    assert.equal(node.status().lastIndex, last);
  } finally {
    await node.close();
  }
});
