import assert from "node:assert/strict";
import { GroupCommitter, type PlannedWrite } from "./wal_committer.ts";
import { SEGMENT_HEADER_BYTES } from "./wal_format.ts";
import { SegmentSpace } from "./wal_space.ts";

const entry = (bytes: number, streamId = 1) => ({
  streamId,
  baseOffset: 0n,
  payload: new Uint8Array(bytes),
});

function make(options: { inflightMax?: number; bufferBytes?: number; segments?: number } = {}) {
  const segmentBytes = 64 * 1024;
  const space = new SegmentSpace({
    capacityBytes: (options.segments ?? 4) * segmentBytes,
    segmentBytes,
  });
  const committer = new GroupCommitter<number>({
    bufferBytes: options.bufferBytes ?? 16 * 1024,
    inflightMax: options.inflightMax ?? 1,
    segmentBytes,
    nextSeq: 1,
    nextSegmentId: 1,
    space,
  });
  return { committer, space, segmentBytes };
}

function planned(result: ReturnType<GroupCommitter<number>["plan"]>): PlannedWrite<number> {
  assert.ok(result !== null && result !== "full", `expected a write, got ${result}`);
  return result;
}

Deno.test("GroupCommitter coalesces appends queued behind a busy slot into one write", () => {
  const { committer } = make();
  committer.enqueue(entry(100), 0);
  const first = planned(committer.plan());
  assert.equal(first.entries.length, 1);
  assert.equal(first.createsSegment, true);
  for (let i = 1; i <= 50; i++) committer.enqueue(entry(100), i);
  assert.equal(committer.plan(), null); // the only slot is busy
  committer.complete(first.writeId, true);
  const second = planned(committer.plan());
  assert.equal(second.entries.length, 50);
  assert.equal(second.position, first.length);
  assert.equal(second.length % 4096, 0);
  assert.deepEqual(
    second.entries.map((e) => e.record.seq),
    Array.from({ length: 50 }, (_, i) => i + 2),
  );
});

Deno.test("GroupCommitter caps a write at bufferBytes but sends one larger entry alone", () => {
  const { committer } = make({ bufferBytes: 1000 });
  for (let i = 0; i < 5; i++) committer.enqueue(entry(400), i);
  assert.equal(planned(committer.plan()).entries.length, 2);
  const { committer: big } = make({ bufferBytes: 1000 });
  big.enqueue(entry(5000), 0);
  assert.equal(planned(big.plan()).entries.length, 1);
});

Deno.test("GroupCommitter acknowledges in order when writes complete out of order", () => {
  const { committer } = make({ inflightMax: 3, bufferBytes: 64 });
  const writes = [0, 1, 2].map((i) => {
    committer.enqueue(entry(10), i);
    return planned(committer.plan());
  });
  assert.deepEqual(committer.complete(writes[2]!.writeId, true), []);
  assert.deepEqual(committer.complete(writes[1]!.writeId, true), []);
  assert.equal(committer.ackedSeq, 0);
  const acked = committer.complete(writes[0]!.writeId, true);
  assert.deepEqual(acked.map((e) => e.token), [0, 1, 2]);
  assert.equal(committer.ackedSeq, 3);
  assert.equal(committer.durableSeq, 3);
});

Deno.test("GroupCommitter stamps entries with the durable seq at planning time", () => {
  const { committer } = make({ inflightMax: 2, bufferBytes: 64 });
  committer.enqueue(entry(10), 0);
  const a = planned(committer.plan());
  committer.enqueue(entry(10), 1);
  const b = planned(committer.plan());
  assert.equal(b.entries[0]!.record.durableSeq, 0); // a was still in flight
  committer.complete(a.writeId, true);
  committer.complete(b.writeId, true);
  committer.enqueue(entry(10), 2);
  assert.equal(planned(committer.plan()).entries[0]!.record.durableSeq, 2);
});

Deno.test("GroupCommitter rolls to a new segment and reports full at capacity", () => {
  const { committer, space, segmentBytes } = make({ segments: 2, bufferBytes: 1 << 20 });
  const big = segmentBytes - SEGMENT_HEADER_BYTES - 100;
  committer.enqueue(entry(big), 0);
  const a = planned(committer.plan());
  committer.complete(a.writeId, true);
  committer.enqueue(entry(big), 1);
  const b = planned(committer.plan());
  assert.equal(b.segmentId, 2);
  assert.equal(b.createsSegment, true);
  committer.complete(b.writeId, true);
  committer.enqueue(entry(big), 2);
  assert.equal(committer.plan(), "full");
  assert.equal(space.segmentCount, 2);
});

Deno.test("GroupCommitter repair rejects everything after a failed write and rewinds seq", () => {
  const { committer } = make({ inflightMax: 3, bufferBytes: 64 });
  const writes = [0, 1, 2].map((i) => {
    committer.enqueue(entry(10), i);
    return planned(committer.plan());
  });
  assert.deepEqual(committer.complete(writes[0]!.writeId, true).map((e) => e.token), [0]);
  committer.fail(writes[1]!.writeId);
  assert.equal(committer.repairReady(), false); // write 3 still running
  committer.complete(writes[2]!.writeId, true);
  assert.equal(committer.repairReady(), true);
  const repair = committer.repair();
  assert.deepEqual(repair.rejected, [1, 2]);
  assert.deepEqual(repair.truncate, [{ segmentId: 1, length: writes[1]!.position }]);
  committer.enqueue(entry(10), 3);
  const next = planned(committer.plan());
  assert.equal(next.segmentId, 2); // resumes in a fresh segment
  assert.equal(next.entries[0]!.record.seq, 2); // rejected seqs are reused
});

Deno.test("GroupCommitter holds crumbs back while a write is in flight", () => {
  const { committer } = make({ inflightMax: 4, bufferBytes: 4096 });
  committer.enqueue(entry(10), 0);
  planned(committer.plan());
  committer.enqueue(entry(10), 1);
  assert.equal(committer.plan(), null); // 56 bytes queued < 1024
  for (let i = 2; i < 20; i++) committer.enqueue(entry(10), i);
  assert.equal(planned(committer.plan()).entries.length, 19);
});

Deno.test("GroupCommitter splits a burst met by an idle WAL into two overlapping writes", () => {
  const { committer } = make({ inflightMax: 4, bufferBytes: 8192 });
  for (let i = 0; i < 64; i++) committer.enqueue(entry(100), i); // 64 slots: over half a buffer
  const first = planned(committer.plan());
  const second = planned(committer.plan());
  assert.equal(first.entries.length, 32);
  assert.equal(second.entries.length, 32, "the other half goes out at once, not after the first");
  assert.equal(committer.plan(), null);
  // A small queue on an idle WAL still goes out whole.
  const { committer: calm } = make({ inflightMax: 4, bufferBytes: 8192 });
  for (let i = 0; i < 4; i++) calm.enqueue(entry(100), i);
  assert.equal(planned(calm.plan()).entries.length, 4);
});
