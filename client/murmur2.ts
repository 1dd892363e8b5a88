/**
 * MurmurHash2 exactly as Apache Kafka's Java client computes it (`Utils.murmur2`, seed
 * 0x9747b28c), so that keyed records land on the same partition whichever client wrote them.
 *
 * @module
 */

const _SEED = 0x9747b28c;
const _M = 0x5bd1e995;

/**
 * The signed 32-bit murmur2 hash of `bytes`, equal to Java's `Utils.murmur2(bytes)`.
 *
 * @example
 * ```ts
 * import { murmur2 } from "./murmur2.ts";
 * if (murmur2(new TextEncoder().encode("21")) !== -973932308) throw new Error();
 * ```
 */
export function murmur2(bytes: Uint8Array): number {
  const length = bytes.length;
  let h = _SEED ^ length;
  const blocks = length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    // Little-endian 4-byte block, as Java assembles it from the byte array.
    let k = (bytes[i]! & 0xff) | ((bytes[i + 1]! & 0xff) << 8) | ((bytes[i + 2]! & 0xff) << 16) |
      ((bytes[i + 3]! & 0xff) << 24);
    k = Math.imul(k, _M);
    k ^= k >>> 24;
    k = Math.imul(k, _M);
    h = Math.imul(h, _M);
    h ^= k;
  }
  // The tail falls through from 3 to 1, as the Java switch does.
  const rest = length & 3;
  if (rest === 3) h ^= (bytes[blocks + 2]! & 0xff) << 16;
  if (rest >= 2) h ^= (bytes[blocks + 1]! & 0xff) << 8;
  if (rest >= 1) {
    h ^= bytes[blocks]! & 0xff;
    h = Math.imul(h, _M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, _M);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * Java's `Utils.toPositive`: clears the sign bit (not `Math.abs`, which overflows on
 * `Integer.MIN_VALUE`).
 *
 * @example
 * ```ts
 * import { toPositive } from "./murmur2.ts";
 * if (toPositive(-1) !== 0x7fffffff) throw new Error();
 * ```
 */
export function toPositive(value: number): number {
  return value & 0x7fffffff;
}
