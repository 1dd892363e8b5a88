/**
 * Test support: a seeded PRNG and a value populator that fills every field of a generated
 * message that exists at a given version, driven by the schema descriptors.
 *
 * @module
 */

import type { FieldDescriptor, MessageDescriptor, VersionRange } from "./messages/descriptors.ts";
import { Reader } from "./wire.ts";

/** A small deterministic PRNG (mulberry32). */
export class SeededRandom {
  #state: number;

  /** Creates a generator from a 32-bit seed. */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform integer in [0, n). */
  below(n: number): number {
    return this.nextUint32() % n;
  }

  /** A byte array of `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.nextUint32() & 0xff;
    return out;
  }
}

/** Whether `v` lies in `range`. */
export function inRange(range: VersionRange | null, v: number): boolean {
  return range !== null && v >= range[0] && v <= range[1];
}

const _STRINGS = ["", "a", "topic-1", "héllo wörld", "日本語", "x".repeat(70)];

function _scalar(type: string, rnd: SeededRandom): unknown {
  switch (type) {
    case "bool":
      return rnd.below(2) === 1;
    case "int8":
      return rnd.below(256) - 128;
    case "int16":
      return rnd.below(65536) - 32768;
    case "uint16":
      return rnd.below(65536);
    case "int32":
      return rnd.nextUint32() | 0;
    case "int64":
      return BigInt.asIntN(64, (BigInt(rnd.nextUint32()) << 32n) | BigInt(rnd.nextUint32()));
    case "float64":
      return (rnd.nextUint32() | 0) / 7;
    case "string":
      return _STRINGS[rnd.below(_STRINGS.length)]!;
    case "uuid":
      return new Reader(rnd.bytes(16)).uuid();
    case "bytes":
    case "records":
      return rnd.bytes(rnd.below(6));
    default:
      throw new Error(`unknown type ${type}`);
  }
}

function _value(f: FieldDescriptor, v: number, rnd: SeededRandom, depth: number): unknown {
  if (inRange(f.nullableVersions, v) && rnd.below(5) === 0) return null;
  const isArray = f.type.startsWith("[]");
  const elem = isArray ? f.type.slice(2) : f.type;
  const one = () =>
    elem === "struct"
      ? populateStruct(f.fields!, f.create!, v, rnd, depth + 1)
      : _scalar(elem, rnd);
  if (!isArray) return one();
  const n = depth > 3 ? 0 : rnd.below(3);
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(one());
  return out;
}

/** Fills every field present at version `v`; absent fields keep the factory defaults. */
export function populateStruct(
  fields: readonly FieldDescriptor[],
  create: () => unknown,
  v: number,
  rnd: SeededRandom,
  depth = 0,
): Record<string, unknown> {
  const obj = create() as Record<string, unknown>;
  for (const f of fields) {
    if (inRange(f.versions, v)) obj[f.name] = _value(f, v, rnd, depth);
  }
  return obj;
}

/** Builds a populated body of `desc` at version `v`. */
export function populateMessage(
  desc: MessageDescriptor,
  v: number,
  rnd: SeededRandom,
): Record<string, unknown> {
  return populateStruct(desc.fields, desc.create, v, rnd);
}
