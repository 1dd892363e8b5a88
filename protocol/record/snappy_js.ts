/**
 * Pure-JS Snappy, the portable fallback for when the `snappy` napi addon cannot load (for
 * example if napi addons do not survive `deno compile`). It speaks raw Snappy blocks and the
 * xerial framing that the Kafka Java client writes.
 *
 * The compressor is a plain greedy single-hash matcher: its output is valid Snappy that every
 * decoder reads, but it is slower and compresses a little worse than the native one.
 *
 * @module
 */

import { CorruptRecordError, RecordTooLargeError } from "./record_errors.ts";

/** The 8 magic bytes that open a xerial-framed Snappy stream: 0x82 "SNAPPY" 0x00. */
export const XERIAL_MAGIC: Uint8Array = new Uint8Array([
  0x82,
  0x53,
  0x4e,
  0x41,
  0x50,
  0x50,
  0x59,
  0x00,
]);
/** Length of the xerial header: magic, int32 version, int32 compatible version. */
export const XERIAL_HEADER_BYTES = 16;
// xerial's SnappyOutputStream default block size; Java reads any size.
const XERIAL_BLOCK_BYTES = 32 * 1024;
// Snappy encoders work in 64 KiB fragments so that copy offsets fit in 16 bits.
const FRAGMENT_BYTES = 64 * 1024;
const HASH_BITS = 14;

/** Whether `bytes` starts with the xerial Snappy header. */
export function isXerialFramed(bytes: Uint8Array): boolean {
  if (bytes.length < XERIAL_HEADER_BYTES) return false;
  for (let i = 0; i < XERIAL_MAGIC.length; i++) if (bytes[i] !== XERIAL_MAGIC[i]) return false;
  return true;
}

function _corrupt(why: string): CorruptRecordError {
  return new CorruptRecordError(`Cannot decompress snappy data as ${why}`);
}

/** Reads the unsigned LEB128 length preamble of a raw Snappy block. */
function _readPreamble(src: Uint8Array): [length: number, offset: number] {
  let length = 0;
  let scale = 1;
  for (let i = 0; i < 5; i++) {
    if (i >= src.length) throw _corrupt("the length preamble is truncated");
    const b = src[i]!;
    length += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [length, i + 1];
    scale *= 128;
  }
  throw _corrupt("the length preamble is too long");
}

/**
 * Decompresses one raw Snappy block, refusing to produce more than `maxBytes`.
 *
 * @example
 * ```ts
 * import { snappyCompressRaw, snappyDecompressRaw } from "./snappy_js.ts";
 * import assert from "node:assert/strict";
 * const data = new TextEncoder().encode("abcabcabcabcabc");
 * assert.deepEqual(snappyDecompressRaw(snappyCompressRaw(data), 1024), data);
 * ```
 */
export function snappyDecompressRaw(src: Uint8Array, maxBytes: number): Uint8Array {
  const [length, start] = _readPreamble(src);
  if (length > maxBytes) {
    throw new RecordTooLargeError(
      `Cannot decompress snappy data as it would be ${length} bytes: maximum is ${maxBytes}`,
    );
  }
  const out = new Uint8Array(length);
  let ip = start;
  let op = 0;
  while (ip < src.length) {
    const tag = src[ip++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let len = tag >>> 2;
      if (len >= 60) {
        const extra = len - 59;
        if (ip + extra > src.length) throw _corrupt("a literal length is truncated");
        len = 0;
        for (let i = 0; i < extra; i++) len += src[ip + i]! * 2 ** (8 * i);
        ip += extra;
      }
      len += 1;
      if (ip + len > src.length || op + len > length) throw _corrupt("a literal overruns");
      out.set(src.subarray(ip, ip + len), op);
      ip += len;
      op += len;
      continue;
    }
    let len: number;
    let dist: number;
    if (kind === 1) {
      if (ip + 1 > src.length) throw _corrupt("a copy is truncated");
      len = 4 + ((tag >>> 2) & 7);
      dist = ((tag >>> 5) << 8) | src[ip++]!;
    } else if (kind === 2) {
      if (ip + 2 > src.length) throw _corrupt("a copy is truncated");
      len = 1 + (tag >>> 2);
      dist = src[ip]! | (src[ip + 1]! << 8);
      ip += 2;
    } else {
      if (ip + 4 > src.length) throw _corrupt("a copy is truncated");
      len = 1 + (tag >>> 2);
      dist = (src[ip]! | (src[ip + 1]! << 8) | (src[ip + 2]! << 16) | (src[ip + 3]! << 24)) >>> 0;
      ip += 4;
    }
    if (dist === 0 || dist > op || op + len > length) throw _corrupt("a copy is out of range");
    // Byte by byte, because an overlapping copy (dist < len) repeats a pattern.
    for (let i = 0; i < len; i++, op++) out[op] = out[op - dist]!;
  }
  if (op !== length) throw _corrupt(`it decoded ${op} bytes of ${length}`);
  return out;
}

function _writeLiteral(out: Uint8Array, op: number, src: Uint8Array, from: number, to: number) {
  const n = to - from - 1;
  if (n < 60) out[op++] = n << 2;
  else if (n < 0x100) {
    out[op++] = 60 << 2;
    out[op++] = n;
  } else if (n < 0x10000) {
    out[op++] = 61 << 2;
    out[op++] = n & 0xff;
    out[op++] = n >>> 8;
  } else {
    out[op++] = 62 << 2;
    out[op++] = n & 0xff;
    out[op++] = (n >>> 8) & 0xff;
    out[op++] = n >>> 16;
  }
  out.set(src.subarray(from, to), op);
  return op + (to - from);
}

function _writeCopy(out: Uint8Array, op: number, dist: number, len: number): number {
  while (len > 0) {
    // A 2-byte-offset copy carries 1..64 bytes.
    const n = Math.min(len, 64);
    out[op++] = ((n - 1) << 2) | 2;
    out[op++] = dist & 0xff;
    out[op++] = dist >>> 8;
    len -= n;
  }
  return op;
}

function _compressFragment(src: Uint8Array, out: Uint8Array, op: number): number {
  const table = new Int32Array(1 << HASH_BITS).fill(-1);
  const end = src.length;
  let anchor = 0;
  let ip = 0;
  while (ip + 4 <= end) {
    const word = src[ip]! | (src[ip + 1]! << 8) | (src[ip + 2]! << 16) | (src[ip + 3]! << 24);
    const h = Math.imul(word, 0x1e35a7bd) >>> (32 - HASH_BITS);
    const cand = table[h]!;
    table[h] = ip;
    if (
      cand < 0 || src[cand] !== src[ip] || src[cand + 1] !== src[ip + 1] ||
      src[cand + 2] !== src[ip + 2] || src[cand + 3] !== src[ip + 3]
    ) {
      ip++;
      continue;
    }
    let len = 4;
    while (ip + len < end && src[cand + len] === src[ip + len]) len++;
    if (anchor < ip) op = _writeLiteral(out, op, src, anchor, ip);
    op = _writeCopy(out, op, ip - cand, len);
    ip += len;
    anchor = ip;
  }
  if (anchor < end) op = _writeLiteral(out, op, src, anchor, end);
  return op;
}

/**
 * Compresses `src` into one raw Snappy block.
 *
 * @example
 * ```ts
 * import { snappyCompressRaw } from "./snappy_js.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual([...snappyCompressRaw(new Uint8Array([7]))], [1, 0, 7]);
 * ```
 */
export function snappyCompressRaw(src: Uint8Array): Uint8Array {
  // Worst case: every byte a literal, plus tags and the preamble.
  const out = new Uint8Array(32 + src.length + Math.ceil(src.length / 6));
  let op = 0;
  let v = src.length;
  while (v >= 0x80) {
    out[op++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[op++] = v;
  for (let from = 0; from < src.length; from += FRAGMENT_BYTES) {
    op = _compressFragment(src.subarray(from, from + FRAGMENT_BYTES), out, op);
  }
  return out.slice(0, op);
}

/** Frames `src` the way xerial's SnappyOutputStream (the Kafka Java client) does. */
export function snappyCompressXerial(
  src: Uint8Array,
  compressRaw: (block: Uint8Array) => Uint8Array = snappyCompressRaw,
): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = XERIAL_HEADER_BYTES;
  for (let from = 0; from < src.length; from += XERIAL_BLOCK_BYTES) {
    const block = compressRaw(src.subarray(from, from + XERIAL_BLOCK_BYTES));
    parts.push(block);
    total += 4 + block.length;
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(XERIAL_MAGIC, 0);
  view.setInt32(8, 1); // version
  view.setInt32(12, 1); // minimum compatible version
  let op = XERIAL_HEADER_BYTES;
  for (const block of parts) {
    view.setInt32(op, block.length);
    out.set(block, op + 4);
    op += 4 + block.length;
  }
  return out;
}

/**
 * Splits a xerial-framed stream into its raw Snappy blocks (without decompressing them).
 * Throws {@linkcode CorruptRecordError} on truncation.
 */
export function xerialBlocks(src: Uint8Array): Uint8Array[] {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const blocks: Uint8Array[] = [];
  let ip = XERIAL_HEADER_BYTES;
  while (ip < src.length) {
    if (ip + 4 > src.length) throw _corrupt("a xerial block length is truncated");
    const n = view.getInt32(ip);
    ip += 4;
    if (n < 0 || ip + n > src.length) throw _corrupt("a xerial block is truncated");
    blocks.push(src.subarray(ip, ip + n));
    ip += n;
  }
  return blocks;
}

/** Concatenates the decompressed blocks, enforcing `maxBytes` on the total. */
export function concatBlocks(blocks: Uint8Array[], maxBytes: number): Uint8Array {
  let total = 0;
  for (const b of blocks) total += b.length;
  if (total > maxBytes) {
    throw new RecordTooLargeError(
      `Cannot decompress as the output would be ${total} bytes: maximum is ${maxBytes}`,
    );
  }
  if (blocks.length === 1) return blocks[0]!;
  const out = new Uint8Array(total);
  let op = 0;
  for (const b of blocks) {
    out.set(b, op);
    op += b.length;
  }
  return out;
}

/** Decompresses raw or xerial-framed Snappy, refusing to produce more than `maxBytes`. */
export function snappyDecompress(src: Uint8Array, maxBytes: number): Uint8Array {
  if (!isXerialFramed(src)) return snappyDecompressRaw(src, maxBytes);
  const blocks: Uint8Array[] = [];
  let budget = maxBytes;
  for (const block of xerialBlocks(src)) {
    const plain = snappyDecompressRaw(block, budget);
    budget -= plain.length;
    blocks.push(plain);
  }
  return concatBlocks(blocks, maxBytes);
}
