/**
 * Coordinator failover: a group commits offsets through its coordinator in a 3-broker cluster,
 * the coordinator broker is SIGKILLed, and the leader of the offsets partition moves to a
 * replica. The new coordinator serves the same committed offsets, and the group re-forms and
 * resumes from them.
 */

import assert from "node:assert/strict";
import { Cluster, waitFor } from "./support/cluster_harness.ts";
import { RustMqClient } from "../mod.ts";
import { offsetsPartitionFor } from "../broker/group/offset_record.ts";

const GROUP = "failover-group";
const TOPIC = "gf";

async function client(bootstrap: string[]): Promise<RustMqClient> {
  return await RustMqClient.connect({
    brokers: bootstrap.map((b) => `tcp://${b}`),
    requestTimeoutMs: 5000,
    connectTimeoutMs: 3000,
  });
}

Deno.test({
  name: "a group's committed offsets survive SIGKILL of its coordinator broker",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using cluster = await Cluster.start({ brokers: 3, brokerLeaseMs: 2000 });
    await cluster.createTopic(TOPIC, 3, 3);
    const c1 = await client(cluster.bootstrap());
    const producer = c1.producer({ ackLevel: "All" });
    for (let i = 0; i < 30; i++) {
      await producer.send({ topic: TOPIC, partition: i % 3, value: `v${i}` });
    }

    const consumer = c1.consumer({
      groupId: GROUP,
      autoOffsetReset: "earliest",
      autoCommit: false,
      sessionTimeoutMs: 6000,
    });
    consumer.subscribe([TOPIC]);
    let seen = 0;
    await waitFor("the first consumer to read 15 records", 30_000, async () => {
      seen += (await consumer.poll({ timeoutMs: 500, maxRecords: 15 - seen })).length;
      return seen >= 15 ? true : undefined;
    });
    await consumer.commitOffsets();
    const before = (await c1.admin().fetchOffsets(GROUP, [TOPIC]))
      .map((o) => `${o.partition}:${o.offset}`).sort();
    await consumer.close();
    await c1.close();
    assert.ok(before.some((o) => !o.endsWith(":0") && !o.endsWith(":-1")), `committed: ${before}`);

    // The coordinator is the leader of the group's partition of __consumer_offsets.
    const offsetsPartition = offsetsPartitionFor(GROUP, 50);
    const leaderOf = async () =>
      ((await cluster.topic("__consumer_offsets")).partition_details as {
        leader: number;
        isr: number[];
      }[])[offsetsPartition]!;
    // Let the followers learn the high watermark that covers the commit before the failure.
    await waitFor(
      "the offsets partition to be fully replicated",
      20_000,
      async () => (await leaderOf()).isr.length === 3 || undefined,
    );
    await new Promise((r) => setTimeout(r, 1500));
    const coordinator = (await leaderOf()).leader;
    await cluster.brokers.find((b) => b.id === coordinator)!.kill();
    await waitFor("a new coordinator", 20_000, async () => {
      const s = await leaderOf();
      return s.leader >= 0 && s.leader !== coordinator ? true : undefined;
    });

    const c2 = await client(cluster.bootstrap());
    try {
      const after = await waitFor("the new coordinator to serve the offsets", 20_000, async () => {
        const o = (await c2.admin().fetchOffsets(GROUP, [TOPIC]))
          .map((x) => `${x.partition}:${x.offset}`).sort();
        return JSON.stringify(o) === JSON.stringify(before) ? o : undefined;
      });
      assert.deepEqual(after, before);
      // The group re-forms on the new coordinator and resumes after the committed offsets.
      const again = c2.consumer({
        groupId: GROUP,
        autoOffsetReset: "earliest",
        sessionTimeoutMs: 6000,
      });
      again.subscribe([TOPIC]);
      const rest: string[] = [];
      await waitFor("the re-formed group to read the other 15 records", 30_000, async () => {
        for (const r of await again.poll({ timeoutMs: 500 })) {
          rest.push(new TextDecoder().decode(r.value!));
        }
        return rest.length >= 15 ? true : undefined;
      });
      assert.equal(rest.length, 15, `no record below a committed offset is read again: ${rest}`);
      await again.close();
    } finally {
      await c2.close();
    }
  },
});
