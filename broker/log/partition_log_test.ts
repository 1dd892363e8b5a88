import assert from "node:assert/strict";
import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, PartitionLog } from "./partition_log.ts";
import { LogInvariantError } from "./log_errors.ts";
import {
  buildBatch,
  decodeRecords,
  readBatchHeader,
  type RecordInput,
  validateBatch,
} from "../../protocol/record/record_batch.ts";

function records(timestamps: number[]): RecordInput[] {
  return timestamps.map((timestamp, i) => ({ value: new Uint8Array([i]), timestamp }));
}

async function producerBatch(count: number, firstTs = 1000): Promise<Uint8Array> {
  return await buildBatch(records(Array.from({ length: count }, (_, i) => firstTs + i)));
}

Deno.test("PartitionLog.assign hands out gapless offsets and patches batches in place", async () => {
  const log = new PartitionLog({ nowMs: () => 0, leaderEpoch: 4 });
  const sizes = [1, 5, 2, 10];
  let expected = 0;
  for (const n of sizes) {
    const batch = await producerBatch(n);
    const result = log.assign(batch);
    assert.deepEqual(result, {
      baseOffset: expected,
      lastOffset: expected + n - 1,
      logAppendTimeMs: -1,
    });
    const h = validateBatch(batch); // baseOffset and epoch are outside the CRC
    assert.equal(h.baseOffset, expected);
    assert.equal(h.partitionLeaderEpoch, 4);
    assert.equal(h.isLogAppendTime, false);
    expected += n;
  }
  assert.equal(log.logEndOffset, 18);
  assert.equal(log.logStartOffset, 0);
  assert.equal(log.highWatermark, 0);
});

Deno.test("PartitionLog.assign stamps LogAppendTime and re-signs the batch", async () => {
  let now = 5_000;
  const log = new PartitionLog({ nowMs: () => now, timestampType: "LogAppendTime" });
  const batch = await buildBatch(records([1, 2, 3]), { compression: "snappy" });
  assert.deepEqual(log.assign(batch), { baseOffset: 0, lastOffset: 2, logAppendTimeMs: 5_000 });
  const h = validateBatch(batch);
  assert.equal(h.isLogAppendTime, true);
  assert.equal(h.maxTimestamp, 5_000);
  const decoded = await decodeRecords(batch);
  assert.deepEqual(decoded.records.map((r) => r.timestamp), [5_000, 5_000, 5_000]);
  log.setTimestampType("CreateTime");
  now = 9_000;
  const next = await producerBatch(1);
  assert.equal(log.assign(next).logAppendTimeMs, -1);
  assert.equal(readBatchHeader(next).maxTimestamp, 1000);
});

Deno.test("PartitionLog.recover rebuilds the log end offset from WAL entries", async () => {
  const source = new PartitionLog({ nowMs: () => 0 });
  const wal: Uint8Array[] = [];
  for (const n of [3, 1, 4, 1, 5]) {
    const b = await producerBatch(n);
    source.assign(b);
    wal.push(b);
  }
  // Storage says offsets below 4 are uploaded: entries wholly below are skipped.
  const log = new PartitionLog({ nowMs: () => 0, logStartOffset: 0, logEndOffset: 4 });
  const applied = log.recover(wal);
  assert.deepEqual(applied, wal.slice(2));
  assert.equal(log.logEndOffset, 14);
  assert.equal(log.highWatermark, 14);
  // A fresh log recovers everything.
  const all = new PartitionLog({ nowMs: () => 0 });
  assert.equal(all.recover(wal).length, 5);
  assert.equal(all.logEndOffset, 14);
});

Deno.test("PartitionLog.recover asserts on gaps, overlaps and reordering", async () => {
  const source = new PartitionLog({ nowMs: () => 0 });
  const wal: Uint8Array[] = [];
  for (const n of [2, 2, 2]) {
    const b = await producerBatch(n);
    source.assign(b);
    wal.push(b);
  }
  const fresh = () => new PartitionLog({ nowMs: () => 0 });
  assert.throws(() => fresh().recover([wal[0]!, wal[2]!]), LogInvariantError); // gap
  assert.throws(() => fresh().recover([wal[1]!, wal[0]!]), LogInvariantError); // reorder
  assert.throws(() => fresh().recover([wal[0]!, wal[0]!]), LogInvariantError); // duplicate
  assert.throws(() => fresh().recover([wal[1]!]), LogInvariantError); // starts past the LEO
  // Straddles the storage LEO: an entry half uploaded is a bug.
  const straddle = new PartitionLog({ nowMs: () => 0, logEndOffset: 3 });
  assert.throws(() => straddle.recover(wal), LogInvariantError);
  // A gap inside the skipped prefix is caught too.
  const late = new PartitionLog({ nowMs: () => 0, logEndOffset: 6 });
  assert.throws(() => late.recover([wal[0]!, wal[2]!]), LogInvariantError);
});

Deno.test("PartitionLog.appendAssigned accepts only the batch at the log end offset", async () => {
  const log = new PartitionLog({ nowMs: () => 0, logEndOffset: 10 });
  const b = await buildBatch(records([1, 2]), { baseOffset: 10 });
  assert.deepEqual(log.appendAssigned(b), { baseOffset: 10, lastOffset: 11, logAppendTimeMs: -1 });
  assert.throws(() => log.appendAssigned(b), LogInvariantError);
});

Deno.test("PartitionLog keeps the high watermark and log start offset in bounds", async () => {
  const log = new PartitionLog({ nowMs: () => 0 });
  log.assign(await producerBatch(5));
  log.advanceHighWatermark(3);
  assert.equal(log.highWatermark, 3);
  assert.throws(() => log.advanceHighWatermark(2), LogInvariantError);
  assert.throws(() => log.advanceHighWatermark(6), LogInvariantError);
  log.advanceLogStartOffset(3);
  assert.throws(() => log.advanceLogStartOffset(4), RangeError); // past the HW
  assert.throws(() => log.advanceLogStartOffset(2), RangeError); // backwards
  log.setLeaderEpoch(2);
  assert.throws(() => log.setLeaderEpoch(1), RangeError);
  assert.throws(
    () => new PartitionLog({ nowMs: () => 0, logStartOffset: 5, logEndOffset: 4 }),
    RangeError,
  );
  assert.throws(() => new PartitionLog({ nowMs: () => 0, logStartOffset: -1 }), RangeError);
});

Deno.test("PartitionLog.offsetForTimestamp finds the first record at or after the target", async () => {
  const log = new PartitionLog({ nowMs: () => 0 });
  // CreateTime need not be ordered inside a batch; the lookup takes the first matching offset.
  const batches = [
    await buildBatch(records([100, 300, 200])), // offsets 0..2
    await buildBatch(records([400, 350])), // offsets 3..4
  ];
  batches.forEach((b) => log.assign(b));
  assert.deepEqual(await log.offsetForTimestamp(50, batches), { offset: 0, timestamp: 100 });
  assert.deepEqual(await log.offsetForTimestamp(150, batches), { offset: 1, timestamp: 300 });
  assert.deepEqual(await log.offsetForTimestamp(301, batches), { offset: 3, timestamp: 400 });
  assert.deepEqual(await log.offsetForTimestamp(360, batches), { offset: 3, timestamp: 400 });
  assert.equal(await log.offsetForTimestamp(401, batches), null);
  assert.deepEqual(await log.offsetForTimestamp(LATEST_TIMESTAMP, []), {
    offset: 5,
    timestamp: -1,
  });
  assert.deepEqual(await log.offsetForTimestamp(EARLIEST_TIMESTAMP, []), {
    offset: 0,
    timestamp: -1,
  });
  // Records below the log start offset are not returned.
  log.advanceHighWatermark(5);
  log.advanceLogStartOffset(2);
  assert.deepEqual(await log.offsetForTimestamp(150, batches), { offset: 2, timestamp: 200 });
  await assert.rejects(log.offsetForTimestamp(-7, batches), RangeError);
});

Deno.test("PartitionLog.offsetForTimestamp uses the append time of LogAppendTime batches", async () => {
  let now = 1_000;
  const log = new PartitionLog({ nowMs: () => now, timestampType: "LogAppendTime" });
  const a = await producerBatch(3, 1);
  log.assign(a);
  now = 2_000;
  const b = await producerBatch(2, 1);
  log.assign(b);
  assert.deepEqual(await log.offsetForTimestamp(1_500, [a, b]), { offset: 3, timestamp: 2_000 });
  assert.deepEqual(await log.offsetForTimestamp(0, [a, b]), { offset: 0, timestamp: 1_000 });
});

Deno.test("PartitionLog truncateTo cuts a suffix, lowering a follower's high watermark with it", async () => {
  const log = new PartitionLog({ nowMs: () => 0 });
  for (let i = 0; i < 5; i++) log.assign(await producerBatch(2)); // offsets 0-9
  log.advanceHighWatermark(6);
  log.truncateTo(8);
  assert.equal(log.logEndOffset, 8);
  assert.equal(log.highWatermark, 6);
  log.truncateTo(5);
  assert.deepEqual([log.logEndOffset, log.highWatermark], [5, 5]);
  assert.throws(() => log.truncateTo(9), LogInvariantError);
  log.resetTo(100);
  assert.deepEqual([log.logStartOffset, log.logEndOffset, log.highWatermark], [100, 100, 100]);
});
