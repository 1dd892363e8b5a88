/**
 * Scale out in a real cluster: three brokers (separate processes, one controller to keep CI
 * light) hold a topic of 6 partitions with RF=3, so 6 replicas and 2 leaderships each. A 4th
 * broker joins and holds nothing; `rustmq admin rebalance --wait` (BALANCE_PARTITIONS) then
 * gives it its share while a producer writes at acks=all. The stated bound: every broker ends
 * within one replica and one leadership of the mean (18 replicas over 4 brokers: 4 or 5 each;
 * 6 leaderships: 1 or 2 each), the new broker's replicas are in sync, no produce fails and no
 * acknowledged write is lost.
 */

import assert from "node:assert/strict";
import { Cluster, getJson, waitFor } from "./support/cluster_harness.ts";
import { AckedLoad, consumeAll, lostAcks } from "./support/acked_load.ts";

const TOPIC = "growing";
const PARTITIONS = 6;
const MAIN = new URL("../main.ts", import.meta.url).pathname;

interface Part {
  leader: number;
  replicas: number[];
  isr: number[];
}

interface BrokerRow {
  node_id: number;
  replicas: number;
  leaders: number;
}

Deno.test({
  name: "a 4th broker gets its share of replicas and leaders from rebalance under acks=all load",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using cluster = await Cluster.start({
      brokers: 3,
      controllers: 1,
      controllerConfig: ["[scaling]", "traffic_migration_rate = 0"],
      brokerConfig: { wal: ["upload_interval_ms = 300"] },
    });
    await cluster.createTopic(TOPIC, PARTITIONS, 3, { "min.insync.replicas": "2" });
    const parts = async () => (await cluster.topic(TOPIC)).partition_details as Part[];
    const whole = async () =>
      (await parts()).every((p) => p.isr.length === p.replicas.length) || undefined;
    await waitFor("full ISRs", 20_000, whole);
    const load = AckedLoad.start(cluster.bootstrap(), TOPIC, { partitions: PARTITIONS });
    const added = await cluster.addBroker();
    const url = await cluster.adminUrl();
    const brokers = async () =>
      ((await getJson(`${url}/api/v1/brokers`)) as { brokers: BrokerRow[] }).brokers;
    await waitFor(
      "the 4th broker registered",
      20_000,
      async () => (await brokers()).some((b) => b.node_id === added.id) || undefined,
    );
    assert.equal((await brokers()).find((b) => b.node_id === added.id)!.replicas, 0);
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = performance.now();
    const cli = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "admin", "--controller", url, "rebalance", "--wait"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const rebalanceMs = performance.now() - t0;
    const out = new TextDecoder().decode(cli.stdout);
    assert.equal(cli.code, 0, out + new TextDecoder().decode(cli.stderr));
    await waitFor("full ISRs after the moves", 20_000, whole);
    const result = await load.stop();
    const rows = await brokers();
    console.log(
      `rebalance took ${Math.round(rebalanceMs)} ms; ` +
        rows.map((b) => `broker ${b.node_id}: ${b.replicas} replicas, ${b.leaders} leaders`)
          .join("; ") +
        `; ${result.acks.length} acked, ${result.failures.length} failed`,
    );
    assert.equal(rows.length, 4);
    for (const b of rows) {
      assert.ok(
        b.replicas === 4 || b.replicas === 5,
        `broker ${b.node_id}: ${b.replicas} replicas`,
      );
      assert.ok(b.leaders === 1 || b.leaders === 2, `broker ${b.node_id}: ${b.leaders} leaders`);
    }
    assert.ok(result.acks.length > 50, `too few acknowledged writes: ${result.acks.length}`);
    assert.deepEqual(result.failures.slice(0, 5), [], "no produce failed");
    const lost = lostAcks(result.acks, await consumeAll(cluster.bootstrap(), TOPIC, PARTITIONS));
    assert.deepEqual(lost.slice(0, 10), [], `${lost.length} acknowledged write(s) lost`);
  },
});
