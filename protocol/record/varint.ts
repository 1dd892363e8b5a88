/**
 * Zigzag varints (32-bit) and varlongs (64-bit) as used by Kafka records (the protobuf encoding).
 *
 * Decoders take a {@linkcode VarintCursor} and advance it, so that a record parser can walk a
 * buffer without allocating. Every decoder bounds-checks and throws a
 * {@linkcode CorruptRecordError} on truncated or over-long input, never a `RangeError`.
 *
 * Varlongs decode to a `number` when the value is a safe integer, which covers every timestamp
 * and offset delta a real client writes; {@linkcode readVarlongBig} gives the full int64 range.
 *
 * @module
 */

import { CorruptRecordError } from "./record_errors.ts";

/** A read position in a buffer; decoders advance `offset` past what they consumed. */
export interface VarintCursor {
  /** Index of the next unread byte. */
  offset: number;
}

/** Longest encoding of a varint (int32), in bytes. */
export const VARINT_BYTES_MAX = 5;
/** Longest encoding of a varlong (int64), in bytes. */
export const VARLONG_BYTES_MAX = 10;

function _truncated(what: string, at: number): CorruptRecordError {
  return new CorruptRecordError(`Cannot read ${what} as the input ends at byte ${at}`);
}

/**
 * Reads a zigzag varint (int32) at `cursor.offset` and advances the cursor.
 *
 * @example
 * ```ts
 * import { readVarint } from "./varint.ts";
 * import assert from "node:assert/strict";
 * const c = { offset: 0 };
 * assert.equal(readVarint(new Uint8Array([0x03]), c), -2);
 * assert.equal(c.offset, 1);
 * ```
 */
export function readVarint(bytes: Uint8Array, cursor: VarintCursor): number {
  let pos = cursor.offset;
  let raw = 0;
  let shift = 0;
  for (let i = 0; i < VARINT_BYTES_MAX; i++) {
    if (pos >= bytes.length) throw _truncated("varint", pos);
    const b = bytes[pos++]!;
    raw |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) {
      // The fifth byte may only carry the top 4 bits of an int32; Kafka rejects more.
      if (i === 4 && b > 0x0f) break;
      cursor.offset = pos;
      return (raw >>> 1) ^ -(raw & 1);
    }
    shift += 7;
  }
  throw new CorruptRecordError(`Cannot read varint as it is longer than ${VARINT_BYTES_MAX} bytes`);
}

/**
 * Reads a zigzag varlong (int64) as a `number` and advances the cursor.
 * Throws {@linkcode CorruptRecordError} if the value is not a safe integer.
 *
 * @example
 * ```ts
 * import { readVarlong } from "./varint.ts";
 * import assert from "node:assert/strict";
 * assert.equal(readVarlong(new Uint8Array([0xac, 0x02]), { offset: 0 }), 150);
 * ```
 */
export function readVarlong(bytes: Uint8Array, cursor: VarintCursor): number {
  let pos = cursor.offset;
  // The low 28 bits accumulate with integer ops, the rest with float multiplication, which is
  // exact up to 2^53 and much cheaper than BigInt on the record-decoding path.
  let low = 0;
  let high = 0;
  let scale = 1;
  for (let i = 0; i < VARLONG_BYTES_MAX; i++) {
    if (pos >= bytes.length) throw _truncated("varlong", pos);
    const b = bytes[pos++]!;
    if (i < 4) low |= (b & 0x7f) << (7 * i);
    else {
      high += (b & 0x7f) * scale;
      scale *= 128;
    }
    if ((b & 0x80) === 0) {
      if (i === 9 && b > 0x01) break;
      cursor.offset = pos;
      // Zigzag: magnitude is raw >> 1, computed without forming raw, which may exceed 2^53.
      const magnitude = high * 0x8000000 + (low >>> 1);
      const negative = (low & 1) === 1;
      if (magnitude > Number.MAX_SAFE_INTEGER - (negative ? 1 : 0)) {
        throw new CorruptRecordError(`Cannot read varlong as a number: it exceeds 2^53`);
      }
      return negative ? -magnitude - 1 : magnitude;
    }
  }
  throw new CorruptRecordError(
    `Cannot read varlong as it is longer than ${VARLONG_BYTES_MAX} bytes`,
  );
}

/**
 * Reads a zigzag varlong (int64) as a `bigint` and advances the cursor. Full int64 range.
 *
 * @example
 * ```ts
 * import { readVarlongBig } from "./varint.ts";
 * import assert from "node:assert/strict";
 * const max = new Uint8Array([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
 * assert.equal(readVarlongBig(max, { offset: 0 }), 2n ** 63n - 1n);
 * ```
 */
export function readVarlongBig(bytes: Uint8Array, cursor: VarintCursor): bigint {
  let pos = cursor.offset;
  let raw = 0n;
  for (let i = 0; i < VARLONG_BYTES_MAX; i++) {
    if (pos >= bytes.length) throw _truncated("varlong", pos);
    const b = bytes[pos++]!;
    raw |= BigInt(b & 0x7f) << BigInt(7 * i);
    if ((b & 0x80) === 0) {
      if (i === 9 && b > 0x01) break;
      cursor.offset = pos;
      return (raw >> 1n) ^ -(raw & 1n);
    }
  }
  throw new CorruptRecordError(
    `Cannot read varlong as it is longer than ${VARLONG_BYTES_MAX} bytes`,
  );
}

/** Number of bytes {@linkcode writeVarint} uses for `value` (an int32). */
export function varintSize(value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  let n = 1;
  while (v >= 0x80) {
    v >>>= 7;
    n++;
  }
  return n;
}

/**
 * Writes `value` (an int32) as a zigzag varint at `offset`; returns the offset after it.
 * The caller sizes `out` with {@linkcode varintSize}.
 *
 * @example
 * ```ts
 * import { writeVarint } from "./varint.ts";
 * import assert from "node:assert/strict";
 * const out = new Uint8Array(5);
 * assert.equal(writeVarint(out, 0, -1), 1);
 * assert.equal(out[0], 0x01);
 * ```
 */
export function writeVarint(out: Uint8Array, offset: number, value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  while (v >= 0x80) {
    out[offset++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[offset++] = v;
  return offset;
}

function _checkSafe(value: number): void {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`Cannot encode varlong as value is not a safe integer: ${value}`);
  }
}

/** Number of bytes {@linkcode writeVarlong} uses for `value` (a safe integer). */
export function varlongSize(value: number): number {
  _checkSafe(value);
  // The zigzag value is 2m or 2m + 1: the first byte holds 6 bits of m, the others 7 each.
  let m = value < 0 ? -value - 1 : value;
  let n = 1;
  m = Math.floor(m / 64);
  while (m > 0) {
    m = Math.floor(m / 128);
    n++;
  }
  return n;
}

/**
 * Writes a safe integer as a zigzag varlong at `offset`; returns the offset after it.
 *
 * @example
 * ```ts
 * import { writeVarlong } from "./varint.ts";
 * import assert from "node:assert/strict";
 * const out = new Uint8Array(10);
 * assert.equal(writeVarlong(out, 0, 150), 2);
 * assert.deepEqual([...out.subarray(0, 2)], [0xac, 0x02]);
 * ```
 */
export function writeVarlong(out: Uint8Array, offset: number, value: number): number {
  _checkSafe(value);
  const negative = value < 0;
  let m = negative ? -value - 1 : value;
  if (m < 0x40000000) {
    // Common case (deltas): the zigzag value fits 31 bits, so integer ops are exact.
    let v = m * 2 + (negative ? 1 : 0);
    while (v >= 0x80) {
      out[offset++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    out[offset++] = v;
    return offset;
  }
  // Forming 2m + 1 could exceed 2^53 and round, so the first byte is built from m directly.
  let b = ((m % 64) * 2) | (negative ? 1 : 0);
  m = Math.floor(m / 64);
  while (m > 0) {
    out[offset++] = b | 0x80;
    b = m % 128;
    m = Math.floor(m / 128);
  }
  out[offset++] = b;
  return offset;
}

/** Writes any int64 `bigint` as a zigzag varlong at `offset`; returns the offset after it. */
export function writeVarlongBig(out: Uint8Array, offset: number, value: bigint): number {
  if (value < -(2n ** 63n) || value >= 2n ** 63n) {
    throw new RangeError(`Cannot encode varlong as value is outside int64: ${value}`);
  }
  let v = BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
  while (v >= 0x80n) {
    out[offset++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[offset++] = Number(v);
  return offset;
}
