/**
 * CRC32C (Castagnoli), the checksum of Kafka RecordBatch v2 and of RustMQ WAL entries.
 *
 * Large inputs go to `@node-rs/crc32`, a napi addon using the CPU's CRC32C instruction: measured
 * here at about 29 GB/s against 0.74 GB/s for the JavaScript loop, which matters because every
 * batch is checked on entry, again in the WAL, and after every read. The slicing-by-8 loop below
 * stays as the fallback when the addon cannot load (another platform, or a compiled binary
 * without it) and for small inputs, where the call overhead dominates.
 *
 * @module
 */

import { Buffer } from "node:buffer";

type _NativeCrc = (input: Buffer, initialState?: number) => number;

/** Inputs shorter than this use the JavaScript loop: the addon's call overhead dominates. */
const NATIVE_MIN_BYTES = 256;

async function _loadNative(): Promise<_NativeCrc | null> {
  try {
    const m = await import("@node-rs/crc32");
    const f = m.crc32c as _NativeCrc;
    // Trust the addon only if it reproduces the RFC 3720 check value.
    return (f(Buffer.from("123456789")) >>> 0) === 0xe3069283 ? f : null;
  } catch {
    return null;
  }
}

const _native: _NativeCrc | null = await _loadNative();

/** Which implementation large inputs use: "native" (napi) or "js". */
export function crc32cBackend(): "native" | "js" {
  return _native === null ? "js" : "native";
}

const POLY = 0x82f63b78;

function _makeTables(): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[n] = c >>> 0;
  }
  tables.push(t0);
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1]!;
    const cur = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      const p = prev[n]!;
      cur[n] = ((p >>> 8) ^ t0[p & 0xff]!) >>> 0;
    }
    tables.push(cur);
  }
  return tables;
}

const [T0, T1, T2, T3, T4, T5, T6, T7] = _makeTables() as [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
];

/**
 * Continues a CRC32C over `bytes`, starting from a previous result (0 to begin).
 *
 * @example
 * ```ts
 * import { crc32c } from "./crc32c.ts";
 * import assert from "node:assert/strict";
 * // The check value from RFC 3720, appendix B.4.
 * assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
 * ```
 */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  if (_native !== null && bytes.length >= NATIVE_MIN_BYTES) {
    return _native(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), previous) >>> 0;
  }
  return crc32cJs(bytes, previous);
}

/** The portable implementation (exported so tests can compare both). */
export function crc32cJs(bytes: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  let i = 0;
  const n = bytes.length;
  const end8 = n - (n % 8);
  while (i < end8) {
    const a = (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) ^
      crc;
    crc = T7[a & 0xff]! ^ T6[(a >>> 8) & 0xff]! ^ T5[(a >>> 16) & 0xff]! ^ T4[a >>> 24]! ^
      T3[bytes[i + 4]!]! ^ T2[bytes[i + 5]!]! ^ T1[bytes[i + 6]!]! ^ T0[bytes[i + 7]!]!;
    i += 8;
  }
  while (i < n) crc = T0[(crc ^ bytes[i++]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
