/**
 * Pure-JS LZ4 frame format, the portable fallback for when the `lz4-napi` addon cannot load.
 *
 * Kafka magic v2 batches carry a standard LZ4 frame (the header-checksum bug of magic 0 is long
 * fixed). The Java client's KafkaLZ4BlockInputStream only reads frames with independent blocks,
 * so the compressor writes FLG 0x60 (version 1, independent blocks, no checksums) and 64 KiB
 * blocks, exactly like lz4-napi's defaults. The decoder also accepts linked blocks, block and
 * content checksums (skipped, not verified), a content size and a dictionary id.
 *
 * @module
 */

import { CorruptRecordError, RecordTooLargeError } from "./record_errors.ts";

const FRAME_MAGIC = 0x184d2204;
const BLOCK_BYTES = 64 * 1024;
const HASH_BITS = 16;
const MIN_MATCH = 4;
// LZ4 block rules: the last 5 bytes are literals, and no match starts in the last 12 bytes.
const LAST_LITERALS = 5;
const MF_LIMIT = 12;

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

function _rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function _u32(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

/**
 * xxHash32 of `bytes` with `seed`, as used by LZ4 frame checksums.
 *
 * @example
 * ```ts
 * import { xxhash32 } from "./lz4_js.ts";
 * import assert from "node:assert/strict";
 * assert.equal(xxhash32(new Uint8Array(0)), 0x02cc5d05);
 * ```
 */
export function xxhash32(bytes: Uint8Array, seed = 0): number {
  const n = bytes.length;
  let i = 0;
  let h: number;
  if (n >= 16) {
    let v1 = (seed + P1 + P2) | 0;
    let v2 = (seed + P2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - P1) | 0;
    while (i + 16 <= n) {
      v1 = Math.imul(_rotl((v1 + Math.imul(_u32(bytes, i), P2)) | 0, 13), P1);
      v2 = Math.imul(_rotl((v2 + Math.imul(_u32(bytes, i + 4), P2)) | 0, 13), P1);
      v3 = Math.imul(_rotl((v3 + Math.imul(_u32(bytes, i + 8), P2)) | 0, 13), P1);
      v4 = Math.imul(_rotl((v4 + Math.imul(_u32(bytes, i + 12), P2)) | 0, 13), P1);
      i += 16;
    }
    h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) | 0;
  } else {
    h = (seed + P5) | 0;
  }
  h = (h + n) | 0;
  while (i + 4 <= n) {
    h = Math.imul(_rotl((h + Math.imul(_u32(bytes, i), P3)) | 0, 17), P4);
    i += 4;
  }
  while (i < n) {
    h = Math.imul(_rotl((h + Math.imul(bytes[i]!, P5)) | 0, 11), P1);
    i++;
  }
  h = Math.imul(h ^ (h >>> 15), P2);
  h = Math.imul(h ^ (h >>> 13), P3);
  return (h ^ (h >>> 16)) >>> 0;
}

function _corrupt(why: string): CorruptRecordError {
  return new CorruptRecordError(`Cannot decompress lz4 data as ${why}`);
}

function _readLength(src: Uint8Array, ip: number, base: number): [number, number] {
  let len = base;
  if (base === 15) {
    let b: number;
    do {
      if (ip >= src.length) throw _corrupt("a length is truncated");
      b = src[ip++]!;
      len += b;
    } while (b === 255);
  }
  return [len, ip];
}

// Thrown by the block decoder when the output buffer is full; the frame decoder knows whether
// that means "too large" (buffer capped at the limit) or "corrupt" (block beyond its maximum).
const _OVERFLOW = new Error("lz4 output overflow");

/** Decodes one LZ4 block from `src` into `out` at `op`; earlier bytes of `out` are history. */
function _decodeBlock(src: Uint8Array, out: Uint8Array, op: number): number {
  let ip = 0;
  while (ip < src.length) {
    const token = src[ip++]!;
    let lit: number;
    [lit, ip] = _readLength(src, ip, token >>> 4);
    if (ip + lit > src.length) throw _corrupt("a literal run is truncated");
    if (op + lit > out.length) throw _OVERFLOW;
    out.set(src.subarray(ip, ip + lit), op);
    ip += lit;
    op += lit;
    if (ip === src.length) break; // the last sequence has literals only
    if (ip + 2 > src.length) throw _corrupt("a match offset is truncated");
    const dist = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    let len: number;
    [len, ip] = _readLength(src, ip, token & 15);
    len += MIN_MATCH;
    if (dist === 0 || dist > op) throw _corrupt("a match offset is out of range");
    if (op + len > out.length) throw _OVERFLOW;
    for (let i = 0; i < len; i++, op++) out[op] = out[op - dist]!;
  }
  return op;
}

interface _FrameHeader {
  blockChecksum: boolean;
  contentChecksum: boolean;
  blockMaxBytes: number;
  headerBytes: number;
}

function _readFrameHeader(src: Uint8Array): _FrameHeader {
  if (src.length < 7) throw _corrupt("the frame header is truncated");
  if (_u32(src, 0) !== FRAME_MAGIC) throw _corrupt("the frame magic is wrong");
  const flg = src[4]!;
  const bd = src[5]!;
  if (flg >>> 6 !== 1) throw _corrupt(`the frame version is ${flg >>> 6}`);
  const sizeCode = (bd >>> 4) & 7;
  if (sizeCode < 4) throw _corrupt(`the block size code is ${sizeCode}`);
  const headerBytes = 7 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0);
  if (src.length < headerBytes) throw _corrupt("the frame header is truncated");
  const hc = (xxhash32(src.subarray(4, headerBytes - 1)) >>> 8) & 0xff;
  if (hc !== src[headerBytes - 1]) throw _corrupt("the frame header checksum is wrong");
  return {
    blockChecksum: (flg & 0x10) !== 0,
    contentChecksum: (flg & 0x04) !== 0,
    blockMaxBytes: 1 << (8 + 2 * sizeCode),
    headerBytes,
  };
}

/**
 * Decompresses an LZ4 frame, refusing to produce more than `maxBytes`.
 *
 * @example
 * ```ts
 * import { lz4CompressFrame, lz4DecompressFrame } from "./lz4_js.ts";
 * import assert from "node:assert/strict";
 * const data = new TextEncoder().encode("kafka kafka kafka kafka kafka kafka");
 * assert.deepEqual(lz4DecompressFrame(lz4CompressFrame(data), 1024), data);
 * ```
 */
export function lz4DecompressFrame(src: Uint8Array, maxBytes: number): Uint8Array {
  const header = _readFrameHeader(src);
  // Output grows in whole blocks; linked blocks need earlier output as history, so one buffer.
  let out = new Uint8Array(Math.min(maxBytes, 4 * header.blockMaxBytes));
  let op = 0;
  let ip = header.headerBytes;
  for (;;) {
    if (ip + 4 > src.length) throw _corrupt("a block size is truncated");
    const word = _u32(src, ip);
    ip += 4;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    if (ip + size > src.length) throw _corrupt("a block is truncated");
    if (size > header.blockMaxBytes) throw _corrupt("a block is larger than the maximum");
    const need = op + header.blockMaxBytes;
    const capped = need > maxBytes;
    if (need > out.length) {
      if (op >= maxBytes) {
        throw new RecordTooLargeError(
          `Cannot decompress lz4 data as it exceeds the maximum of ${maxBytes} bytes`,
        );
      }
      const grown = new Uint8Array(Math.min(Math.max(need, out.length * 2), maxBytes + 1));
      grown.set(out.subarray(0, op));
      out = grown;
    }
    const block = src.subarray(ip, ip + size);
    try {
      if ((word & 0x80000000) !== 0 && op + size > out.length) throw _OVERFLOW;
      if (word & 0x80000000) out.set(block, op);
      op = word & 0x80000000 ? op + size : _decodeBlock(block, out, op);
    } catch (err) {
      if (err !== _OVERFLOW) throw err;
      if (!capped) throw _corrupt("a block decodes beyond the maximum block size");
      throw new RecordTooLargeError(
        `Cannot decompress lz4 data as it exceeds the maximum of ${maxBytes} bytes`,
      );
    }
    ip += size + (header.blockChecksum ? 4 : 0);
  }
  if (op > maxBytes) {
    throw new RecordTooLargeError(
      `Cannot decompress lz4 data as it exceeds the maximum of ${maxBytes} bytes`,
    );
  }
  if (header.contentChecksum && ip + 4 > src.length) throw _corrupt("the checksum is truncated");
  return out.slice(0, op);
}

function _writeLength(out: Uint8Array, op: number, len: number): number {
  while (len >= 255) {
    out[op++] = 255;
    len -= 255;
  }
  out[op++] = len;
  return op;
}

function _writeSequence(
  out: Uint8Array,
  op: number,
  src: Uint8Array,
  lit: [from: number, to: number],
  match: [dist: number, len: number] | null,
): number {
  const litLen = lit[1] - lit[0];
  const mlen = match === null ? 0 : match[1] - MIN_MATCH;
  const tokenAt = op++;
  out[tokenAt] = (Math.min(litLen, 15) << 4) | (match === null ? 0 : Math.min(mlen, 15));
  if (litLen >= 15) op = _writeLength(out, op, litLen - 15);
  out.set(src.subarray(lit[0], lit[1]), op);
  op += litLen;
  if (match === null) return op;
  out[op++] = match[0] & 0xff;
  out[op++] = match[0] >>> 8;
  if (mlen >= 15) op = _writeLength(out, op, mlen - 15);
  return op;
}

/** Compresses one block (at most 64 KiB) with a greedy single-hash matcher. */
function _encodeBlock(src: Uint8Array, out: Uint8Array): number {
  const table = new Int32Array(1 << HASH_BITS).fill(-1);
  const n = src.length;
  const matchLimit = n - LAST_LITERALS;
  let anchor = 0;
  let ip = 0;
  let op = 0;
  while (ip < n - MF_LIMIT) {
    const word = _u32(src, ip);
    const h = Math.imul(word, 0x9e3779b1) >>> (32 - HASH_BITS);
    const cand = table[h]!;
    table[h] = ip;
    if (cand < 0 || _u32(src, cand) !== word) {
      ip++;
      continue;
    }
    let len = MIN_MATCH;
    while (ip + len < matchLimit && src[cand + len] === src[ip + len]) len++;
    op = _writeSequence(out, op, src, [anchor, ip], [ip - cand, len]);
    ip += len;
    anchor = ip;
  }
  return _writeSequence(out, op, src, [anchor, n], null);
}

/**
 * Compresses `src` into an LZ4 frame that the Kafka Java client, librdkafka and kafkajs read.
 *
 * @example
 * ```ts
 * import { lz4CompressFrame } from "./lz4_js.ts";
 * import assert from "node:assert/strict";
 * // Magic, FLG 0x60, BD 0x40, header checksum 0x82, then the end mark.
 * assert.deepEqual([...lz4CompressFrame(new Uint8Array(0))], [4, 34, 77, 24, 96, 64, 130, 0, 0, 0, 0]);
 * ```
 */
export function lz4CompressFrame(src: Uint8Array): Uint8Array {
  const blocks = Math.ceil(src.length / BLOCK_BYTES);
  const out = new Uint8Array(7 + 4 + blocks * (4 + BLOCK_BYTES + BLOCK_BYTES / 255 + 16));
  out.set([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40], 0);
  out[6] = (xxhash32(out.subarray(4, 6)) >>> 8) & 0xff;
  const view = new DataView(out.buffer);
  let op = 7;
  const scratch = new Uint8Array(BLOCK_BYTES + BLOCK_BYTES / 255 + 16);
  for (let from = 0; from < src.length; from += BLOCK_BYTES) {
    const block = src.subarray(from, from + BLOCK_BYTES);
    const size = _encodeBlock(block, scratch);
    if (size < block.length) {
      view.setUint32(op, size, true);
      out.set(scratch.subarray(0, size), op + 4);
      op += 4 + size;
    } else {
      // Incompressible: store the block raw, flagged by the high bit of its size.
      view.setUint32(op, (block.length | 0x80000000) >>> 0, true);
      out.set(block, op + 4);
      op += 4 + block.length;
    }
  }
  view.setUint32(op, 0, true);
  return out.slice(0, op + 4);
}
