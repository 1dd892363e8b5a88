/**
 * Time and randomness as `ResilientObjectStore` and `FaultyObjectStore` see them. They never
 * call `Date.now`, `setTimeout` or `Math.random` themselves, so tests drive them with a
 * virtual clock and a seeded random source and get the same run every time.
 *
 * @module
 */

/** A clock that can also wait. */
export interface ObjectStoreClock {
  /** Milliseconds since some fixed origin; only differences matter. */
  now(): number;
  /**
   * Resolves after `ms` milliseconds, or rejects with `signal.reason` as soon as `signal`
   * aborts (and then holds no timer).
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** A source of uniformly distributed numbers in [0, 1). */
export type RandomSource = () => number;

/**
 * The real clock: `performance.now()` and `setTimeout`. This is the thin driver the broker
 * passes in; tests pass a virtual clock.
 */
export const systemObjectStoreClock: ObjectStoreClock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};

/**
 * A small, fast seeded generator (mulberry32): the same seed gives the same sequence on
 * every run, which is what makes fault-injection tests replayable.
 *
 * @example
 * ```ts
 * import { seededRandom } from "./object_store_clock.ts";
 * const a = seededRandom(42);
 * const b = seededRandom(42);
 * console.assert(a() === b() && a() < 1);
 * ```
 */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
