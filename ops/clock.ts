/**
 * The one clock every core receives. Cores never call `Date.now`, `performance.now`,
 * `setTimeout` or `setInterval`: they take a {@linkcode Clock}, the broker and controller pass
 * {@linkcode systemClock}, and tests pass a {@linkcode ManualClock} whose time only moves when
 * the test says so.
 *
 * @module
 */

/** An opaque, cancellable timer handle. */
export type TimerHandle = number | ReturnType<typeof setTimeout>;

/** Time and timers. */
export interface Clock {
  /** Wall-clock milliseconds since the epoch (timestamps, retention, lease deadlines on disk). */
  nowMs(): number;
  /** Milliseconds on a monotonic scale; only differences matter (timeouts, rates, latencies). */
  monotonicMs(): number;
  /** Calls `fn` once after `delayMs` (negative counts as 0). */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
  /** Cancels a timer; a fired, cancelled or unknown handle is ignored. */
  clearTimer(handle: TimerHandle): void;
}

/**
 * Resolves after `ms` on `clock`, or rejects with `signal.reason` as soon as `signal` aborts
 * (and then holds no timer).
 *
 * @example
 * ```ts
 * import { ManualClock, sleep } from "./clock.ts";
 * const clock = new ManualClock();
 * let done = false;
 * sleep(clock, 50).then(() => (done = true));
 * clock.advance(50);
 * await Promise.resolve();
 * if (!done) throw new Error("sleep did not resolve");
 * ```
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clock.clearTimer(timer);
      reject(signal?.reason);
    };
    const timer = clock.setTimer(ms, () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `fn` every `intervalMs` on `clock` until the returned function is called. A tick that
 * returns a promise is awaited before the next is scheduled, so ticks never overlap.
 */
export function every(clock: Clock, intervalMs: number, fn: () => unknown): () => void {
  let stopped = false;
  let handle: TimerHandle | undefined;
  const schedule = () => {
    if (stopped) return;
    handle = clock.setTimer(intervalMs, async () => {
      try {
        await fn();
      } finally {
        schedule();
      }
    });
  };
  schedule();
  return () => {
    stopped = true;
    if (handle !== undefined) clock.clearTimer(handle);
  };
}

/**
 * The real clock: the thin driver that touches the runtime's time.
 *
 * @example
 * ```ts
 * import { systemClock } from "./clock.ts";
 * if (systemClock.nowMs() <= 0 || systemClock.monotonicMs() < 0) throw new Error();
 * ```
 */
export const systemClock: Clock = {
  nowMs: () => Date.now(),
  monotonicMs: () => performance.now(),
  setTimer: (delayMs, fn) => setTimeout(fn, Math.max(0, delayMs)),
  clearTimer: (handle) => clearTimeout(handle as number),
};

/**
 * Virtual time for tests: timers fire, in deadline order, only inside {@linkcode advance}.
 *
 * @example
 * ```ts
 * import { ManualClock } from "./clock.ts";
 * const clock = new ManualClock(1_000);
 * const fired: number[] = [];
 * clock.setTimer(20, () => fired.push(clock.nowMs()));
 * clock.setTimer(10, () => fired.push(clock.nowMs()));
 * clock.advance(25);
 * if (fired.join() !== "1010,1020") throw new Error(fired.join());
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #next = 1;
  readonly #timers = new Map<TimerHandle, { at: number; fn: () => void }>();

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  nowMs(): number {
    return this.#now;
  }

  monotonicMs(): number {
    return this.#now;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const handle = this.#next++;
    this.#timers.set(handle, { at: this.#now + Math.max(0, delayMs), fn });
    return handle;
  }

  clearTimer(handle: TimerHandle): void {
    this.#timers.delete(handle);
  }

  /** Timers not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing each timer due on the way at its own deadline. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`Cannot advance time by ${ms} ms: it must be >= 0`);
    const end = this.#now + ms;
    for (;;) {
      let due: [TimerHandle, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (due === undefined || entry[1].at < due[1].at)) due = entry;
      }
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.#now = Math.max(this.#now, due[1].at);
      due[1].fn();
    }
    this.#now = end;
  }
}
