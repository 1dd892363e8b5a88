import assert from "node:assert/strict";
import { ManualClock } from "../../ops/clock.ts";
import { silentLogger } from "../../ops/logger.ts";
import { buildBatch, readBatchHeader } from "../../protocol/record/record_batch.ts";
import type { HostedPartition } from "../hosted_partition.ts";
import { markerBatch } from "./txn_marker.ts";
import { type TailedLog, TxnIndexTailer } from "./txn_index_tailer.ts";

/** A partition log in memory: batches by offset, with a high watermark set by the test. */
class _Log implements TailedLog {
  readonly batches: Uint8Array[] = [];
  readonly log = { logStartOffset: 0, logEndOffset: 0, highWatermark: 0 };
  readonly hosted = {
    key: "t/0",
    topic: "t",
    partition: 0,
    log: this.log,
  } as unknown as HostedPartition;
  reads = 0;
  failNext = false;

  async append(kind: "plain" | "txn" | "commit" | "abort", producerId: number): Promise<void> {
    const baseOffset = this.log.logEndOffset;
    const b = kind === "commit" || kind === "abort"
      ? await markerBatch({
        producerId,
        producerEpoch: 0,
        commit: kind === "commit",
        coordinatorEpoch: 0,
      }, 1)
      : await buildBatch([{ value: new Uint8Array([1]), timestamp: 1 }], {
        baseOffset,
        producerId,
        producerEpoch: 0,
        baseSequence: 0,
        transactional: kind === "txn",
      });
    new DataView(b.buffer, b.byteOffset).setBigInt64(0, BigInt(baseOffset));
    this.batches.push(b);
    this.log.logEndOffset = readBatchHeader(b).lastOffset + 1;
  }

  get(topic: string, partition: number): HostedPartition | undefined {
    return topic === "t" && partition === 0 ? this.hosted : undefined;
  }

  *partitions(): IterableIterator<HostedPartition> {
    yield this.hosted;
  }

  readCommitted(_p: HostedPartition, offset: number, _maxBytes: number) {
    this.reads++;
    if (this.failNext) {
      this.failNext = false;
      return Promise.resolve(null);
    }
    // One batch per read, to exercise the loop.
    const b = this.batches.find((x) => readBatchHeader(x).lastOffset >= offset);
    if (b === undefined || readBatchHeader(b).baseOffset >= this.log.highWatermark) {
      return Promise.resolve({ batches: [], nextOffset: offset });
    }
    return Promise.resolve({ batches: [b], nextOffset: readBatchHeader(b).lastOffset + 1 });
  }
}

async function _settle(t: TxnIndexTailer): Promise<void> {
  // Reads are promise chains: let them run out.
  for (let i = 0; i < 50; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
  t.readTo("t", 0);
  for (let i = 0; i < 50; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
}

function _tailer(log: _Log, clock = new ManualClock()) {
  const moved: string[] = [];
  const t = new TxnIndexTailer({
    log,
    logger: silentLogger,
    clock,
    moved: (k) => moved.push(k),
  });
  return { t, moved, clock };
}

Deno.test("TxnIndexTailer derives the LSO and aborted ranges from the log's batches", async () => {
  const log = new _Log();
  await log.append("plain", 1); // 0
  await log.append("txn", 7); // 1: producer 7 opens
  await log.append("txn", 8); // 2: producer 8 opens
  await log.append("txn", 7); // 3
  await log.append("abort", 7); // 4: 7 aborted over [1, 4]
  log.log.highWatermark = log.log.logEndOffset;
  const { t, moved } = _tailer(log);
  // Nothing read yet: the LSO is held at the log start, which is always safe.
  assert.equal(t.lastStableOffset("t", 0, 5), 0);
  await _settle(t);
  assert.equal(t.readTo("t", 0), 5);
  assert.equal(t.lastStableOffset("t", 0, 5), 2, "producer 8 is still open at 2");
  assert.deepEqual(t.abortedIn("t", 0, 0, 5), [{ producerId: 7, firstOffset: 1, lastOffset: 4 }]);
  assert.deepEqual(moved, ["t/0"]);

  await log.append("commit", 8); // 5
  log.log.highWatermark = log.log.logEndOffset;
  t.notify("t/0");
  await _settle(t);
  assert.equal(t.lastStableOffset("t", 0, 6), 6);
  assert.equal(t.abortedIn("t", 0, 0, 6).length, 1, "a commit leaves no aborted range");
  assert.equal(t.abortedIn("t", 0, 5, 6).length, 0, "ranges below the fetch are not returned");
});

Deno.test("TxnIndexTailer reads only below the high watermark", async () => {
  const log = new _Log();
  await log.append("txn", 7); // 0
  await log.append("abort", 7); // 1, not committed yet
  log.log.highWatermark = 1;
  const { t } = _tailer(log);
  await _settle(t);
  assert.equal(t.readTo("t", 0), 1);
  assert.equal(t.lastStableOffset("t", 0, 1), 0);
  assert.deepEqual(t.abortedIn("t", 0, 0, 1), []);
  log.log.highWatermark = 2;
  t.notify("t/0");
  await _settle(t);
  assert.deepEqual(t.abortedIn("t", 0, 0, 2), [{ producerId: 7, firstOffset: 0, lastOffset: 1 }]);
});

Deno.test("TxnIndexTailer retries a failed read on its clock", async () => {
  const log = new _Log();
  await log.append("txn", 7);
  log.log.highWatermark = 1;
  const { t, clock } = _tailer(log);
  log.failNext = true;
  assert.equal(t.readTo("t", 0), 0);
  await _settle(t);
  assert.equal(t.readTo("t", 0), 0, "held until the retry");
  clock.advance(200);
  await _settle(t);
  assert.equal(t.readTo("t", 0), 1);
  assert.equal(t.lastStableOffset("t", 0, 1), 0);

  t.close();
});

Deno.test("TxnIndexTailer.settle waits for the read to reach the high watermark, or times out", async () => {
  const log = new _Log();
  await log.append("plain", 1); // 0
  await log.append("plain", 1); // 1
  log.log.highWatermark = 2;
  const { t, clock } = _tailer(log);
  // Before any read the LSO is held at the log start; settle reads up to the high watermark.
  assert.equal(t.lastStableOffset("t", 0, 2), 0);
  assert.equal(await t.settle("t", 0, 2, 1_000), true);
  assert.equal(t.lastStableOffset("t", 0, 2), 2);

  // A read that cannot progress: settle answers false once its timeout passes on the clock.
  await log.append("plain", 1); // 2
  log.log.highWatermark = 3;
  log.failNext = true;
  let answer: boolean | undefined;
  const waiting = t.settle("t", 0, 3, 50).then((ok) => (answer = ok));
  await _settle(t);
  assert.equal(answer, undefined, "still waiting before the timeout");
  clock.advance(50);
  await waiting;
  assert.equal(answer, false);
  // A partition not hosted here has nothing to wait for.
  assert.equal(await t.settle("other", 0, 10, 1_000), true);
  t.close();
});
