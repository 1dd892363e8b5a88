import assert from "node:assert/strict";
import {
  decodeSegmentHeader,
  encodeEntry,
  encodeSegmentHeader,
  ENTRY_HEADER_BYTES,
  entrySlotBytes,
  parseSegmentFileName,
  readEntryAt,
  segmentFileName,
} from "./wal_format.ts";

const record = (seq: number, payload: number[]) => ({
  seq,
  durableSeq: seq - 1,
  streamId: 0xfffffffe,
  baseOffset: -5n,
  payload: new Uint8Array(payload),
});

Deno.test("encodeEntry round-trips through readEntryAt", () => {
  const bytes = new Uint8Array(4096);
  const next = encodeEntry(bytes, 0, record(7, [1, 2, 3]));
  assert.equal(next, entrySlotBytes(3));
  assert.equal(next % 8, 0);
  const read = readEntryAt(bytes, 0);
  assert.equal(read.kind, "entry");
  if (read.kind !== "entry") return;
  assert.equal(read.end, ENTRY_HEADER_BYTES + 3);
  assert.deepEqual({ ...read.entry, payload: [...read.entry.payload] }, {
    ...record(7, [1, 2, 3]),
    payload: [1, 2, 3],
  });
});

Deno.test("readEntryAt reports padding as zeros and damage as bad", () => {
  const bytes = new Uint8Array(8192);
  const end = encodeEntry(bytes, 0, record(1, [9]));
  assert.equal(readEntryAt(bytes, end).kind, "zeros");
  bytes[ENTRY_HEADER_BYTES] = 8; // payload byte flipped
  assert.deepEqual(readEntryAt(bytes, 0), { kind: "bad", reason: "checksum mismatch" });
  bytes[4000] = 1; // junk inside what should be padding
  assert.equal(readEntryAt(bytes, end).kind, "bad");
});

Deno.test("readEntryAt rejects a length that runs past the data", () => {
  const bytes = new Uint8Array(4096);
  encodeEntry(bytes, 0, record(1, new Array(100).fill(1)));
  assert.equal(readEntryAt(bytes.subarray(0, 120), 0).kind, "bad");
});

Deno.test("encodeSegmentHeader round-trips and detects damage", () => {
  const bytes = new Uint8Array(4096);
  encodeSegmentHeader(bytes, 42, 1000);
  assert.deepEqual(decodeSegmentHeader(bytes), { segmentId: 42, firstSeq: 1000 });
  bytes[20] = bytes[20]! ^ 1;
  assert.equal(decodeSegmentHeader(bytes), null);
  assert.equal(decodeSegmentHeader(new Uint8Array(4096)), null);
});

Deno.test("segmentFileName sorts like ids and parses back", () => {
  assert.equal(parseSegmentFileName(segmentFileName(12)), 12);
  assert.ok(segmentFileName(9) < segmentFileName(10));
  assert.equal(parseSegmentFileName("spare.ready"), null);
});
