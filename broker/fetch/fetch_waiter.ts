/**
 * Long-poll support for Fetch: a request that found fewer than `min_bytes` waits until one of its
 * partitions gains data or `max_wait_ms` passes. Appends call {@linkcode FetchWaiter.notify}; the
 * waiter wakes every request watching that partition, and each re-reads. Timers come from an
 * injected `Clock`, so tests drive time by hand.
 *
 * A read is asynchronous, and the promise chains of an append and a fetch interleave, so a
 * notify can land after a fetch read nothing but before it parks. A fetch therefore takes
 * {@linkcode FetchWaiter.version} before it reads and hands it to `wait`, which returns at once
 * if a watched partition was notified in between; without this, such a fetch slept its whole
 * `max_wait_ms` with data waiting (seen as 100 ms outliers in `bench e2e`).
 *
 * @module
 */
import { type Clock, systemClock, type TimerHandle } from "../../ops/clock.ts";

/** Upper bound on parked fetches; past it a fetch returns at once instead of waiting. */
export const PARKED_FETCHES_MAX = 100_000;

interface _Waiter {
  keys: readonly string[];
  resolve: (woken: boolean) => void;
  timer: TimerHandle | undefined;
}

/**
 * Parks fetch requests by partition key.
 *
 * @example
 * ```ts
 * import { FetchWaiter } from "./fetch_waiter.ts";
 * import assert from "node:assert/strict";
 * const w = new FetchWaiter();
 * const parked = w.wait(["orders/0"], 10_000);
 * w.notify("orders/0");
 * assert.equal(await parked, true);
 * ```
 */
export class FetchWaiter {
  readonly #byKey = new Map<string, Set<_Waiter>>();
  /** Notifications per partition key, so far. */
  readonly #versions = new Map<string, number>();
  readonly #clock: Pick<Clock, "setTimer" | "clearTimer">;
  readonly #parkedMax: number;
  #parked = 0;
  readonly #listeners: ((key: string) => void)[] = [];

  constructor(
    options: { clock?: Pick<Clock, "setTimer" | "clearTimer">; parkedMax?: number } = {},
  ) {
    this.#clock = options.clock ?? systemClock;
    this.#parkedMax = options.parkedMax ?? PARKED_FETCHES_MAX;
  }

  /** Number of fetches currently parked. */
  get parked(): number {
    return this.#parked;
  }

  /** A token that changes whenever one of `keys` is notified; see `wait`'s `since`. */
  version(keys: readonly string[]): number {
    let sum = 0;
    for (const k of keys) sum += this.#versions.get(k) ?? 0;
    return sum;
  }

  /**
   * Resolves `true` when one of `keys` is notified, or `false` after `maxWaitMs` (or at once when
   * too many fetches are already parked, or `maxWaitMs` is not positive). With `since`, a
   * {@linkcode version} taken before the caller's read, it resolves `true` at once when one of
   * `keys` was notified after that.
   */
  wait(keys: readonly string[], maxWaitMs: number, since?: number): Promise<boolean> {
    if (since !== undefined && this.version(keys) !== since) return Promise.resolve(true);
    if (maxWaitMs <= 0 || keys.length === 0 || this.#parked >= this.#parkedMax) {
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      const waiter: _Waiter = { keys, resolve, timer: undefined };
      waiter.timer = this.#clock.setTimer(maxWaitMs, () => this.#finish(waiter, false));
      for (const k of keys) {
        let set = this.#byKey.get(k);
        if (set === undefined) this.#byKey.set(k, set = new Set());
        set.add(waiter);
      }
      this.#parked++;
    });
  }

  /**
   * Calls `listener` on every notify, before parked fetches wake: the transaction index follows
   * each partition's high watermark this way, so its last stable offset keeps up.
   */
  onNotify(listener: (key: string) => void): void {
    this.#listeners.push(listener);
  }

  /** Wakes every fetch watching `key`. */
  notify(key: string): void {
    for (const l of this.#listeners) l(key);
    this.#versions.set(key, (this.#versions.get(key) ?? 0) + 1);
    const set = this.#byKey.get(key);
    if (set === undefined) return;
    for (const w of [...set]) this.#finish(w, true);
  }

  /** Wakes everything (shutdown). */
  wakeAll(): void {
    for (const set of [...this.#byKey.values()]) for (const w of [...set]) this.#finish(w, false);
  }

  #finish(w: _Waiter, woken: boolean): void {
    let removed = false;
    for (const k of w.keys) {
      const set = this.#byKey.get(k);
      if (set?.delete(w)) removed = true;
      if (set?.size === 0) this.#byKey.delete(k);
    }
    if (!removed) return;
    this.#parked--;
    if (w.timer !== undefined) this.#clock.clearTimer(w.timer);
    w.resolve(woken);
  }
}
