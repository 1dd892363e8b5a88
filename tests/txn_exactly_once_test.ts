/**
 * Exactly once across a SIGKILL: a consume-transform-produce worker (kafkajs, its own process)
 * commits its output and its input offsets in one transaction per batch. It is killed with
 * SIGKILL part-way, a new instance with the same transactional id fences it (aborting whatever
 * it left open) and resumes from the committed offsets, and a read_committed reader then sees
 * every input transformed exactly once.
 */

import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { createTxnTopic, startTxnTestBroker } from "./txn_support.ts";

const TEST_OPTS = { sanitizeOps: false, sanitizeResources: false };
const INPUTS = 300;

function _spawnWorker(bootstrap: string) {
  const script = new URL("./support/txn_ctp_main.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, bootstrap],
    stdout: "piped",
    stderr: Deno.env.get("CTP_LOG") ? "inherit" : "null",
  }).spawn();
  const state = { next: 0, sent: 0 };
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
        else state.next = Math.max(state.next, e.next);
      }
    }
  })();
  return { child, state, reading };
}

async function _until(
  done: () => boolean,
  timeoutMs: number,
  what: string | (() => string),
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${typeof what === "string" ? what : what()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function _readCommitted(kafka: Kafka, topic: string, count: number): Promise<string[]> {
  const c = kafka.consumer({ groupId: `check-${crypto.randomUUID()}`, maxWaitTimeInMs: 100 });
  await c.connect();
  const got: string[] = [];
  try {
    await c.subscribe({ topic, fromBeginning: true });
    await c.run({
      eachMessage: ({ message }) => Promise.resolve(void got.push(message.value!.toString())),
    });
    await _until(() => got.length >= count, 10_000, `${count} records of ${topic}`);
    // Anything beyond `count` would be a duplicate: give it time to show up.
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await c.disconnect();
  }
  return got;
}

Deno.test(
  "consume-transform-produce with sendOffsets is exactly once across a SIGKILL of the worker",
  TEST_OPTS,
  async () => {
    await using b = await startTxnTestBroker();
    await createTxnTopic(b.broker, "in", 1);
    await createTxnTopic(b.broker, "out", 1);
    const kafka = new Kafka({
      clientId: "eos",
      brokers: [b.bootstrap],
      logLevel: logLevel.NOTHING,
    });
    const plain = kafka.producer();
    await plain.connect();
    // Batches of ten, so the worker's transactions are small and many.
    for (let from = 0; from < INPUTS; from += 10) {
      await plain.send({
        topic: "in",
        messages: Array.from({ length: 10 }, (_, i) => ({ value: `m${from + i}` })),
      });
    }
    await plain.disconnect();

    const first = _spawnWorker(b.bootstrap);
    let killedAt: number;
    try {
      await _until(() => first.state.next >= 60, 15_000, "the first worker to commit");
      // Killed while a transaction is open: its output is written but not committed.
      const sent = first.state.sent;
      await _until(() => first.state.sent > sent, 5_000, "the next transaction's output");
      killedAt = first.state.next;
      assert.ok(killedAt < INPUTS, `the kill came before the end (at ${killedAt})`);
    } finally {
      first.child.kill("SIGKILL");
      await first.child.status;
      await first.reading.catch(() => {});
    }
    const txns = b.broker.txns!;
    const epochBefore = txns.coordinator.get("ctp-worker")!.producerEpoch;

    const second = _spawnWorker(b.bootstrap);
    try {
      await _until(
        () => second.state.next >= INPUTS,
        20_000,
        () =>
          `the second worker to finish (it reached ${second.state.next}; the first ${killedAt}; ` +
          `transaction ${JSON.stringify(txns.coordinator.get("ctp-worker")?.state)})`,
      );
    } finally {
      second.child.kill("SIGKILL");
      await second.child.status;
      await second.reading.catch(() => {});
    }
    assert.ok(
      txns.coordinator.get("ctp-worker")!.producerEpoch > epochBefore,
      "the new instance fenced the killed one",
    );
    // The killed worker's open transaction was aborted, not committed or lost.
    const hw = b.broker.partitions.get("out", 0)!.log.highWatermark;
    assert.ok(txns.abortedIn("out", 0, 0, hw).length >= 1, "the open transaction was aborted");
    const out = await _readCommitted(kafka, "out", INPUTS);
    const expected = Array.from({ length: INPUTS }, (_, i) => `out:m${i}`);
    assert.equal(out.length, INPUTS, `exactly ${INPUTS} outputs (killed after ${killedAt})`);
    assert.deepEqual([...out].sort(), [...expected].sort());
  },
);
