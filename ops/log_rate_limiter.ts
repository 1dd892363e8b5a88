/**
 * Rate limiting of repeated log lines. A client sending garbage, or a store that stays down,
 * makes the same warning once per connection or per retry; thousands of identical lines hide
 * the one that matters. Each kind of line (component, level and message) may appear `burst`
 * times per window; the rest are counted, and once the window ends the count is reported as
 * one summary line. A state machine over an injected clock: the caller passes `nowMs`.
 *
 * @module
 */

/** What identifies a kind of log line. */
export interface LogKind {
  readonly component: string;
  readonly level: string;
  readonly msg: string;
}

/** A window's count of suppressed lines of one kind. */
export interface SuppressedSummary extends LogKind {
  readonly suppressed: number;
  /** Start of the window the lines were suppressed in. */
  readonly sinceMs: number;
}

/** Options of {@linkcode LogRateLimiter}. */
export interface LogRateLimiterOptions {
  /** Length of a window. @default 60000 */
  readonly windowMs?: number;
  /** Lines of one kind let through per window. @default 10 */
  readonly burst?: number;
  /** Kinds tracked at most; the oldest window is dropped past it (after its summary). @default 1000 */
  readonly maxKinds?: number;
}

interface _Window {
  readonly kind: LogKind;
  readonly startMs: number;
  passed: number;
  suppressed: number;
}

/**
 * Counts log lines per kind and window, and says which to write.
 *
 * @example
 * ```ts
 * import { LogRateLimiter } from "./log_rate_limiter.ts";
 * import assert from "node:assert/strict";
 * const rl = new LogRateLimiter({ windowMs: 1000, burst: 1 });
 * const kind = { component: "tcp", level: "warn", msg: "bad frame" };
 * assert.equal(rl.admit(kind, 0), true);
 * assert.equal(rl.admit(kind, 10), false);
 * assert.deepEqual(rl.drain(1000), [{ ...kind, suppressed: 1, sinceMs: 0 }]);
 * ```
 */
export class LogRateLimiter {
  readonly #windowMs: number;
  readonly #burst: number;
  readonly #maxKinds: number;
  readonly #windows = new Map<string, _Window>();
  #pending: SuppressedSummary[] = [];
  /** Earliest end of a window that has suppressed lines; drain() is a no-op before it. */
  #nextDueMs = Infinity;

  constructor(options: LogRateLimiterOptions = {}) {
    this.#windowMs = options.windowMs ?? 60_000;
    this.#burst = options.burst ?? 10;
    this.#maxKinds = options.maxKinds ?? 1000;
    if (!(this.#windowMs > 0) || !(this.#burst >= 1) || !(this.#maxKinds >= 1)) {
      throw new RangeError(
        "Cannot create LogRateLimiter as windowMs, burst and maxKinds must be positive",
      );
    }
  }

  /** Records one line of `kind` at `nowMs`; true when it should be written. */
  admit(kind: LogKind, nowMs: number): boolean {
    const key = `${kind.component}\u0000${kind.level}\u0000${kind.msg}`;
    let w = this.#windows.get(key);
    if (w !== undefined && nowMs >= w.startMs + this.#windowMs) {
      this.#close(key, w);
      w = undefined;
    }
    if (w === undefined) {
      if (this.#windows.size >= this.#maxKinds) {
        const [oldestKey, oldest] = this.#windows.entries().next().value!;
        this.#close(oldestKey, oldest);
      }
      w = { kind, startMs: nowMs, passed: 0, suppressed: 0 };
      this.#windows.set(key, w);
    }
    if (w.passed < this.#burst) {
      w.passed += 1;
      return true;
    }
    if (w.suppressed === 0) this.#nextDueMs = Math.min(this.#nextDueMs, w.startMs + this.#windowMs);
    w.suppressed += 1;
    return false;
  }

  /** The summaries of every window that ended by `nowMs` with lines suppressed, once each. */
  drain(nowMs: number): SuppressedSummary[] {
    if (nowMs >= this.#nextDueMs) {
      this.#nextDueMs = Infinity;
      for (const [key, w] of this.#windows) {
        if (nowMs >= w.startMs + this.#windowMs) this.#close(key, w);
        else if (w.suppressed > 0) {
          this.#nextDueMs = Math.min(this.#nextDueMs, w.startMs + this.#windowMs);
        }
      }
    }
    const out = this.#pending;
    this.#pending = [];
    return out;
  }

  #close(key: string, w: _Window): void {
    this.#windows.delete(key);
    if (w.suppressed > 0) {
      this.#pending.push({ ...w.kind, suppressed: w.suppressed, sinceMs: w.startMs });
    }
  }
}
