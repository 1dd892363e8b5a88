/**
 * Partition reassignment in a real cluster: a partition on brokers [a, b, c] moves to
 * [d, b, c]. The new replica catches up from the leader (skipping what is already in object
 * storage, which it reads itself), joins the ISR, and the old replica leaves; once d leads,
 * every record is still readable from it and writes continue.
 */

import assert from "node:assert/strict";
import { Cluster, waitFor } from "./support/cluster_harness.ts";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { fetchValues, produceValues } from "./support/raw_ops.ts";

const TOPIC = "moving";

interface Part {
  leader: number;
  replicas: number[];
  isr: number[];
}

Deno.test({
  name: "a reassigned partition catches up on its new replica and drops the old one",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using cluster = await Cluster.start({
      brokers: 4,
      brokerConfig: {
        wal: ["upload_interval_ms = 200"],
        object_storage: ["upload_bytes_target = 65536"],
      },
    });
    await cluster.createTopic(TOPIC, 1, 3, { "min.insync.replicas": "2" });
    const part = async () => ((await cluster.topic(TOPIC)).partition_details as Part[])[0]!;
    await waitFor("a full ISR", 20_000, async () => (await part()).isr.length === 3 || undefined);
    const before = await part();
    const port = (id: number) => cluster.brokers.find((b) => b.id === id)!.kafkaPort;
    const sent: string[] = [];
    {
      await using c = await RawKafkaClient.connect(port(before.leader));
      for (let i = 0; i < 50; i++) {
        const batch = Array.from(
          { length: 10 },
          (_, j) => `before-${i * 10 + j}-${"x".repeat(200)}`,
        );
        // The controller can name the leader before that broker has heard of it: retry
        // NOT_LEADER_OR_FOLLOWER (6, nothing appended) on the first batch only.
        const code = await waitFor("the leader to take a write", 20_000, async () => {
          const r = await produceValues(c, TOPIC, 0, batch);
          return i === 0 && r.errorCode === 6 ? undefined : r.errorCode;
        });
        assert.equal(code, 0);
        sent.push(...batch);
      }
    }
    // Let the leader upload, so the new replica's catch-up reads old data from object storage.
    await new Promise((r) => setTimeout(r, 1500));

    const added = [1, 2, 3, 4].find((id) => !before.replicas.includes(id))!;
    const removed = before.replicas[0]!;
    // The new replica first, so that a preferred-leader election makes it the leader.
    const target = [added, ...before.replicas.slice(1)];
    const res = await fetch(
      `${await cluster.adminUrl()}/api/v1/topics/${TOPIC}/partitions/0/reassign`,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ replicas: target }),
      },
    );
    assert.equal(res.status, 200, await res.text());
    const after = await waitFor("the reassignment to complete", 40_000, async () => {
      const p = await part();
      return JSON.stringify(p.replicas) === JSON.stringify(target) && p.isr.length === 3
        ? p
        : undefined;
    });
    assert.ok(!after.isr.includes(removed));
    assert.ok(after.isr.includes(added), "the new replica is in sync");
    const skipped = cluster.brokers.find((b) => b.id === added)!.stderr()
      .includes("follower skipped offsets held in object storage");
    console.log(`new replica ${skipped ? "skipped" : "copied"} the stored offsets`);

    // Its log may hold only what came after the stored end: reads below go to object storage.
    const elect = await fetch(
      `${await cluster.adminUrl()}/api/v1/cluster/preferred-leader-election`,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: TOPIC }),
      },
    );
    assert.equal(elect.status, 200, await elect.text());
    await waitFor("the new replica to lead", 20_000, async () => {
      const p = await part();
      return p.leader === added ? true : undefined;
    });
    {
      await using fromNew = await RawKafkaClient.connect(port(added));
      const all = await waitFor("the new leader to serve reads", 20_000, async () => {
        const r = await fetchValues(fromNew, TOPIC, 0);
        return r.errorCode === 0 ? r : undefined;
      });
      assert.deepEqual(all.values, sent, "every record is readable from the new leader");
    }

    await waitFor("the leader to take writes again", 20_000, async () => {
      await using c = await RawKafkaClient.connect(port(added));
      const r = await produceValues(c, TOPIC, 0, ["after-move"]);
      return r.errorCode === 0 ? true : undefined;
    });
    sent.push("after-move");
    await using c = await RawKafkaClient.connect(port(added));
    const got = await fetchValues(c, TOPIC, 0);
    assert.equal(got.errorCode, 0);
    assert.deepEqual(got.values, sent);
  },
});
