import assert from "node:assert/strict";
import { WalCorruptionError } from "./wal_errors.ts";
import { alignUp, encodeEntry, encodeSegmentHeader, SEGMENT_HEADER_BYTES } from "./wal_format.ts";
import { planRecovery, type RecoverySegment } from "./wal_recovery.ts";

/** One commit: its entries' seqs and the durableSeq they carry. */
interface Commit {
  seqs: number[];
  durableSeq: number;
}

/** Builds a segment the way the WAL writes one: header block, then block-aligned commits. */
function segment(
  id: number,
  firstSeq: number,
  commits: Commit[],
): RecoverySegment & { ends: number[] } {
  const bytes = new Uint8Array(SEGMENT_HEADER_BYTES + commits.length * 8192);
  encodeSegmentHeader(bytes, id, firstSeq);
  let at = SEGMENT_HEADER_BYTES;
  const ends: number[] = [];
  for (const commit of commits) {
    for (const seq of commit.seqs) {
      const payload = new Uint8Array(100).fill(seq & 0xff);
      at = encodeEntry(bytes, at, {
        seq,
        durableSeq: commit.durableSeq,
        streamId: 1,
        baseOffset: BigInt(seq),
        payload,
      });
      ends.push(at);
    }
    at = alignUp(at);
  }
  return { id, path: `/wal/${id}`, bytes: bytes.subarray(0, at), ends };
}

const seqsOf = (plan: ReturnType<typeof planRecovery>) => plan.entries.map((e) => e.seq);

Deno.test("planRecovery returns every entry of a clean log in order", () => {
  const a = segment(1, 1, [{ seqs: [1, 2], durableSeq: 0 }, { seqs: [3], durableSeq: 2 }]);
  const b = segment(2, 4, [{ seqs: [4, 5], durableSeq: 3 }]);
  const plan = planRecovery([b, a]);
  assert.deepEqual(seqsOf(plan), [1, 2, 3, 4, 5]);
  assert.equal(plan.nextSeq, 6);
  assert.equal(plan.nextSegmentId, 3);
  assert.equal(plan.truncate, null);
  assert.equal(plan.droppedBytes, 0);
});

Deno.test("planRecovery truncates a torn tail at the last good entry", () => {
  const a = segment(1, 1, [{ seqs: [1, 2], durableSeq: 0 }, { seqs: [3, 4], durableSeq: 2 }]);
  const cutAt = a.ends[2]! + 10; // the write of 3..4 tore inside entry 4
  const torn = { ...a, bytes: a.bytes.subarray(0, cutAt) };
  const plan = planRecovery([torn]);
  assert.deepEqual(seqsOf(plan), [1, 2, 3]);
  assert.deepEqual(plan.truncate, { path: "/wal/1", segmentId: 1, length: a.ends[2]! - 4 });
  assert.equal(plan.droppedBytes, cutAt - plan.truncate!.length);
  assert.equal(plan.nextSeq, 4);
});

Deno.test("planRecovery treats a lost in-flight write followed by a landed one as a torn tail", () => {
  // Writes 2 and 3 were in flight together; 2 never landed, 3 did. 3 says only seq 1 was
  // durable when it was issued, so nobody was told about seq 2.
  const a = segment(1, 1, [{ seqs: [1], durableSeq: 0 }, { seqs: [2], durableSeq: 1 }, {
    seqs: [3],
    durableSeq: 1,
  }]);
  a.bytes.fill(0, 4096 * 2, 4096 * 3);
  const plan = planRecovery([a]);
  assert.deepEqual(seqsOf(plan), [1]);
  assert.equal(plan.truncate?.length, a.ends[0]! - 4);
});

Deno.test("planRecovery stops with WalCorruptionError at a bad entry followed by good entries", () => {
  const a = segment(1, 1, [{ seqs: [1], durableSeq: 0 }, { seqs: [2], durableSeq: 1 }, {
    seqs: [3],
    durableSeq: 2,
  }]);
  a.bytes[4096 * 2 + 60] = a.bytes[4096 * 2 + 60]! ^ 0xff; // payload of seq 2, acknowledged (seq 3 says so)
  assert.throws(() => planRecovery([a]), (error: unknown) => {
    assert.ok(error instanceof WalCorruptionError);
    assert.equal(error.segmentPath, "/wal/1");
    assert.equal(error.position, 4096 * 2);
    assert.equal(error.retriable, false);
    assert.match(error.message, /\/wal\/1 is corrupt at byte 8192/);
    return true;
  });
});

Deno.test("planRecovery stops with WalCorruptionError on damage in a non-last segment", () => {
  const a = segment(1, 1, [{ seqs: [1, 2], durableSeq: 0 }]);
  const b = segment(2, 3, [{ seqs: [3], durableSeq: 2 }]);
  a.bytes[4096 + 3] = a.bytes[4096 + 3]! ^ 1; // length field of seq 1
  assert.throws(() => planRecovery([a, b]), WalCorruptionError);
});

Deno.test("planRecovery removes a last segment whose header tore", () => {
  const a = segment(1, 1, [{ seqs: [1], durableSeq: 0 }]);
  const b = segment(2, 2, [{ seqs: [2], durableSeq: 0 }]);
  b.bytes[3] = b.bytes[3]! ^ 1;
  const plan = planRecovery([a, b]);
  assert.deepEqual(seqsOf(plan), [1]);
  assert.deepEqual(plan.remove, [{ path: "/wal/2", segmentId: 2 }]);
  assert.equal(plan.nextSegmentId, 3);
});

Deno.test("planRecovery accepts a seq jump only where segments were reclaimed", () => {
  const a = segment(1, 1, [{ seqs: [1], durableSeq: 0 }]);
  const c = segment(3, 5, [{ seqs: [5], durableSeq: 4 }]);
  assert.deepEqual(seqsOf(planRecovery([a, c])), [1, 5]);
  const b = segment(2, 5, [{ seqs: [5], durableSeq: 4 }]);
  assert.throws(() => planRecovery([a, b]), WalCorruptionError);
});

Deno.test("planRecovery of nothing starts at seq 1", () => {
  const plan = planRecovery([]);
  assert.equal(plan.nextSeq, 1);
  assert.equal(plan.nextSegmentId, 1);
});
