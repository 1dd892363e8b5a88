/**
 * Decommission in a real cluster: four brokers (separate processes, one controller to keep CI
 * light), a topic of 6 partitions with RF=3 and min.insync.replicas=2, and a producer at
 * acks=all throughout. `rustmq admin decommission-broker <id> --wait` drains the broker that
 * leads the most partitions; afterwards the broker hosts no replica and no leadership, every
 * acknowledged write is still readable at the offset it was acknowledged at, and the producer
 * kept being acknowledged during the drain.
 */

import assert from "node:assert/strict";
import { Cluster, getJson, waitFor } from "./support/cluster_harness.ts";
import { AckedLoad, consumeAll, lostAcks } from "./support/acked_load.ts";

const TOPIC = "draining";
const PARTITIONS = 6;
const MAIN = new URL("../main.ts", import.meta.url).pathname;

interface Part {
  leader: number;
  replicas: number[];
  isr: number[];
}

Deno.test({
  name: "decommission drains a broker of 4 under acks=all load and loses no acknowledged write",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using cluster = await Cluster.start({
      brokers: 4,
      controllers: 1,
      controllerConfig: ["[scaling]", "traffic_migration_rate = 0"],
      brokerConfig: { wal: ["upload_interval_ms = 300"] },
    });
    await cluster.createTopic(TOPIC, PARTITIONS, 3, { "min.insync.replicas": "2" });
    const parts = async () => (await cluster.topic(TOPIC)).partition_details as Part[];
    await waitFor(
      "full ISRs",
      20_000,
      async () => (await parts()).every((p) => p.isr.length === 3) || undefined,
    );
    const leads = new Map<number, number>();
    for (const p of await parts()) leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1);
    const victim = [...leads].sort((a, b) => b[1] - a[1])[0]![0];

    const load = AckedLoad.start(cluster.bootstrap(), TOPIC, { partitions: PARTITIONS });
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = performance.now();
    const cli = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "admin",
        "--controller",
        await cluster.adminUrl(),
        "decommission-broker",
        String(victim),
        "--wait",
        "--wait-timeout-ms",
        "60000",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const drainMs = performance.now() - t0;
    const out = new TextDecoder().decode(cli.stdout);
    assert.equal(cli.code, 0, out + new TextDecoder().decode(cli.stderr));
    assert.match(out, new RegExp(`broker ${victim}: draining, \\d+ replica\\(s\\)`));
    assert.match(out, new RegExp(`broker ${victim}: decommissioned, 0 replica\\(s\\) and 0`));
    // Keep producing a little after the drain: writes go to the new replica sets.
    await new Promise((r) => setTimeout(r, 1000));
    const result = await load.stop();

    const brokers = (await getJson(`${await cluster.adminUrl()}/api/v1/brokers`))
      .brokers as Record<string, unknown>[];
    const b = brokers.find((x) => x.node_id === victim)!;
    assert.deepEqual([b.state, b.replicas, b.leaders], ["decommissioned", 0, 0]);
    for (const p of await parts()) {
      assert.ok(!p.replicas.includes(victim), `replicas ${p.replicas}`);
      assert.equal(p.replicas.length, 3);
    }
    await waitFor(
      "full ISRs after the drain",
      20_000,
      async () => (await parts()).every((p) => p.isr.length === 3) || undefined,
    );
    // The drained broker may now be stopped without any partition noticing.
    await cluster.brokers.find((x) => x.id === victim)!.stop();
    const log = await consumeAll(cluster.bootstrap(), TOPIC, PARTITIONS);
    const lost = lostAcks(result.acks, log);
    const slowest = Math.max(...result.acks.map((a) => a.latencyMs));
    console.log(
      `drained broker ${victim} (led ${leads.get(victim)}) in ${Math.round(drainMs)} ms; ` +
        `${result.acks.length} acked, ${result.failures.length} failed sends, slowest ack ${
          Math.round(slowest)
        } ms`,
    );
    assert.ok(result.acks.length > 100, `too few acknowledged writes: ${result.acks.length}`);
    assert.deepEqual(lost.slice(0, 10), [], `${lost.length} acknowledged write(s) lost`);
    assert.deepEqual(result.failures.slice(0, 5), [], "no send failed");
  },
});
