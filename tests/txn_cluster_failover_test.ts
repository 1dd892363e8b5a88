/**
 * Exactly once across a SIGKILL of the transaction coordinator's broker, in a 3-broker cluster
 * of real processes. A kafkajs consume-transform-produce worker (its own process) reads `in`
 * (3 partitions) and, per batch, writes to `out` (3 partitions) and commits its input offsets
 * with `sendOffsets`, in one transaction. While one of its transactions is open, the broker
 * that leads the worker's `__transaction_state` partition is SIGKILLed. A replica takes the
 * partition over and reloads it, the partitions that broker led move too, and the worker goes
 * on (it is restarted if it gives up, and the new instance fences the old). A read_committed
 * reader then sees every input transformed exactly once.
 */

import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { Cluster, waitFor } from "./support/cluster_harness.ts";
import { offsetsPartitionFor } from "../broker/group/offset_record.ts";
import { readAll } from "./txn_support.ts";

const TEST_OPTS = { sanitizeOps: false, sanitizeResources: false };
const INPUTS = 240;

interface _Worker {
  readonly child: Deno.ChildProcess;
  readonly state: { sent: number; committed: number; exited: boolean };
  readonly reading: Promise<void>;
}

function _spawnWorker(bootstrap: string[]): _Worker {
  const script = new URL("./support/txn_ctp_main.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, bootstrap.join(",")],
    stdout: "piped",
    stderr: Deno.env.get("CTP_LOG") ? "inherit" : "null",
  }).spawn();
  const state = { sent: 0, committed: 0, exited: false };
  child.status.then(() => (state.exited = true));
  const reading = (async () => {
    let buffered = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line.trim() === "") continue;
        const e = JSON.parse(line);
        if (e.event === "sent") state.sent++;
        else state.committed += e.count ?? 0;
      }
    }
  })();
  return { child, state, reading };
}

async function _stop(w: _Worker): Promise<void> {
  try {
    w.child.kill("SIGKILL");
  } catch { /* already gone */ }
  await w.child.status;
  await w.reading.catch(() => {});
}

/** Whether group `ctp` has committed every input (its offsets reached the end of `in`). */
async function _drained(kafka: Kafka): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets("in");
    const [committed] = await admin.fetchOffsets({ groupId: "ctp", topics: ["in"] });
    return ends.every((e) =>
      committed!.partitions.find((c) => c.partition === e.partition)?.offset === e.high
    );
  } finally {
    await admin.disconnect();
  }
}

Deno.test(
  "3-broker cluster: consume-transform-produce is exactly once across a SIGKILL of the coordinator's broker",
  TEST_OPTS,
  async () => {
    await using cluster = await Cluster.start({ brokers: 3, controllers: 1, brokerLeaseMs: 2000 });
    await cluster.createTopic("in", 3, 3);
    await cluster.createTopic("out", 3, 3);
    const kafka = new Kafka({
      clientId: "eos-check",
      brokers: cluster.bootstrap(),
      logLevel: logLevel.NOTHING,
      retry: { initialRetryTime: 100, retries: 12 },
    });
    const plain = kafka.producer();
    await plain.connect();
    for (let from = 0; from < INPUTS; from += 12) {
      await plain.send({
        topic: "in",
        messages: Array.from({ length: 12 }, (_, i) => ({
          partition: (from + i) % 3,
          value: `m${from + i}`,
        })),
      });
    }
    await plain.disconnect();

    let worker = _spawnWorker(cluster.bootstrap());
    const restarts: string[] = [];
    try {
      await waitFor(
        "the worker's first commits",
        30_000,
        () => Promise.resolve(worker.state.committed >= 30 ? true : undefined),
        25,
      );
      const state = (await cluster.topic("__transaction_state")).partition_details as {
        leader: number;
      }[];
      const coordinator = state[offsetsPartitionFor("ctp-worker", state.length)]!.leader;
      // Killed while a transaction is open: its output is written, its commit not yet sent.
      const sent = worker.state.sent;
      await waitFor(
        "the next transaction's output",
        10_000,
        () => Promise.resolve(worker.state.sent > sent ? true : undefined),
        5,
      );
      const committedAtKill = worker.state.committed;
      await cluster.brokers.find((b) => b.id === coordinator)!.kill();
      assert.ok(committedAtKill < INPUTS, `the kill came before the end (${committedAtKill})`);

      // The worker goes on through the failover; if it gives up (exits or stalls), a new
      // instance takes over and fences it, as a supervisor would do.
      let progress = worker.state.committed;
      let lastProgressAt = Date.now();
      await waitFor("every input to be processed", 45_000, async () => {
        if (worker.state.committed !== progress) {
          progress = worker.state.committed;
          lastProgressAt = Date.now();
        }
        if (worker.state.exited || Date.now() - lastProgressAt > 12_000) {
          restarts.push(worker.state.exited ? "exited" : "stalled");
          await _stop(worker);
          worker = _spawnWorker(cluster.bootstrap());
          progress = 0;
          lastProgressAt = Date.now();
        }
        return await _drained(kafka).catch(() => false) ? true : undefined;
      }, 500);
    } finally {
      await _stop(worker);
    }
    const out = await readAll(kafka, "out", INPUTS, false);
    const expected = Array.from({ length: INPUTS }, (_, i) => `out:m${i}`).sort();
    assert.equal(out.length, INPUTS, `exactly ${INPUTS} outputs (worker restarts: ${restarts})`);
    assert.deepEqual([...out].sort(), expected);
  },
);
