/**
 * The one source of randomness every core receives: Raft election timeouts, fault injection,
 * retry jitter, member ids and object names all draw from a {@linkcode Random}, so a test or
 * simulator that seeds it replays the same run exactly. The roles pass {@linkcode systemRandom}.
 *
 * @module
 */

/** A source of uniform numbers in [0, 1), and of unique ids. */
export interface Random {
  next(): number;
  /** A version-4 UUID in its text form. */
  uuid(): string;
}

/**
 * The real source: `crypto` for ids, so ids drawn on different machines never collide.
 *
 * @example
 * ```ts
 * import { systemRandom } from "./random.ts";
 * if (systemRandom.uuid().length !== 36 || systemRandom.next() >= 1) throw new Error();
 * ```
 */
export const systemRandom: Random = {
  next: () => Math.random(),
  uuid: () => crypto.randomUUID(),
};

/**
 * A small seeded generator (sfc32) with helpers. Not cryptographic: it only has to be fast,
 * uniform enough, and identical on every run for one seed.
 *
 * @example
 * ```ts
 * import { SeededRandom } from "./random.ts";
 * const a = new SeededRandom(7), b = new SeededRandom(7);
 * if (a.int(100) !== b.int(100)) throw new Error("not deterministic");
 * ```
 */
export class SeededRandom implements Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) {
      throw new RangeError(`Cannot seed as seed is not an integer: ${seed}`);
    }
    // Spread the seed over the four words with splitmix-style constants, then discard a few
    // outputs so that nearby seeds do not start with correlated values.
    this.#a = 0x9e3779b9 ^ seed;
    this.#b = 0x243f6a88 ^ Math.imul(seed, 0x85ebca6b);
    this.#c = 0xb7e15162 ^ Math.imul(seed, 0xc2b2ae35);
    this.#d = 1;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A uniform number in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A version-4 UUID drawn from this generator, so seeded runs name things the same way. */
  uuid(): string {
    const hex = Array.from({ length: 4 }, () => this.nextUint32().toString(16).padStart(8, "0"))
      .join("");
    const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${
      hex.slice(17, 20)
    }-${hex.slice(20, 32)}`;
  }

  /** A uniform integer in [0, maxExclusive). */
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }

  /** A uniform integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new RangeError("Cannot pick from an empty array");
    return item;
  }
}

/**
 * A source that always draws `value`, for tests that pin jitter; ids stay unique.
 *
 * @example
 * ```ts
 * import { fixedRandom } from "./random.ts";
 * if (fixedRandom(0.5).next() !== 0.5) throw new Error();
 * ```
 */
export function fixedRandom(value: number): Random {
  if (!(value >= 0 && value < 1)) {
    throw new RangeError(`Cannot draw ${value}: a random value lies in [0, 1)`);
  }
  return { next: () => value, uuid: () => crypto.randomUUID() };
}
