/**
 * The auto-balancer with real processes: three brokers report their load in heartbeats; a
 * producer writes only to the two partitions one broker leads, and the controller leader's
 * auto-balancer sees the skew, starts a BALANCE_LOAD job and moves one of them away, with its
 * reason in GET /api/v1/autobalancer.
 */

import assert from "node:assert/strict";
import { Cluster, getJson, waitFor } from "./support/cluster_harness.ts";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { produceValues } from "./support/raw_ops.ts";

const TOPIC = "hot";

interface _Partition {
  partition: number;
  leader: number;
  replicas: number[];
}

Deno.test({
  name: "auto-balancer moves a hot partition off a broker whose records-in are skewed",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using cluster = await Cluster.start({
      brokers: 3,
      controllers: 1,
      controllerConfig: ["[autobalancer]", "enabled = true", "cooldown_seconds = 600"],
    });
    await cluster.createTopic(TOPIC, 6, 1);
    const parts = async () => (await cluster.topic(TOPIC)).partition_details as _Partition[];
    const placed = await waitFor("every partition led", 20_000, async () => {
      const ps = await parts();
      return ps.every((p) => p.leader > 0) ? ps : undefined;
    });
    // Every broker reports, and nothing is skewed yet.
    const url = `${await cluster.adminUrl()}/api/v1/autobalancer`;
    await waitFor("three load reports", 20_000, async () => {
      const v = await getJson(url) as { brokers: unknown[] };
      return v.brokers.length === 3 ? true : undefined;
    });
    const hotBroker = placed[0]!.leader;
    const hot = placed.filter((p) => p.leader === hotBroker).map((p) => p.partition);
    assert.ok(hot.length >= 2, `broker ${hotBroker} leads ${hot}: the placement spreads 2 each`);
    const leader = cluster.brokers.find((b) => b.id === hotBroker)!;
    const values = Array.from({ length: 50 }, (_, i) => `v${i}`);
    let stop = false;
    let acked = 0;
    const load = (async () => {
      await using c = await RawKafkaClient.connect(leader.kafkaPort);
      while (!stop) {
        for (const p of hot) {
          const r = await produceValues(c, TOPIC, p, values);
          if (r.errorCode === 0) acked += values.length;
          // Unknown topic (3) or leadership (6) not heard of yet, or moving: nothing appended.
          else if (r.errorCode !== 3 && r.errorCode !== 6) {
            throw new Error(`produce failed with ${r.errorCode}`);
          }
        }
      }
    })();
    try {
      const decision = await waitFor("an auto-balancer decision", 30_000, async () => {
        const v = await getJson(url) as {
          decisions: { action: string; strategy: string; reason: string }[];
        };
        return v.decisions.find((d) => d.action === "started");
      });
      assert.equal(decision.strategy, "BALANCE_LOAD");
      assert.match(decision.reason, new RegExp(`broker ${hotBroker} carries \\d+ records/s`));
      // The job moves one hot partition to another broker.
      const moved = await waitFor("a hot partition moved", 30_000, async () => {
        const ps = await parts();
        const now = ps.filter((p) => hot.includes(p.partition));
        const away = now.find((p) => !p.replicas.includes(hotBroker) && p.leader > 0);
        return away;
      });
      assert.notEqual(moved.leader, hotBroker);
      assert.ok(acked > 0);
    } finally {
      stop = true;
      await load.catch(() => {});
    }
  },
});
