/**
 * Time for the group coordinator: a clock and one-shot timers, injected so that the state
 * machine never touches `Date.now` or `setTimeout`. The broker passes {@linkcode realGroupTimers};
 * tests pass a {@linkcode ManualGroupTimers} and move time forward by hand, which makes session
 * expiry and rebalance timeouts deterministic.
 *
 * @module
 */

/** An opaque handle of a scheduled timer. */
export type TimerHandle = unknown;

/** A clock plus one-shot timers. */
export interface GroupTimers {
  /** Milliseconds since the epoch. */
  nowMs(): number;
  /** Runs `fn` once after `delayMs`; returns a handle for {@linkcode GroupTimers.clearTimer}. */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
  /** Cancels a timer; cancelling a fired or cancelled timer does nothing. */
  clearTimer(handle: TimerHandle): void;
}

/** Real time: `Date.now` and `setTimeout`, for the broker's driver. */
export function realGroupTimers(): GroupTimers {
  return {
    nowMs: () => Date.now(),
    setTimer: (delayMs, fn) => setTimeout(fn, Math.max(0, delayMs)),
    clearTimer: (h) => clearTimeout(h as number),
  };
}

interface _Pending {
  readonly id: number;
  readonly dueMs: number;
  readonly fn: () => void;
}

/**
 * Virtual time for tests: timers fire only inside {@linkcode ManualGroupTimers.advance}, in due
 * order (ties in the order they were set).
 *
 * @example
 * ```ts
 * import { ManualGroupTimers } from "./group_timers.ts";
 * import assert from "node:assert/strict";
 * const t = new ManualGroupTimers(1000);
 * let fired = 0;
 * t.setTimer(50, () => fired++);
 * t.advance(49);
 * assert.equal(fired, 0);
 * t.advance(1);
 * assert.equal(fired, 1);
 * assert.equal(t.nowMs(), 1050);
 * ```
 */
export class ManualGroupTimers implements GroupTimers {
  #now: number;
  #nextId = 1;
  #pending: _Pending[] = [];

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  nowMs(): number {
    return this.#now;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const id = this.#nextId++;
    this.#pending.push({ id, dueMs: this.#now + Math.max(0, delayMs), fn });
    return id;
  }

  clearTimer(handle: TimerHandle): void {
    this.#pending = this.#pending.filter((p) => p.id !== handle);
  }

  /** Timers still scheduled. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, one at a time. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`Cannot advance time by ${ms} ms: it must be >= 0`);
    const target = this.#now + ms;
    for (;;) {
      const next = this.#earliest();
      if (next === undefined || next.dueMs > target) break;
      this.#pending = this.#pending.filter((p) => p !== next);
      this.#now = next.dueMs;
      next.fn();
    }
    this.#now = target;
  }

  #earliest(): _Pending | undefined {
    let best: _Pending | undefined;
    for (const p of this.#pending) {
      if (
        best === undefined || p.dueMs < best.dueMs || (p.dueMs === best.dueMs && p.id < best.id)
      ) {
        best = p;
      }
    }
    return best;
  }
}
