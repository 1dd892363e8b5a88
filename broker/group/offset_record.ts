/**
 * The records of the internal `__consumer_offsets` topic, in Apache Kafka's own binary layout,
 * so that Kafka tooling that decodes the topic can read ours:
 *
 * ```text
 * OffsetCommitKey (key version 1; version 0 reads the same) =>
 *   version int16, group string, topic string, partition int32
 * GroupMetadataKey (key version 2; RustMQ writes none, and skips them when loading) =>
 *   version int16, group string
 * OffsetCommitValue version 3 (RustMQ writes this) =>
 *   version int16, offset int64, leaderEpoch int32, metadata string, commitTimestamp int64
 * OffsetCommitValue versions 0-2 (read only) =>
 *   v0: offset int64, metadata string, timestamp int64
 *   v1: offset int64, metadata string, commitTimestamp int64, expireTimestamp int64
 *   v2: offset int64, metadata string, commitTimestamp int64
 * string => length int16, UTF-8 bytes
 * ```
 *
 * A null value (tombstone) deletes the committed offset of its key.
 *
 * @module
 */

/** Where a committed offset belongs. */
export interface OffsetKey {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
}

/** A committed offset. */
export interface OffsetValue {
  readonly offset: bigint;
  /** -1 when unknown. */
  readonly leaderEpoch: number;
  readonly metadata: string;
  readonly commitTimestampMs: number;
}

/** A record of `__consumer_offsets` that could not be decoded. */
export class OffsetRecordError extends Error {
  readonly code = "CORRUPT_MESSAGE";
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "OffsetRecordError";
  }
}

const _enc = new TextEncoder();
const _dec = new TextDecoder("utf-8", { fatal: true });

/** Strings are int16-length-prefixed, so none may exceed this many UTF-8 bytes. */
export const OFFSET_RECORD_STRING_BYTES_MAX = 32767;

function _str(s: string): Uint8Array {
  const b = _enc.encode(s);
  if (b.length > OFFSET_RECORD_STRING_BYTES_MAX) {
    throw new RangeError(
      `Cannot encode offset record string as it is ${b.length} bytes: at most ${OFFSET_RECORD_STRING_BYTES_MAX}`,
    );
  }
  return b;
}

/**
 * Encodes an OffsetCommitKey (version 1).
 *
 * @example
 * ```ts
 * import { decodeOffsetKey, encodeOffsetKey } from "./offset_record.ts";
 * import assert from "node:assert/strict";
 * const key = { group: "g", topic: "t", partition: 3 };
 * assert.deepEqual(decodeOffsetKey(encodeOffsetKey(key)), key);
 * ```
 */
export function encodeOffsetKey(k: OffsetKey): Uint8Array {
  const g = _str(k.group);
  const t = _str(k.topic);
  const out = new Uint8Array(2 + 2 + g.length + 2 + t.length + 4);
  const v = new DataView(out.buffer);
  v.setInt16(0, 1);
  v.setInt16(2, g.length);
  out.set(g, 4);
  let at = 4 + g.length;
  v.setInt16(at, t.length);
  out.set(t, at + 2);
  at += 2 + t.length;
  v.setInt32(at, k.partition);
  return out;
}

/** Encodes an OffsetCommitValue (version 3). */
export function encodeOffsetValue(o: OffsetValue): Uint8Array {
  const m = _str(o.metadata);
  const out = new Uint8Array(2 + 8 + 4 + 2 + m.length + 8);
  const v = new DataView(out.buffer);
  v.setInt16(0, 3);
  v.setBigInt64(2, o.offset);
  v.setInt32(10, o.leaderEpoch);
  v.setInt16(14, m.length);
  out.set(m, 16);
  v.setBigInt64(16 + m.length, BigInt(o.commitTimestampMs));
  return out;
}

class _Cursor {
  at = 0;
  readonly #v: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.#v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  #need(n: number): void {
    if (this.at + n > this.bytes.length) {
      throw new OffsetRecordError(
        `Cannot decode offset record as it ends at byte ${this.bytes.length}, before ${
          this.at + n
        }`,
      );
    }
  }
  int16(): number {
    this.#need(2);
    const x = this.#v.getInt16(this.at);
    this.at += 2;
    return x;
  }
  int32(): number {
    this.#need(4);
    const x = this.#v.getInt32(this.at);
    this.at += 4;
    return x;
  }
  int64(): bigint {
    this.#need(8);
    const x = this.#v.getBigInt64(this.at);
    this.at += 8;
    return x;
  }
  string(): string {
    const n = this.int16();
    if (n < 0) throw new OffsetRecordError(`Cannot decode offset record string of length ${n}`);
    this.#need(n);
    const s = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    try {
      return _dec.decode(s);
    } catch {
      throw new OffsetRecordError("Cannot decode offset record string as it is not UTF-8");
    }
  }
}

/**
 * Decodes a key of `__consumer_offsets`: an {@linkcode OffsetKey}, or null for a group
 * metadata key (version 2), which RustMQ does not use.
 *
 * @throws {OffsetRecordError} for an unknown version or truncated bytes.
 */
export function decodeOffsetKey(bytes: Uint8Array): OffsetKey | null {
  const c = new _Cursor(bytes);
  const version = c.int16();
  if (version === 2) return null;
  if (version !== 0 && version !== 1) {
    throw new OffsetRecordError(`Cannot decode offset key version ${version}: 0-2 are known`);
  }
  const group = c.string();
  const topic = c.string();
  return { group, topic, partition: c.int32() };
}

/**
 * Decodes an OffsetCommitValue of versions 0-3.
 *
 * @throws {OffsetRecordError} for an unknown version or truncated bytes.
 */
export function decodeOffsetValue(bytes: Uint8Array): OffsetValue {
  const c = new _Cursor(bytes);
  const version = c.int16();
  if (version < 0 || version > 3) {
    throw new OffsetRecordError(`Cannot decode offset value version ${version}: 0-3 are known`);
  }
  const offset = c.int64();
  const leaderEpoch = version === 3 ? c.int32() : -1;
  const metadata = c.string();
  const commitTimestampMs = Number(c.int64());
  return { offset, leaderEpoch, metadata, commitTimestampMs };
}

/**
 * The `__consumer_offsets` partition of a group, as Kafka computes it:
 * `abs(groupId.hashCode()) % partitions` with Java's `String.hashCode` over UTF-16 code units.
 *
 * @example
 * ```ts
 * import { offsetsPartitionFor } from "./offset_record.ts";
 * import assert from "node:assert/strict";
 * // "hello".hashCode() is 99162322 in Java.
 * assert.equal(offsetsPartitionFor("hello", 50), 99162322 % 50);
 * ```
 */
export function offsetsPartitionFor(groupId: string, partitions: number): number {
  let h = 0;
  for (let i = 0; i < groupId.length; i++) h = (Math.imul(h, 31) + groupId.charCodeAt(i)) | 0;
  // Kafka's Utils.abs maps Integer.MIN_VALUE to 0 rather than overflowing.
  const abs = h === -2147483648 ? 0 : Math.abs(h);
  return abs % partitions;
}
