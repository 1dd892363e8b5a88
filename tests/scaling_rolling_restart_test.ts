/**
 * Controlled shutdown and rolling restart in a real cluster: three brokers (one controller, to
 * keep CI light), a topic of 6 partitions with RF=3 and min.insync.replicas=2, and a producer
 * at acks=all throughout. `rustmq admin rolling-restart --exec 'touch DIR/restart-{id}'`
 * restarts every broker in turn: the test plays the operator's tooling, stopping the named
 * broker with SIGTERM and starting it again. Each broker hands its leaderships away before it
 * stops; no produce fails, no acknowledged write is lost, and the longest acknowledgement stays
 * under the broker lease (what a stop without controlled shutdown would cost at least).
 */

import assert from "node:assert/strict";
import { Cluster, waitFor } from "./support/cluster_harness.ts";
import { AckedLoad, consumeAll, lostAcks } from "./support/acked_load.ts";

const TOPIC = "rolling";
const PARTITIONS = 6;
const LEASE_MS = 3000;
/** The load's retry backoff ceiling. */
const RETRY_BACKOFF_MAX_MS = 200;
const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** One restart as the operator saw it: from SIGTERM to the broker being ready again. */
interface Restart {
  id: number;
  from: number;
  to: number;
  /** SIGTERM to exit. */
  stopMs: number;
}

/** Restarts a broker whenever the CLI's command drops a `restart-<id>` file. */
async function playOperator(cluster: Cluster, dir: string, done: () => boolean, log: Restart[]) {
  while (!done()) {
    for await (const e of Deno.readDir(dir)) {
      const m = /^restart-(\d+)$/.exec(e.name);
      if (m === null) continue;
      await Deno.remove(`${dir}/${e.name}`);
      const b = cluster.brokers.find((x) => x.id === Number(m[1]))!;
      const from = performance.now();
      await b.stop(20_000);
      const stopMs = performance.now() - from;
      await b.start();
      log.push({ id: b.id, from, to: performance.now(), stopMs });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The leadership-move time a broker logged in its last controlled shutdown. */
function moveMs(stderr: string): number {
  const lines = stderr.split("\n").filter((l) =>
    l.includes("controlled shutdown: leaderships moved")
  );
  assert.ok(lines.length > 0, "the broker logged its controlled shutdown");
  return (JSON.parse(lines.at(-1)!) as { ms: number }).ms;
}

Deno.test({
  name: "rolling restart of 3 brokers with controlled shutdown fails no acks=all produce",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using cluster = await Cluster.start({
      brokers: 3,
      controllers: 1,
      brokerLeaseMs: LEASE_MS,
    });
    await cluster.createTopic(TOPIC, PARTITIONS, 3, { "min.insync.replicas": "2" });
    await waitFor("full ISRs", 20_000, async () => {
      const t = await cluster.topic(TOPIC);
      return (t.partition_details as { isr: number[] }[]).every((p) => p.isr.length === 3) ||
        undefined;
    });
    const dir = await Deno.makeTempDir({ dir: cluster.root, prefix: "operator-" });
    const load = AckedLoad.start(cluster.bootstrap(), TOPIC, {
      partitions: PARTITIONS,
      retryBackoffMaxMs: RETRY_BACKOFF_MAX_MS,
    });
    await new Promise((r) => setTimeout(r, 1000));
    let cliDone = false;
    const restarts: Restart[] = [];
    const operator = playOperator(cluster, dir, () => cliDone, restarts);
    const cli = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "admin",
        "--controller",
        await cluster.adminUrl(),
        "rolling-restart",
        "--exec",
        `touch ${dir}/restart-{id}`,
        "--velocity",
        "1000",
        "--wait-timeout-ms",
        "60000",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    cliDone = true;
    await operator;
    const result = await load.stop();
    const debugDir = Deno.env.get("SCALING_DEBUG_DIR");
    if (debugDir !== undefined) {
      for (const b of cluster.brokers) {
        await Deno.writeTextFile(`${debugDir}/b${b.id}.log`, b.stderr());
      }
    }
    const out = new TextDecoder().decode(cli.stdout);
    console.log(out);
    assert.equal(cli.code, 0, out + new TextDecoder().decode(cli.stderr));
    for (const id of [1, 2, 3]) assert.match(out, new RegExp(`broker ${id}: back after \\d+ ms`));
    assert.match(out, /rolling restart done/);
    const log = await consumeAll(cluster.bootstrap(), TOPIC, PARTITIONS);
    const lost = lostAcks(result.acks, log);
    // Each broker's pause: the longest wait of a write sent while it was restarting.
    const pauses = restarts.map((r) => {
      const during = result.acks.filter((a) => a.sentAt >= r.from - 50 && a.sentAt <= r.to);
      const move = moveMs(cluster.brokers.find((b) => b.id === r.id)!.stderr());
      return {
        id: r.id,
        move,
        pause: Math.max(0, ...during.map((a) => a.latencyMs)),
        stop: r.stopMs,
      };
    });
    console.log(
      `${result.acks.length} acked, ${result.failures.length} failed; per broker ` +
        pauses.map((p) =>
          `${p.id}: leadership move ${p.move} ms, longest produce ${
            Math.round(p.pause)
          } ms, SIGTERM to exit ${Math.round(p.stop)} ms`
        ).join("; "),
    );
    assert.deepEqual(restarts.map((r) => r.id), [1, 2, 3]);
    assert.ok(result.acks.length > 100, `too few acknowledged writes: ${result.acks.length}`);
    assert.deepEqual(result.failures.slice(0, 5), [], "no produce failed");
    assert.deepEqual(lost.slice(0, 10), [], `${lost.length} acknowledged write(s) lost`);
    for (const p of pauses) {
      // The move itself takes tens of ms; a producer then waits for its next retry and a
      // metadata round (about 0.6-1 s measured here). A stop without controlled shutdown would
      // cost at least the broker lease, so the pause must stay under it.
      assert.ok(p.pause < LEASE_MS, `broker ${p.id}: produce paused ${p.pause} ms`);
    }
  },
});
