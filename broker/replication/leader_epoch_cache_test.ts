import assert from "node:assert/strict";
import {
  assignEpochsFromBatches,
  EpochCheckpointCorruptError,
  LeaderEpochCache,
  LeaderEpochCheckpoint,
} from "./leader_epoch_cache.ts";
import { fileMetadataPersistence } from "../metadata/local_metadata.ts";
import { batchAt } from "./truncation_test_support.ts";

function cacheOf(...entries: [number, number][]): LeaderEpochCache {
  const cache = new LeaderEpochCache();
  for (const [epoch, start] of entries) cache.assign(epoch, start);
  return cache;
}

Deno.test("LeaderEpochCache.assign ignores a repeat of the latest epoch at a later offset", () => {
  const cache = cacheOf([1, 0]);
  assert.equal(cache.assign(1, 5), false);
  assert.equal(cache.assign(2, 10), true);
  assert.deepEqual(cache.entries(), [{ epoch: 1, startOffset: 0 }, { epoch: 2, startOffset: 10 }]);
});

Deno.test("LeaderEpochCache.assign removes entries that would break monotonicity", () => {
  const cache = cacheOf([1, 0], [2, 10], [3, 20]);
  // Epoch 4 starting at 15: entries at or after offset 15 belong to a truncated suffix.
  assert.equal(cache.assign(4, 15), true);
  assert.deepEqual(cache.entries(), [
    { epoch: 1, startOffset: 0 },
    { epoch: 2, startOffset: 10 },
    { epoch: 4, startOffset: 15 },
  ]);
  // The latest epoch again at a lower offset replaces it.
  assert.equal(cache.assign(4, 12), true);
  assert.deepEqual(cache.entries().at(-1), { epoch: 4, startOffset: 12 });
  assert.throws(() => cache.assign(-1, 0), RangeError);
});

Deno.test("LeaderEpochCache.endOffsetFor follows Kafka semantics", () => {
  const cache = cacheOf([2, 5], [4, 20], [7, 40]);
  const leo = 55;
  assert.deepEqual(cache.endOffsetFor(7, leo), { epoch: 7, endOffset: 55 }, "latest: LEO");
  assert.deepEqual(cache.endOffsetFor(4, leo), { epoch: 4, endOffset: 40 }, "next epoch start");
  assert.deepEqual(cache.endOffsetFor(5, leo), { epoch: 4, endOffset: 40 }, "floor epoch");
  assert.deepEqual(cache.endOffsetFor(1, leo), { epoch: 1, endOffset: 5 }, "below earliest");
  assert.deepEqual(cache.endOffsetFor(8, leo), { epoch: -1, endOffset: -1 }, "above latest");
  assert.deepEqual(cache.endOffsetFor(-1, leo), { epoch: -1, endOffset: -1 }, "undefined");
  assert.deepEqual(new LeaderEpochCache().endOffsetFor(0, 0), { epoch: -1, endOffset: -1 });
});

Deno.test("LeaderEpochCache.truncateFromEnd drops epochs starting at or after the offset", () => {
  const cache = cacheOf([1, 0], [2, 10], [3, 20]);
  assert.equal(cache.truncateFromEnd(25), false);
  assert.equal(cache.truncateFromEnd(10), true);
  assert.deepEqual(cache.entries(), [{ epoch: 1, startOffset: 0 }]);
  assert.equal(cache.latestEpoch, 1);
});

Deno.test("LeaderEpochCache.truncateFromStart moves the covering entry up", () => {
  const cache = cacheOf([1, 0], [2, 10], [3, 20]);
  assert.equal(cache.truncateFromStart(15), true);
  assert.deepEqual(cache.entries(), [{ epoch: 2, startOffset: 15 }, { epoch: 3, startOffset: 20 }]);
  assert.equal(cache.truncateFromStart(15), false);
  assert.equal(cache.epochForOffset(14), -1);
  assert.equal(cache.epochForOffset(19), 2);
  assert.equal(cache.epochForOffset(99), 3);
});

Deno.test("LeaderEpochCache keeps at most entriesMax entries", () => {
  const cache = new LeaderEpochCache({ entriesMax: 2 });
  cache.assign(1, 0);
  cache.assign(2, 5);
  cache.assign(3, 9);
  assert.deepEqual(cache.entries().map((e) => e.epoch), [2, 3]);
  assert.throws(() => new LeaderEpochCache({ entriesMax: 0 }), RangeError);
});

Deno.test("LeaderEpochCache text round-trips and rejects damage", () => {
  const cache = cacheOf([0, 0], [3, 17]);
  assert.equal(cache.toText(), "0\n2\n0 0\n3 17\n");
  assert.deepEqual(LeaderEpochCache.fromText(cache.toText()).entries(), cache.entries());
  for (
    const bad of ["1\n0\n", "0\n2\n0 0\n", "0\n2\n3 17\n0 0\n", "0\n1\nx 1\n", "0\n1\n1 2 3\n"]
  ) {
    assert.throws(() => LeaderEpochCache.fromText(bad), EpochCheckpointCorruptError, bad);
  }
});

Deno.test("LeaderEpochCheckpoint saves durably through a file and loads back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const checkpoint = new LeaderEpochCheckpoint(fileMetadataPersistence(`${dir}/epochs`));
    const empty = await checkpoint.load();
    assert.equal(empty.latestEpoch, -1);
    empty.assign(5, 100);
    await checkpoint.save(empty);
    const again = await new LeaderEpochCheckpoint(fileMetadataPersistence(`${dir}/epochs`)).load();
    assert.deepEqual(again.entries(), [{ epoch: 5, startOffset: 100 }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("assignEpochsFromBatches records each new epoch at its first batch", async () => {
  const cache = new LeaderEpochCache();
  const batches = [await batchAt(0, 2, 1), await batchAt(2, 1, 1), await batchAt(3, 4, 3)];
  assert.equal(assignEpochsFromBatches(cache, batches), true);
  assert.deepEqual(cache.entries(), [{ epoch: 1, startOffset: 0 }, { epoch: 3, startOffset: 3 }]);
  assert.equal(assignEpochsFromBatches(cache, [await batchAt(7, 1, 3)]), false);
});
