/**
 * The time source the SDK's logic uses, so tests can drive it: the producer's linger timer,
 * retry backoff and delivery deadlines all go through a {@linkcode Clock}.
 *
 * @module
 */

/** A cancellable timer handle. */
export type TimerHandle = ReturnType<typeof setTimeout>;

/** Time and timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  nowMs(): number;
  /** Calls `fn` after `ms` milliseconds. */
  setTimer(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; unknown handles are ignored. */
  clearTimer(handle: TimerHandle): void;
}

/**
 * The real clock.
 *
 * @example
 * ```ts
 * import { systemClock } from "./clock.ts";
 * if (systemClock.nowMs() <= 0) throw new Error();
 * ```
 */
export const systemClock: Clock = {
  nowMs: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (handle) => clearTimeout(handle),
};

/** Resolves after `ms` on `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(resolve, ms));
}

/** Random numbers in [0, 1), injected so jitter is reproducible in tests. */
export type Random = () => number;

/** The default source of randomness, used for backoff jitter only. */
export const systemRandom: Random = () => Math.random();
