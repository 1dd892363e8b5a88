/**
 * A leader that appended data nobody acknowledged is isolated (SIGSTOP) and a new leader is
 * elected from the ISR. When the old leader resumes it truncates its divergent suffix by leader
 * epoch before following, so the unacknowledged record is never served, even once the old
 * leader leads again.
 */

import assert from "node:assert/strict";
import { Cluster, waitFor } from "./support/cluster_harness.ts";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { fetchValues, produceValues } from "./support/raw_ops.ts";

const TOPIC = "diverge";

interface PartitionState {
  leader: number;
  leader_epoch: number;
  isr: number[];
}

async function state(cluster: Cluster): Promise<PartitionState> {
  const t = await cluster.topic(TOPIC);
  return (t.partition_details as PartitionState[])[0]!;
}

async function produceTo(cluster: Cluster, brokerId: number, value: string): Promise<number> {
  const b = cluster.brokers.find((x) => x.id === brokerId)!;
  await using c = await RawKafkaClient.connect(b.kafkaPort);
  const r = await produceValues(c, TOPIC, 0, [value]);
  return r.errorCode;
}

Deno.test({
  name: "an isolated leader's unacknowledged suffix is truncated by epoch and never served",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using cluster = await Cluster.start({
      brokers: 3,
      brokerLeaseMs: 3000,
      brokerConfig: { replication: ["heartbeat_timeout_ms = 20000", "ack_timeout_ms = 30000"] },
    });
    await cluster.createTopic(TOPIC, 1, 3, { "min.insync.replicas": "2" });
    await waitFor(
      "a full ISR",
      20_000,
      async () => (await state(cluster)).isr.length === 3 || undefined,
    );
    const first = await state(cluster);
    const oldLeader = cluster.brokers.find((b) => b.id === first.leader)!;
    const followers = cluster.brokers.filter((b) => b.id !== first.leader);
    // The controller can name the leader (and a full ISR, as Kafka does at creation) a moment
    // before that broker has heard of the partition, which answers UNKNOWN_TOPIC_OR_PARTITION (3)
    // or NOT_LEADER_OR_FOLLOWER (6), nothing appended, and both are retried as Kafka's producer
    // retries them; any other error fails the test.
    const firstWrite = await waitFor("the leader to take the first write", 20_000, async () => {
      const code = await produceTo(cluster, oldLeader.id, "committed-1");
      return code === 3 || code === 6 ? undefined : code;
    });
    assert.equal(firstWrite, 0);

    // The followers stop, so the next append stays on the leader alone: never acknowledged.
    // Their fetches parked at the leader must time out (500 ms) first; otherwise the leader would
    // hand them the new record the moment it arrives, and it would be replicated after all.
    for (const f of followers) f.pause();
    await new Promise((r) => setTimeout(r, 1200));
    const raw = await RawKafkaClient.connect(oldLeader.kafkaPort);
    const unacked = produceValues(raw, TOPIC, 0, ["unacked-suffix"]).catch((err) => err);
    await new Promise((r) => setTimeout(r, 300));
    oldLeader.pause();
    for (const f of followers) f.resume();

    const next = await waitFor("a new leader from the ISR", 20_000, async () => {
      const s = await state(cluster);
      return s.leader >= 0 && s.leader !== oldLeader.id ? s : undefined;
    });
    assert.ok(next.leader_epoch > first.leader_epoch, "the leader epoch was bumped");
    await waitFor(
      "the new leader to take writes",
      20_000,
      async () => (await produceTo(cluster, next.leader, "after-failover")) === 0 || undefined,
    );

    oldLeader.resume();
    const outcome = await unacked;
    raw.close();
    assert.ok(
      outcome instanceof Error || outcome.errorCode !== 0,
      `the isolated leader must not acknowledge the suffix: ${JSON.stringify(outcome)}\n` +
        oldLeader.stderr().split("\n").filter((l) => /follow|lead|isr|ISR|warn|error/.test(l))
          .slice(-15).join("\n"),
    );
    await waitFor("the old leader to rejoin the ISR", 30_000, async () => {
      const s = await state(cluster);
      return s.isr.includes(oldLeader.id) ? true : undefined;
    });
    assert.match(oldLeader.stderr(), /truncated a divergent suffix/);

    // Make the old leader lead again: what it serves must not contain the truncated suffix.
    for (const f of followers) await f.kill();
    await waitFor("the old leader to lead again", 20_000, async () => {
      const s = await state(cluster);
      return s.leader === oldLeader.id ? true : undefined;
    });
    await using c = await RawKafkaClient.connect(oldLeader.kafkaPort);
    const read = await waitFor("a read from the old leader", 10_000, async () => {
      const r = await fetchValues(c, TOPIC, 0);
      return r.errorCode === 0 && r.values.length >= 2 ? r : undefined;
    });
    assert.deepEqual(read.values, ["committed-1", "after-failover"]);
  },
});
