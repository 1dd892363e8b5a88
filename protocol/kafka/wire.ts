/**
 * Primitive Kafka wire types: a growable {@linkcode Writer} and a bounds-checked
 * {@linkcode Reader}.
 *
 * Every read checks its bounds first, and every length read from the wire (string, bytes, array,
 * tagged field) is checked against the bytes that remain before anything is allocated, so a
 * hostile length such as 2^31 fails fast with {@linkcode MalformedFrameError} instead of
 * allocating. Reads never loop without consuming input, so decoding a frame of n bytes does
 * O(n) work.
 *
 * int64 values are `bigint` everywhere: offsets fit in a double in practice, but producer ids and
 * sentinels such as Long.MAX_VALUE do not, and a codec must not reject a frame a Kafka client may
 * legally send.
 *
 * @module
 */

/**
 * Thrown when a frame cannot be decoded: it is truncated, a length is out of range, or a
 * non-nullable field is null. The connection that sent it should be closed.
 */
export class MalformedFrameError extends Error {
  /** Stable machine-readable code. */
  readonly code = "MALFORMED_FRAME" as const;
  /** A malformed frame stays malformed when resent. */
  readonly retriable = false;
  /** Byte offset in the frame buffer where decoding failed. */
  readonly offset: number;

  /** Creates the error for a failure at `offset`. */
  constructor(message: string, offset: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "MalformedFrameError";
    this.offset = offset;
  }
}

/**
 * Thrown when a message cannot be encoded at the requested version: a null in a non-nullable
 * field, a string longer than its length prefix allows, a frame over the writer's limit.
 */
export class FrameEncodeError extends Error {
  /** Stable machine-readable code. */
  readonly code = "FRAME_ENCODE_FAILED" as const;
  /** The same message fails again at the same version. */
  readonly retriable = false;

  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FrameEncodeError";
  }
}

/**
 * Returns `value`, or throws {@linkcode FrameEncodeError} when it is null in a version where the
 * field is not nullable (used by generated encoders).
 */
export function requireNonNull<T>(value: T | null, field: string, version: number): T {
  if (value === null) {
    throw new FrameEncodeError(
      `Cannot encode ${field} as it is not nullable in version ${version}`,
    );
  }
  return value;
}

/**
 * Throws {@linkcode FrameEncodeError} for a non-default value in a field that `version` does not
 * have (used by generated encoders; Kafka's UnsupportedVersionException).
 */
export function rejectNonDefault(field: string, version: number): never {
  throw new FrameEncodeError(
    `Cannot encode ${field} as version ${version} does not have it: the value must be its default`,
  );
}

/**
 * Throws a RangeError unless `version` is in [min, max]: the caller must check the version it
 * negotiated before encoding or decoding, so a miss is a programming error.
 */
export function checkVersion(message: string, version: number, min: number, max: number): void {
  if (!(version >= min && version <= max)) {
    throw new RangeError(
      `Cannot use ${message} as version must be in [${min}, ${max}]: current value is ${version}`,
    );
  }
}

/** The all-zero UUID, Kafka's `Uuid.ZERO_UUID`, in Kafka's base64url text form. */
export const ZERO_UUID = "AAAAAAAAAAAAAAAAAAAAAA";

const _B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const _B64_INDEX: Int8Array = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < 64; i++) t[_B64.charCodeAt(i)] = i;
  return t;
})();

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();

/** Options for {@linkcode Writer}. */
export interface WriterOptions {
  /**
   * Bytes allocated up front; the buffer doubles as needed.
   * @default 1024
   */
  initialBytes?: number;
  /**
   * Largest frame the writer may grow to; exceeding it throws {@linkcode FrameEncodeError}.
   * @default 1073741824 (1 GiB)
   */
  maxBytes?: number;
  /**
   * When set, {@linkcode Writer.raw} keeps byte arrays at least this long by reference instead
   * of copying them, and {@linkcode Writer.finishParts} returns the frame as slices. The caller
   * must not change a referenced array until the parts are written.
   */
  referenceFrom?: number;
}

/**
 * The contents of a RECORDS field to encode as the concatenation of its slices, without joining
 * them first (a Fetch response's stored batches). Decoders always return plain bytes.
 */
export class RecordSlices {
  /** Total bytes of the slices. */
  readonly length: number;
  /** Wraps `slices`, which must stay unchanged until the frame is written. */
  constructor(readonly slices: readonly Uint8Array[]) {
    let n = 0;
    for (const s of slices) n += s.length;
    this.length = n;
  }
}

/** A RECORDS field value: plain bytes, or (to encode) slices written one after another. */
export type Records = Uint8Array | RecordSlices;

/** The bytes of a RECORDS value, joining slices (a copy) only when there are several. */
export function recordsBytes(r: Records): Uint8Array {
  if (r instanceof Uint8Array) return r;
  if (r.slices.length === 1) return r.slices[0]!;
  const out = new Uint8Array(r.length);
  let at = 0;
  for (const s of r.slices) {
    out.set(s, at);
    at += s.length;
  }
  return out;
}

/**
 * Growable big-endian output buffer with Kafka primitive encoders.
 *
 * @example
 * ```ts
 * import { Writer } from "./wire.ts";
 * const w = new Writer();
 * w.int16(18);
 * w.string("a", false);
 * const bytes = w.finish();
 * if (bytes.length !== 5) throw new Error("unreachable");
 * ```
 */
export class Writer {
  #buf: Uint8Array;
  #view: DataView;
  #pos = 0;
  readonly #maxBytes: number;
  readonly #referenceFrom: number;
  /** Finished slices before the current segment (only when referencing). */
  readonly #parts: Uint8Array[] = [];
  /** Where the current segment of `#buf` starts. */
  #segmentStart = 0;
  /** Bytes held by reference in `#parts`. */
  #referenced = 0;

  /** Creates an empty writer. */
  constructor(options: WriterOptions = {}) {
    const initialBytes = options.initialBytes ?? 1024;
    const maxBytes = options.maxBytes ?? 1 << 30;
    this.#referenceFrom = options.referenceFrom ?? Infinity;
    if (!(initialBytes >= 1 && initialBytes <= maxBytes)) {
      throw new RangeError(`Cannot create Writer as initialBytes must be in [1, maxBytes]`);
    }
    this.#maxBytes = maxBytes;
    this.#buf = new Uint8Array(initialBytes);
    this.#view = new DataView(this.#buf.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#pos + this.#referenced;
  }

  /** Forgets all bytes written, keeping the buffer for reuse. */
  reset(): void {
    this.#pos = 0;
    this.#parts.length = 0;
    this.#segmentStart = 0;
    this.#referenced = 0;
  }

  /**
   * Returns the bytes written so far as a view of the internal buffer; the view is valid until
   * the next write or reset. Referenced arrays (see {@linkcode WriterOptions.referenceFrom})
   * are joined into a new buffer.
   */
  finish(): Uint8Array {
    if (this.#parts.length === 0) return this.#buf.subarray(0, this.#pos);
    const parts = this.finishParts() as Uint8Array[];
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /**
   * Returns the bytes written so far as one view, or as slices in order when arrays were kept
   * by reference. The slices are valid until the next write or reset.
   */
  finishParts(): Uint8Array | Uint8Array[] {
    if (this.#parts.length === 0) return this.#buf.subarray(0, this.#pos);
    const tail = this.#buf.subarray(this.#segmentStart, this.#pos);
    return tail.length === 0 ? [...this.#parts] : [...this.#parts, tail];
  }

  /** Makes room for `n` more bytes, doubling the buffer. */
  #ensure(n: number): void {
    const need = this.#pos + n;
    if (need <= this.#buf.length) return;
    if (need + this.#referenced > this.#maxBytes) {
      throw new FrameEncodeError(
        `Cannot encode frame as it exceeds maxBytes: current value is ${
          need + this.#referenced
        } > ${this.#maxBytes}`,
      );
    }
    let cap = this.#buf.length * 2;
    while (cap < need) cap *= 2;
    if (cap > this.#maxBytes) cap = this.#maxBytes;
    const next = new Uint8Array(cap);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  /** Writes a boolean as one byte. */
  bool(value: boolean): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = value ? 1 : 0;
  }

  /** Writes a signed 8-bit integer. */
  int8(value: number): void {
    this.#ensure(1);
    this.#view.setInt8(this.#pos, value);
    this.#pos += 1;
  }

  /** Writes a signed 16-bit integer. */
  int16(value: number): void {
    this.#ensure(2);
    this.#view.setInt16(this.#pos, value);
    this.#pos += 2;
  }

  /** Writes an unsigned 16-bit integer. */
  uint16(value: number): void {
    this.#ensure(2);
    this.#view.setUint16(this.#pos, value);
    this.#pos += 2;
  }

  /** Writes a signed 32-bit integer. */
  int32(value: number): void {
    this.#ensure(4);
    this.#view.setInt32(this.#pos, value);
    this.#pos += 4;
  }

  /** Writes an unsigned 32-bit integer. */
  uint32(value: number): void {
    this.#ensure(4);
    this.#view.setUint32(this.#pos, value);
    this.#pos += 4;
  }

  /** Overwrites a 32-bit integer at `offset`, such as a frame length reserved earlier. */
  setInt32At(offset: number, value: number): void {
    if (offset < 0 || offset + 4 > this.#pos) {
      throw new RangeError(
        `Cannot set int32 as offset is out of range: current value is ${offset}`,
      );
    }
    this.#view.setInt32(offset, value);
  }

  /** Writes a signed 64-bit integer. */
  int64(value: bigint): void {
    this.#ensure(8);
    this.#view.setBigInt64(this.#pos, value);
    this.#pos += 8;
  }

  /** Writes an IEEE 754 double. */
  float64(value: number): void {
    this.#ensure(8);
    this.#view.setFloat64(this.#pos, value);
    this.#pos += 8;
  }

  /** Writes an unsigned varint (at most 5 bytes, values in [0, 2^32)). */
  uvarint(value: number): void {
    this.#ensure(5);
    let v = value >>> 0;
    while (v >= 0x80) {
      this.#buf[this.#pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.#buf[this.#pos++] = v;
  }

  /** Writes a zigzag signed varint (32-bit). */
  varint(value: number): void {
    this.uvarint(((value << 1) ^ (value >> 31)) >>> 0);
  }

  /** Writes a zigzag signed varlong (64-bit). */
  varlong(value: bigint): void {
    this.#ensure(10);
    let v = BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
    while (v >= 0x80n) {
      this.#buf[this.#pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.#buf[this.#pos++] = Number(v);
  }

  /** Writes a UUID given in Kafka's 22-character base64url form. */
  uuid(value: string): void {
    if (value.length !== 22) {
      throw new FrameEncodeError(`Cannot encode uuid as it is not 22 base64url characters`);
    }
    this.#ensure(16);
    let acc = 0;
    let bits = 0;
    for (let i = 0; i < 22; i++) {
      const c = value.charCodeAt(i);
      const d = c < 128 ? _B64_INDEX[c]! : -1;
      if (d < 0) throw new FrameEncodeError(`Cannot encode uuid as it is not base64url`);
      acc = ((acc << 6) | d) & 0xffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        this.#buf[this.#pos++] = (acc >> bits) & 0xff;
      }
    }
  }

  /** Writes raw bytes with no length prefix. */
  raw(bytes: Uint8Array): void {
    if (bytes.length >= this.#referenceFrom) {
      // Kept by reference: the bytes written before it become a finished segment.
      if (this.#pos > this.#segmentStart) {
        this.#parts.push(this.#buf.subarray(this.#segmentStart, this.#pos));
      }
      this.#parts.push(bytes);
      this.#segmentStart = this.#pos;
      this.#referenced += bytes.length;
      if (this.length > this.#maxBytes) {
        throw new FrameEncodeError(
          `Cannot encode frame as it exceeds maxBytes: current value is ${this.length} > ${this.#maxBytes}`,
        );
      }
      return;
    }
    this.#ensure(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  /** Writes a length prefix: int16/int32 when not flexible, uvarint(length + 1) when flexible. */
  #lengthPrefix(length: number, flexible: boolean, wide: boolean): void {
    if (flexible) this.uvarint(length + 1);
    else if (wide) this.int32(length);
    else this.int16(length);
  }

  /** Writes a non-nullable string: STRING (int16 length) or COMPACT_STRING when flexible. */
  string(value: string, flexible: boolean): void {
    const n = value.length;
    let ascii = n <= 0x7fff;
    for (let i = 0; ascii && i < n; i++) ascii = value.charCodeAt(i) < 0x80;
    if (!ascii) {
      this.#utf8String(_encoder.encode(value), flexible);
      return;
    }
    this.#lengthPrefix(n, flexible, false);
    this.#ensure(n);
    const buf = this.#buf;
    let p = this.#pos;
    for (let i = 0; i < n; i++) buf[p++] = value.charCodeAt(i);
    this.#pos = p;
  }

  #utf8String(bytes: Uint8Array, flexible: boolean): void {
    if (!flexible && bytes.length > 0x7fff) {
      throw new FrameEncodeError(
        `Cannot encode string as it exceeds 32767 bytes: current value is ${bytes.length}`,
      );
    }
    this.#lengthPrefix(bytes.length, flexible, false);
    this.raw(bytes);
  }

  /** Writes a nullable string: NULLABLE_STRING or COMPACT_NULLABLE_STRING when flexible. */
  nullableString(value: string | null, flexible: boolean): void {
    if (value === null) this.#lengthPrefix(-1, flexible, false);
    else this.string(value, flexible);
  }

  /** Writes non-nullable bytes: BYTES (int32 length) or COMPACT_BYTES when flexible. */
  bytes(value: Uint8Array, flexible: boolean): void {
    this.#lengthPrefix(value.length, flexible, true);
    this.raw(value);
  }

  /** Writes nullable bytes: NULLABLE_BYTES or COMPACT_NULLABLE_BYTES when flexible. */
  nullableBytes(value: Uint8Array | null, flexible: boolean): void {
    if (value === null) this.#lengthPrefix(-1, flexible, true);
    else this.bytes(value, flexible);
  }

  /** Writes a RECORDS value (bytes or slices) as BYTES / COMPACT_BYTES; null as -1. */
  records(value: Records | null, flexible: boolean): void {
    if (value === null) return this.#lengthPrefix(-1, flexible, true);
    this.#lengthPrefix(value.length, flexible, true);
    if (value instanceof Uint8Array) return this.raw(value);
    for (const s of value.slices) this.raw(s);
  }

  /** Writes an array length: int32 or uvarint(length + 1) when flexible; -1 means null. */
  arrayLength(length: number, flexible: boolean): void {
    this.#lengthPrefix(length, flexible, true);
  }

  /**
   * Starts a size-prefixed region (a tagged field's value); returns a mark for
   * {@linkcode Writer.endSized}.
   */
  beginSized(): number {
    return this.#pos;
  }

  /** Ends a region begun at `mark`, inserting its uvarint size in front of it. */
  endSized(mark: number): void {
    const size = this.#pos - mark;
    const prefix = size < 0x80
      ? 1
      : size < 0x4000
      ? 2
      : size < 0x200000
      ? 3
      : size < 0x10000000
      ? 4
      : 5;
    this.#ensure(prefix);
    this.#buf.copyWithin(mark + prefix, mark, this.#pos);
    const end = this.#pos + prefix;
    this.#pos = mark;
    this.uvarint(size);
    this.#pos = end;
  }
}

/**
 * Bounds-checked big-endian reader over one frame. Every failure throws
 * {@linkcode MalformedFrameError}.
 *
 * @example
 * ```ts
 * import { Reader } from "./wire.ts";
 * const r = new Reader(new Uint8Array([0, 1, 0x61]));
 * if (r.string(false) !== "a") throw new Error("unreachable");
 * ```
 */
export class Reader {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  #pos: number;
  readonly #end: number;

  /** Reads `buf` from `start` up to `end`. */
  constructor(buf: Uint8Array, start = 0, end: number = buf.length) {
    if (!(start >= 0 && start <= end && end <= buf.length)) {
      throw new RangeError(`Cannot create Reader as [start, end] is outside the buffer`);
    }
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.#pos = start;
    this.#end = end;
  }

  /** The offset of the next byte to read. */
  get offset(): number {
    return this.#pos;
  }

  /** Bytes left before the end. */
  get remaining(): number {
    return this.#end - this.#pos;
  }

  #need(n: number): void {
    if (n > this.#end - this.#pos) {
      throw new MalformedFrameError(
        `Cannot read ${n} bytes as the frame ends: ${this.#end - this.#pos} bytes remain`,
        this.#pos,
      );
    }
  }

  /** Throws {@linkcode MalformedFrameError} at the current offset (used by generated decoders). */
  fail(message: string): never {
    throw new MalformedFrameError(message, this.#pos);
  }

  /** Skips `n` bytes. */
  skip(n: number): void {
    this.#need(n);
    this.#pos += n;
  }

  /** Throws unless the reader is exactly at `offset` (the end of a size-prefixed region). */
  expectOffset(offset: number): void {
    if (this.#pos !== offset) {
      throw new MalformedFrameError(
        `Cannot decode tagged field as its size does not match its content`,
        this.#pos,
      );
    }
  }

  /** Reads a boolean (any non-zero byte is true, as in Kafka). */
  bool(): boolean {
    this.#need(1);
    return this.#buf[this.#pos++] !== 0;
  }

  /** Reads a signed 8-bit integer. */
  int8(): number {
    this.#need(1);
    return this.#view.getInt8(this.#pos++);
  }

  /** Reads a signed 16-bit integer. */
  int16(): number {
    this.#need(2);
    const v = this.#view.getInt16(this.#pos);
    this.#pos += 2;
    return v;
  }

  /** Reads an unsigned 16-bit integer. */
  uint16(): number {
    this.#need(2);
    const v = this.#view.getUint16(this.#pos);
    this.#pos += 2;
    return v;
  }

  /** Reads a signed 32-bit integer. */
  int32(): number {
    this.#need(4);
    const v = this.#view.getInt32(this.#pos);
    this.#pos += 4;
    return v;
  }

  /** Reads an unsigned 32-bit integer. */
  uint32(): number {
    this.#need(4);
    const v = this.#view.getUint32(this.#pos);
    this.#pos += 4;
    return v;
  }

  /** Reads a signed 64-bit integer. */
  int64(): bigint {
    this.#need(8);
    const v = this.#view.getBigInt64(this.#pos);
    this.#pos += 8;
    return v;
  }

  /** Reads an IEEE 754 double. */
  float64(): number {
    this.#need(8);
    const v = this.#view.getFloat64(this.#pos);
    this.#pos += 8;
    return v;
  }

  /** Reads an unsigned varint of at most 5 bytes as a number in [0, 2^32). */
  uvarint(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      this.#need(1);
      const b = this.#buf[this.#pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) {
        if (result > 0xffffffff) break;
        return result;
      }
    }
    throw new MalformedFrameError(`Cannot read varint as it exceeds 32 bits`, this.#pos);
  }

  /** Reads a zigzag signed varint (32-bit). */
  varint(): number {
    const u = this.uvarint();
    return (u >>> 1) ^ -(u & 1);
  }

  /** Reads a zigzag signed varlong (64-bit). */
  varlong(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      this.#need(1);
      const b = this.#buf[this.#pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) {
        if (result > 0xffffffffffffffffn) break;
        return (result >> 1n) ^ -(result & 1n);
      }
    }
    throw new MalformedFrameError(`Cannot read varlong as it exceeds 64 bits`, this.#pos);
  }

  /** Reads a UUID and returns it in Kafka's 22-character base64url form. */
  uuid(): string {
    this.#need(16);
    const buf = this.#buf;
    const p = this.#pos;
    this.#pos += 16;
    let out = "";
    let acc = 0;
    let bits = 0;
    for (let i = 0; i < 16; i++) {
      acc = ((acc << 8) | buf[p + i]!) & 0xffffff;
      bits += 8;
      while (bits >= 6) {
        bits -= 6;
        out += _B64[(acc >> bits) & 63];
      }
    }
    return out + _B64[(acc << (6 - bits)) & 63];
  }

  /** Reads a length prefix; returns -1 for null. */
  #length(flexible: boolean, wide: boolean): number {
    const start = this.#pos;
    const n = flexible ? this.uvarint() - 1 : wide ? this.int32() : this.int16();
    if (n < -1) throw new MalformedFrameError(`Cannot read length as it is negative: ${n}`, start);
    return n;
  }

  #utf8(n: number): string {
    this.#need(n);
    const buf = this.#buf;
    const p = this.#pos;
    this.#pos += n;
    if (n > 64) return _decoder.decode(buf.subarray(p, p + n));
    // Short ASCII strings (topic names, client ids) are the common case: building them from
    // char codes avoids a TextDecoder call and a subarray allocation per string.
    let s = "";
    for (let i = p; i < p + n; i++) {
      const c = buf[i]!;
      if (c >= 0x80) return _decoder.decode(buf.subarray(p, p + n));
      s += String.fromCharCode(c);
    }
    return s;
  }

  /** Reads a non-nullable string: STRING or COMPACT_STRING when flexible. */
  string(flexible: boolean): string {
    const start = this.#pos;
    const n = this.#length(flexible, false);
    if (n < 0) throw new MalformedFrameError(`Cannot read string as it is null`, start);
    return this.#utf8(n);
  }

  /** Reads a nullable string: NULLABLE_STRING or COMPACT_NULLABLE_STRING when flexible. */
  nullableString(flexible: boolean): string | null {
    const n = this.#length(flexible, false);
    return n < 0 ? null : this.#utf8(n);
  }

  /** Reads non-nullable bytes into a copy: BYTES or COMPACT_BYTES when flexible. */
  bytes(flexible: boolean): Uint8Array {
    const start = this.#pos;
    const n = this.#length(flexible, true);
    if (n < 0) throw new MalformedFrameError(`Cannot read bytes as they are null`, start);
    this.#need(n);
    this.#pos += n;
    return this.#buf.slice(this.#pos - n, this.#pos);
  }

  /** Reads nullable bytes into a copy. */
  nullableBytes(flexible: boolean): Uint8Array | null {
    const n = this.#length(flexible, true);
    if (n < 0) return null;
    this.#need(n);
    this.#pos += n;
    return this.#buf.slice(this.#pos - n, this.#pos);
  }

  /**
   * Reads a nullable RECORDS field as a zero-copy view of the frame buffer: record batches are
   * stored and forwarded as received, so copying them here would be wasted work.
   */
  records(flexible: boolean): Uint8Array | null {
    const n = this.#length(flexible, true);
    if (n < 0) return null;
    this.#need(n);
    this.#pos += n;
    return this.#buf.subarray(this.#pos - n, this.#pos);
  }

  /**
   * Reads an array length; returns -1 for null. The length is checked against the remaining
   * bytes, given that each element takes at least `minElementBytes` (>= 1), before the caller
   * allocates anything.
   */
  arrayLength(flexible: boolean, minElementBytes: number): number {
    const start = this.#pos;
    const n = this.#length(flexible, true);
    if (n > 0 && n * minElementBytes > this.#end - this.#pos) {
      throw new MalformedFrameError(
        `Cannot read array of ${n} elements as only ${this.#end - this.#pos} bytes remain`,
        start,
      );
    }
    return n;
  }

  /** Reads a tagged-field count, checked against the remaining bytes (each field is >= 2 bytes). */
  taggedFieldCount(): number {
    const start = this.#pos;
    const n = this.uvarint();
    if (n * 2 > this.#end - this.#pos) {
      throw new MalformedFrameError(`Cannot read ${n} tagged fields as the frame ends`, start);
    }
    return n;
  }

  /** Reads a tagged field's size and returns the offset where the field ends. */
  taggedFieldEnd(): number {
    const n = this.uvarint();
    this.#need(n);
    return this.#pos + n;
  }

  /** Skips all tagged fields of a struct (used where none are known, as in headers). */
  skipTaggedFields(): void {
    const count = this.taggedFieldCount();
    for (let i = 0; i < count; i++) {
      this.uvarint();
      this.skip(this.uvarint());
    }
  }
}
