import assert from "node:assert/strict";
import { LogCache, partitionKey } from "./log_cache.ts";
import { ManualClock } from "../../ops/clock.ts";
import { LogInvariantError, StorageFullError } from "./log_errors.ts";
import { buildBatch, readBatchHeader } from "../../protocol/record/record_batch.ts";

/** A batch of `count` records at `baseOffset`, padded so its size is easy to reason about. */
async function batchAt(baseOffset: number, count = 1, pad = 100): Promise<Uint8Array> {
  const records = Array.from({ length: count }, (_, i) => ({
    value: new Uint8Array(pad),
    timestamp: 1000 + baseOffset + i,
  }));
  return await buildBatch(records, { baseOffset });
}

async function fill(cache: LogCache, key: string, from: number, n: number, count = 1) {
  const batches: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const b = await batchAt(from + i * count, count);
    await cache.append(key, b);
    batches.push(b);
  }
  return batches;
}

/** Settles microtasks so that resolved reservations run their continuations. */
const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("partitionKey joins topic and partition with a slash", () => {
  assert.equal(partitionKey("a.b-c_d", 12), "a.b-c_d/12");
});

Deno.test("LogCache.read returns whole batches from the one containing fromOffset", async () => {
  const cache = new LogCache({
    capacityBytes: 1 << 20,
    waitTimeoutMs: 100,
    clock: new ManualClock(),
  });
  const bs = await fill(cache, "t/0", 10, 5, 3); // offsets 10..24 in batches of 3
  const size = bs[0]!.length;
  const r = cache.read("t/0", 14, size * 2);
  assert.deepEqual(r?.batches, [bs[1], bs[2]]); // 14 is inside the batch 13..15
  assert.equal(r?.sizeBytes, size * 2);
  assert.equal(r?.nextOffset, 19);
  // At least one batch, even when it alone exceeds maxBytes.
  assert.deepEqual(cache.read("t/0", 24, 1)?.batches, [bs[4]]);
  assert.deepEqual(cache.read("t/0", 0 + 10, 1 << 20)?.batches, bs);
  // Past the end: a hit with nothing in it; below the start or unknown partition: a miss.
  assert.deepEqual(cache.read("t/0", 25, 1000), { batches: [], sizeBytes: 0, nextOffset: 25 });
  assert.equal(cache.read("t/0", 9, 1000), null);
  assert.equal(cache.read("t/1", 0, 1000), null);
  assert.equal(cache.firstOffset("t/0"), 10);
  assert.equal(cache.endOffset("t/0"), 25);
  assert.deepEqual([...cache.batches("t/0")], bs);
});

Deno.test("LogCache.release frees only batches wholly below uptoOffset", async () => {
  const cache = new LogCache({
    capacityBytes: 1 << 20,
    waitTimeoutMs: 100,
    clock: new ManualClock(),
  });
  const bs = await fill(cache, "t/0", 0, 4, 2); // 0-1, 2-3, 4-5, 6-7
  const size = bs[0]!.length;
  assert.equal(cache.usedBytes, 4 * size);
  assert.equal(cache.release("t/0", 3), size); // 2-3 straddles 3 and stays
  assert.equal(cache.firstOffset("t/0"), 2);
  assert.equal(cache.read("t/0", 1, 100), null);
  assert.equal(cache.release("t/0", 4), size);
  assert.equal(cache.release("t/0", 4), 0);
  assert.equal(cache.release("t/9", 4), 0);
  assert.equal(cache.usedBytes, 2 * size);
  assert.equal(cache.release("t/0", 100), 2 * size);
  assert.equal(cache.usedBytes, 0);
  assert.equal(cache.firstOffset("t/0"), null);
  assert.equal(cache.endOffset("t/0"), null);
});

Deno.test("LogCache.release compacts its prefix and keeps offsets searchable", async () => {
  const cache = new LogCache({
    capacityBytes: 1 << 24,
    waitTimeoutMs: 100,
    clock: new ManualClock(),
  });
  const b = await batchAt(0, 1, 0);
  const copies: Uint8Array[] = [];
  for (let i = 0; i < 3000; i++) {
    const c = b.slice();
    new DataView(c.buffer).setInt32(4, i); // baseOffset low word
    await cache.append("t/0", c);
    copies.push(c);
  }
  for (let upto = 0; upto <= 3000; upto += 250) {
    cache.release("t/0", upto);
    if (upto < 3000) {
      assert.equal(cache.firstOffset("t/0"), upto);
      assert.equal(cache.read("t/0", upto + 7, 0)?.batches[0], copies[upto + 7]);
    }
  }
  assert.equal(cache.usedBytes, 0);
});

Deno.test("LogCache.appendReserved asserts contiguous offsets", async () => {
  const cache = new LogCache({
    capacityBytes: 1 << 20,
    waitTimeoutMs: 100,
    clock: new ManualClock(),
  });
  await cache.append("t/0", await batchAt(0, 2));
  await assert.rejects(cache.append("t/0", await batchAt(3)), LogInvariantError);
  await assert.rejects(cache.append("t/0", await batchAt(1)), LogInvariantError);
  // Another partition has its own sequence.
  await cache.append("t/1", await batchAt(50));
  // Appending without a reservation is a bug.
  assert.throws(() => cache.appendReserved("t/0", new Uint8Array(100)), LogInvariantError);
});

Deno.test("LogCache.reserve waits for release, in FIFO order", async () => {
  const timer = new ManualClock();
  const one = await batchAt(0);
  const cache = new LogCache({ capacityBytes: one.length * 2, waitTimeoutMs: 1000, clock: timer });
  await fill(cache, "t/0", 0, 2);
  const order: number[] = [];
  const a = cache.append("t/0", await batchAt(2)).then(() => order.push(2));
  const b = cache.append("t/0", await batchAt(3)).then(() => order.push(3));
  await settle();
  assert.deepEqual(order, []);
  assert.equal(cache.waitingCount, 2);
  timer.advance(500);
  cache.release("t/0", 1); // frees one batch: only the first waiter fits
  await settle();
  assert.deepEqual(order, [2]);
  cache.release("t/0", 2);
  await Promise.all([a, b]);
  assert.deepEqual(order, [2, 3]);
  assert.equal(cache.endOffset("t/0"), 4);
  assert.equal(timer.pendingTimers, 0); // granted waiters cancelled their timers
});

Deno.test("LogCache.reserve fails with StorageFullError after waitTimeoutMs", async () => {
  const timer = new ManualClock();
  const cache = new LogCache({
    capacityBytes: 1000,
    waitTimeoutMs: 250,
    clock: timer,
    waitersMax: 2,
  });
  await cache.reserve(900);
  const big = cache.reserve(500);
  const small = cache.reserve(50); // fits now, but queues behind the big one
  await assert.rejects(cache.reserve(1), StorageFullError); // too many waiters
  timer.advance(249);
  assert.equal(cache.waitingCount, 2);
  timer.advance(1);
  // The big reservation expires; the small one then fits and is granted.
  const err = await big.then(() => null, (e) => e);
  assert.ok(err instanceof StorageFullError);
  assert.equal(err.code, "KAFKA_STORAGE_ERROR");
  assert.equal(err.retriable, true);
  await small;
  assert.equal(cache.reservedBytes, 950);
  cache.cancelReservation(950);
  assert.equal(cache.reservedBytes, 0);
  assert.throws(() => cache.reserve(1001), RangeError);
  assert.throws(() => cache.cancelReservation(1), LogInvariantError);
});

Deno.test("LogCache.drop frees a partition and wakes waiters", async () => {
  const timer = new ManualClock();
  const one = await batchAt(0);
  const cache = new LogCache({ capacityBytes: one.length, waitTimeoutMs: 1000, clock: timer });
  await cache.append("t/0", one);
  const waiting = cache.append("u/0", await batchAt(7));
  assert.equal(cache.drop("t/0"), one.length);
  await waiting;
  assert.equal(readBatchHeader(cache.read("u/0", 7, 0)!.batches[0]!).baseOffset, 7);
});

Deno.test("LogCache rejects invalid options", () => {
  const timer = new ManualClock();
  assert.throws(
    () => new LogCache({ capacityBytes: 0, waitTimeoutMs: 1, clock: timer }),
    RangeError,
  );
  assert.throws(
    () => new LogCache({ capacityBytes: 1, waitTimeoutMs: -1, clock: timer }),
    RangeError,
  );
  assert.throws(
    () => new LogCache({ capacityBytes: 1, waitTimeoutMs: 1, clock: timer, waitersMax: 1.5 }),
    RangeError,
  );
});

Deno.test("LogCache truncateTo drops a suffix, whole batches only", async () => {
  const cache = new LogCache({
    capacityBytes: 1 << 20,
    waitTimeoutMs: 10,
    clock: new ManualClock(),
  });
  const key = partitionKey("t", 0);
  const batches = await fill(cache, key, 0, 5, 2); // offsets 0-9 in batches of two
  const used = cache.usedBytes;
  const cut = cache.truncateTo(key, 6);
  assert.equal(cut.freedBytes, batches[3]!.length + batches[4]!.length);
  assert.equal(cut.endOffset, 6);
  assert.equal(cache.usedBytes, used - cut.freedBytes);
  assert.equal(cache.endOffset(key), 6);
  // Offset 5 is inside the batch 4-5: the whole batch goes, and the log ends at 4.
  assert.deepEqual(cache.truncateTo(key, 5), { freedBytes: batches[2]!.length, endOffset: 4 });
  assert.equal(cache.endOffset(key), 4);
  // The log continues from the truncation point.
  await cache.append(key, await batchAt(4, 2));
  assert.equal(cache.endOffset(key), 6);
});
