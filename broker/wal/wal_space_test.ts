import assert from "node:assert/strict";
import { SegmentSpace } from "./wal_space.ts";

const MiB = 1 << 20;

Deno.test("SegmentSpace refuses segments beyond the capacity", () => {
  const space = new SegmentSpace({ capacityBytes: 2 * MiB, segmentBytes: MiB });
  assert.equal(space.open(1), true);
  assert.equal(space.open(2), true);
  assert.equal(space.canOpen(), false);
  assert.equal(space.open(3), false);
  assert.equal(space.usedBytes, 2 * MiB);
});

Deno.test("SegmentSpace keeps spare slots out of use", () => {
  const space = new SegmentSpace({ capacityBytes: 3 * MiB, segmentBytes: MiB, spareSegments: 1 });
  space.open(1);
  space.open(2);
  assert.equal(space.canOpen(), false);
  assert.throws(
    () => new SegmentSpace({ capacityBytes: 2 * MiB, segmentBytes: MiB, spareSegments: 1 }),
    RangeError,
  );
});

Deno.test("SegmentSpace reclaims a sealed segment only once every stream in it is checkpointed", () => {
  const space = new SegmentSpace({ capacityBytes: 4 * MiB, segmentBytes: MiB });
  space.open(1);
  space.recordEntry(1, 7, 10n);
  space.recordEntry(1, 8, 3n);
  assert.deepEqual(space.reclaimable(), []); // not sealed
  space.seal(1);
  space.checkpoint(7, 11n);
  assert.deepEqual(space.reclaimable(), []); // stream 8 not checkpointed
  space.checkpoint(8, 3n);
  assert.deepEqual(space.reclaimable(), []); // offset 3 itself is still needed
  space.checkpoint(8, 2n); // checkpoints never move back
  space.checkpoint(8, 4n);
  assert.deepEqual(space.reclaimable(), [1]);
  assert.deepEqual(space.reclaimable(), []); // returned once
  space.release(1);
  assert.equal(space.segmentCount, 0);
});

Deno.test("SegmentSpace does not reclaim a segment with writes in flight", () => {
  const space = new SegmentSpace({ capacityBytes: 4 * MiB, segmentBytes: MiB });
  space.open(1);
  space.writeInFlight(1, 1);
  space.seal(1);
  assert.deepEqual(space.reclaimable(), []);
  space.writeInFlight(1, -1);
  assert.deepEqual(space.reclaimable(), [1]);
  space.reclaimFailed(1);
  assert.deepEqual(space.reclaimable(), [1]);
});
