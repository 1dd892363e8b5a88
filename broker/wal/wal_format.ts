/**
 * The on-disk format of the WAL: segment files, their header block, and entries.
 *
 * Both I/O backends write the same bytes, so a WAL written with direct I/O can be reopened with
 * the portable backend and the other way round.
 *
 * A segment file is `wal-<id, 20 digits>.log`:
 *
 * ```
 * segment  = header-block *commit
 * header-block (4096 bytes, little-endian):
 *   magic "RMQWAL\0\1" (8) | version u32 = 1 | blockBytes u32 = 4096 | segmentId u64
 *   | firstSeq u64 | crc32c u32 of bytes 0..32 | zeros to 4096
 * commit   = 1*entry padding        ; one group-commit write, starting on a 4096-byte boundary
 * padding  = *%x00                  ; zeros up to the next 4096-byte boundary
 * ; entries start 8-aligned (zeros in between), so a length field never straddles a block
 * entry (40-byte header + payload, little-endian):
 *   entryBytes u32 (header + payload) | crc32c u32 of bytes 0..4 and 8..entryBytes
 *   | seq u64 | durableSeq u64 | streamId u32 | flags u32 = 0 | baseOffset i64 | payload
 * ```
 *
 * - `seq` numbers every entry of the WAL from 1, with no gaps, across segments. A missing or
 *   repeated number is damage.
 * - `durableSeq` is the highest seq known durable (every entry up to it was on disk and
 *   acknowledged-eligible) when this entry's write was issued. Recovery uses it to tell a torn
 *   tail (damage nobody was told about) from corruption of acknowledged data: damage at seq S is
 *   corruption when any readable entry after it carries `durableSeq >= S`.
 * - Every group commit starts on a fresh 4096-byte block and its tail is zero-padded. Direct
 *   I/O needs aligned offsets and lengths, and starting fresh (instead of rewriting the
 *   partly-filled last block) lets several writes be in flight without two of them ever
 *   covering the same block. An `entryBytes` of 0 therefore means "zeros to the next block".
 *
 * @module
 */
import { crc32c } from "../../protocol/crc32c.ts";

/** Block size: alignment of every commit and of direct-I/O buffers. */
export const WAL_BLOCK_BYTES = 4096;
/** Size of the segment header (one block). */
export const SEGMENT_HEADER_BYTES = WAL_BLOCK_BYTES;
/** Size of an entry header. */
export const ENTRY_HEADER_BYTES = 40;
const MAGIC = [0x52, 0x4d, 0x51, 0x57, 0x41, 0x4c, 0x00, 0x01]; // "RMQWAL\0\1"
const FORMAT_VERSION = 1;

/** One entry as the WAL API sees it. */
export interface WalEntryData {
  /** The stream (partition) id the broker assigned. */
  streamId: number;
  /** Kafka base offset of the batch. */
  baseOffset: bigint;
  /** The RecordBatch bytes, stored unchanged. */
  payload: Uint8Array;
}

/** An entry with its position in the WAL's sequence. */
export interface WalEntryRecord extends WalEntryData {
  /** Position in the WAL, from 1, without gaps. */
  seq: number;
  /** Highest seq that was durable when this entry's write was issued. */
  durableSeq: number;
}

/** Rounds `n` up to a multiple of the block size. */
export function alignUp(n: number): number {
  return Math.ceil(n / WAL_BLOCK_BYTES) * WAL_BLOCK_BYTES;
}

/** Bytes an entry with a payload of `payloadBytes` takes, header included (unpadded). */
export function entryBytes(payloadBytes: number): number {
  return ENTRY_HEADER_BYTES + payloadBytes;
}

/** Where the entry after one ending at `end` starts: entries start 8-aligned. */
export function nextEntryStart(end: number): number {
  return Math.ceil(end / 8) * 8;
}

/** Bytes an entry takes in a commit, including the padding to the next 8-byte start. */
export function entrySlotBytes(payloadBytes: number): number {
  return nextEntryStart(ENTRY_HEADER_BYTES + payloadBytes);
}

/** File name of segment `id`. Zero-padded so that names sort like ids. */
export function segmentFileName(id: number): string {
  return `wal-${String(id).padStart(20, "0")}.log`;
}

/** The segment id in a file name from {@linkcode segmentFileName}, or null for other files. */
export function parseSegmentFileName(name: string): number | null {
  const match = /^wal-(\d{20})\.log$/.exec(name);
  return match === null ? null : Number(match[1]);
}

/** Writes the header block of segment `segmentId` into `target[0..4096)`. */
export function encodeSegmentHeader(target: Uint8Array, segmentId: number, firstSeq: number) {
  const view = new DataView(target.buffer, target.byteOffset, SEGMENT_HEADER_BYTES);
  target.fill(0, 0, SEGMENT_HEADER_BYTES);
  target.set(MAGIC, 0);
  view.setUint32(8, FORMAT_VERSION, true);
  view.setUint32(12, WAL_BLOCK_BYTES, true);
  view.setBigUint64(16, BigInt(segmentId), true);
  view.setBigUint64(24, BigInt(firstSeq), true);
  view.setUint32(32, crc32c(target.subarray(0, 32)), true);
}

/** Parsed segment header. */
export interface SegmentHeader {
  /** Id from the header; must match the file name. */
  segmentId: number;
  /** Seq of the first entry the segment was created for. */
  firstSeq: number;
}

/** Reads a segment header; null when it is missing, torn or not a WAL segment. */
export function decodeSegmentHeader(bytes: Uint8Array): SegmentHeader | null {
  if (bytes.length < SEGMENT_HEADER_BYTES) return null;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, SEGMENT_HEADER_BYTES);
  if (view.getUint32(32, true) !== crc32c(bytes.subarray(0, 32))) return null;
  if (view.getUint32(8, true) !== FORMAT_VERSION) return null;
  if (view.getUint32(12, true) !== WAL_BLOCK_BYTES) return null;
  return {
    segmentId: Number(view.getBigUint64(16, true)),
    firstSeq: Number(view.getBigUint64(24, true)),
  };
}

/** Encodes one entry at `target[at..)` (8-aligned); returns where the next entry starts. */
export function encodeEntry(target: Uint8Array, at: number, entry: WalEntryRecord): number {
  const next = encodeEntryUnsealed(target, at, entry);
  sealEntry(target, at);
  return next;
}

/**
 * Like {@linkcode encodeEntry} but leaves the checksum to {@linkcode sealEntry}, so that a large
 * entry's payload can already be on its way to disk while the checksum is computed.
 */
export function encodeEntryUnsealed(target: Uint8Array, at: number, entry: WalEntryRecord): number {
  const total = entryBytes(entry.payload.length);
  const view = new DataView(target.buffer, target.byteOffset + at, ENTRY_HEADER_BYTES);
  view.setUint32(0, total, true);
  view.setUint32(4, 0, true);
  view.setBigUint64(8, BigInt(entry.seq), true);
  view.setBigUint64(16, BigInt(entry.durableSeq), true);
  view.setUint32(24, entry.streamId, true);
  view.setUint32(28, 0, true);
  view.setBigInt64(32, entry.baseOffset, true);
  target.set(entry.payload, at + ENTRY_HEADER_BYTES);
  const next = nextEntryStart(at + total);
  target.fill(0, at + total, next);
  return next;
}

/** Computes and stores the checksum of the entry encoded at `target[at..)`. */
export function sealEntry(target: Uint8Array, at: number): void {
  const view = new DataView(target.buffer, target.byteOffset + at, ENTRY_HEADER_BYTES);
  view.setUint32(4, _entryCrc(target, at, view.getUint32(0, true)), true);
}

function _entryCrc(bytes: Uint8Array, at: number, total: number): number {
  // The length is covered too, so a damaged length is caught by the checksum rather than
  // trusted to find the next entry.
  return crc32c(bytes.subarray(at + 8, at + total), crc32c(bytes.subarray(at, at + 4))) >>> 0;
}

/** What {@linkcode readEntryAt} found. */
export type EntryRead =
  | { kind: "entry"; entry: WalEntryRecord; end: number }
  | { kind: "zeros" }
  | { kind: "bad"; reason: string };

/**
 * Reads the entry starting at `bytes[at]`. `"zeros"` means the rest of this block is zero
 * (commit padding, or space never written); `"bad"` means anything else unreadable.
 */
export function readEntryAt(bytes: Uint8Array, at: number): EntryRead {
  const blockEnd = Math.min(bytes.length, Math.floor(at / WAL_BLOCK_BYTES + 1) * WAL_BLOCK_BYTES);
  if (at + 4 > bytes.length) {
    return _allZero(bytes, at, bytes.length)
      ? { kind: "zeros" }
      : { kind: "bad", reason: "truncated header" };
  }
  // Entries start 8-aligned, so the length field never straddles a block boundary.
  if (new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0, true) === 0) {
    return _allZero(bytes, at, blockEnd)
      ? { kind: "zeros" }
      : { kind: "bad", reason: "non-zero bytes in block padding" };
  }
  if (at + ENTRY_HEADER_BYTES > bytes.length) return { kind: "bad", reason: "truncated header" };
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, ENTRY_HEADER_BYTES);
  const total = view.getUint32(0, true);
  if (total < ENTRY_HEADER_BYTES || at + total > bytes.length) {
    return { kind: "bad", reason: `entry length ${total} does not fit` };
  }
  if (view.getUint32(4, true) !== _entryCrc(bytes, at, total)) {
    return { kind: "bad", reason: "checksum mismatch" };
  }
  const entry: WalEntryRecord = {
    seq: Number(view.getBigUint64(8, true)),
    durableSeq: Number(view.getBigUint64(16, true)),
    streamId: view.getUint32(24, true),
    baseOffset: view.getBigInt64(32, true),
    payload: bytes.subarray(at + ENTRY_HEADER_BYTES, at + total),
  };
  return { kind: "entry", entry, end: at + total };
}

function _allZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}
