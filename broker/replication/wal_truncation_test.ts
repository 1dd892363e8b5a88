import assert from "node:assert/strict";
import {
  applyTruncations,
  decodeTruncationMarker,
  encodeTruncationMarker,
  markerWalBaseOffset,
  TRUNCATION_MARKER_BYTES,
} from "./wal_truncation.ts";
import { batchAt } from "./truncation_test_support.ts";
import { readBatchHeader } from "../../protocol/record/record_batch.ts";

interface Entry {
  streamId: number;
  payload: Uint8Array;
  label: string;
}

async function data(streamId: number, base: number, count: number, epoch = 0): Promise<Entry> {
  return {
    streamId,
    payload: await batchAt(base, count, epoch),
    label: `s${streamId}:${base}+${count}e${epoch}`,
  };
}

function marker(streamId: number, kind: "truncate" | "reset", offset: number): Entry {
  return {
    streamId,
    payload: encodeTruncationMarker({ kind, offset, leaderEpoch: 1 }),
    label: `${kind}`,
  };
}

function labels(entries: Entry[]): string[] {
  return entries.map((e) => e.label);
}

Deno.test("encodeTruncationMarker has the documented layout and never looks like a batch", async () => {
  const bytes = encodeTruncationMarker({ kind: "reset", offset: 0x0102, leaderEpoch: -1 });
  assert.equal(bytes.length, TRUNCATION_MARKER_BYTES);
  assert.deepEqual(
    [...bytes],
    [
      0x52,
      0x4d,
      0x51,
      0x43,
      0x54,
      0x52,
      0x4c,
      0,
      2,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      1,
      2,
      255,
      255,
      255,
      255,
    ],
  );
  assert.equal(decodeTruncationMarker(await batchAt(0, 1, 0)), null);
  const damaged = bytes.slice();
  damaged[8] = 3;
  assert.equal(decodeTruncationMarker(damaged), null);
  assert.throws(
    () => encodeTruncationMarker({ kind: "truncate", offset: -1, leaderEpoch: 0 }),
    RangeError,
  );
});

Deno.test("markerWalBaseOffset covers the last offset the marker cancels", () => {
  assert.equal(markerWalBaseOffset(10, 25), 24n);
  assert.equal(markerWalBaseOffset(100, 10), 99n, "a reset forward");
  assert.equal(markerWalBaseOffset(0, 0), 0n);
});

Deno.test("applyTruncations drops the suffix a truncate marker cancels, per stream", async () => {
  const entries = [
    await data(1, 0, 2),
    await data(2, 0, 1),
    await data(1, 2, 3), // 2-4: divergent
    await data(1, 5, 1), // 5: divergent
    marker(1, "truncate", 2),
    await data(2, 1, 1),
    await data(1, 2, 1, 1),
  ];
  const { entries: kept, resets } = applyTruncations(entries);
  assert.deepEqual(labels(kept), ["s1:0+2e0", "s2:0+1e0", "s2:1+1e0", "s1:2+1e1"]);
  assert.equal(resets.size, 0);
});

Deno.test("applyTruncations drops a whole batch a truncation offset falls inside", async () => {
  const entries = [await data(1, 0, 2), await data(1, 2, 3), marker(1, "truncate", 3)];
  assert.deepEqual(labels(applyTruncations(entries).entries), ["s1:0+2e0"]);
  // A batch whose last offset is the truncation offset goes too.
  const single = [await data(1, 0, 2), await data(1, 2, 1), marker(1, "truncate", 2)];
  assert.deepEqual(labels(applyTruncations(single).entries), ["s1:0+2e0"]);
  const rewritten = [await data(1, 0, 2), await data(1, 2, 1), await data(1, 2, 1, 1)];
  assert.deepEqual(labels(applyTruncations(rewritten).entries), ["s1:0+2e0", "s1:2+1e1"]);
});

Deno.test("applyTruncations lets a later write of an offset win when a marker is missing", async () => {
  const entries = [
    await data(1, 0, 2),
    await data(1, 2, 3),
    await data(1, 2, 1, 1),
    await data(1, 3, 1, 1),
  ];
  assert.deepEqual(labels(applyTruncations(entries).entries), ["s1:0+2e0", "s1:2+1e1", "s1:3+1e1"]);
});

Deno.test("applyTruncations restarts a reset stream and reports its new start", async () => {
  const entries = [
    await data(1, 0, 2),
    marker(1, "reset", 500),
    await data(1, 500, 2),
    await data(3, 0, 1),
  ];
  const { entries: kept, resets } = applyTruncations(entries);
  assert.deepEqual(labels(kept), ["s1:500+2e0", "s3:0+1e0"]);
  assert.deepEqual([...resets], [[1, 500]]);
});

Deno.test("applyTruncations drops batches already in object storage", async () => {
  // Stream 1's middle segment was reclaimed: 0-1 and 10-11 remain, 2-9 are stored.
  const entries = [await data(1, 0, 2), await data(1, 10, 2), await data(2, 0, 4)];
  const { entries: kept } = applyTruncations(entries, {
    storedEndOffset: (s) => s === 1 ? 10 : undefined,
  });
  assert.deepEqual(labels(kept), ["s1:10+2e0", "s2:0+4e0"]);
  // What survives is gapless per stream, so PartitionLog.recover accepts it.
  const offsets = kept.filter((e) => e.streamId === 1).map((e) =>
    readBatchHeader(e.payload).baseOffset
  );
  assert.deepEqual(offsets, [10]);
});
