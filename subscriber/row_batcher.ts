/**
 * Cutting rows into insertAll batches by rows, bytes and latency (`MAX_ROWS_PER_BATCH`,
 * `MAX_BATCH_SIZE_BYTES`, `MAX_BATCH_LATENCY_MS`). Pure: the caller passes the time.
 *
 * @module
 */

/** A batch of items with their total size. */
export interface Batch<T> {
  readonly items: T[];
  readonly bytes: number;
  /** When the first item arrived. */
  readonly openedAtMs: number;
}

/** Limits of a {@linkcode RowBatcher}. */
export interface BatchLimits {
  readonly maxRows: number;
  readonly maxBytes: number;
  readonly maxLatencyMs: number;
}

/** Accumulates items into one open batch and hands out batches that are full or old. */
export class RowBatcher<T> {
  readonly #limits: BatchLimits;
  #items: T[] = [];
  #bytes = 0;
  #openedAt = 0;

  constructor(limits: BatchLimits) {
    this.#limits = limits;
  }

  /**
   * Adds an item of `bytes`. Returns the batches this closes: the open one when the item would
   * push it over the byte limit, and the new one when it reaches the row or byte limit.
   */
  add(item: T, bytes: number, nowMs: number): Batch<T>[] {
    const out: Batch<T>[] = [];
    if (this.#items.length > 0 && this.#bytes + bytes > this.#limits.maxBytes) {
      out.push(this.#cut());
    }
    if (this.#items.length === 0) this.#openedAt = nowMs;
    this.#items.push(item);
    this.#bytes += bytes;
    if (this.#items.length >= this.#limits.maxRows || this.#bytes >= this.#limits.maxBytes) {
      out.push(this.#cut());
    }
    return out;
  }

  /** The open batch if it has waited `maxLatencyMs`, else null. */
  due(nowMs: number): Batch<T> | null {
    if (this.#items.length === 0) return null;
    return nowMs - this.#openedAt >= this.#limits.maxLatencyMs ? this.#cut() : null;
  }

  /** Milliseconds until the open batch is due (Infinity when there is none). */
  msUntilDue(nowMs: number): number {
    if (this.#items.length === 0) return Infinity;
    return Math.max(0, this.#openedAt + this.#limits.maxLatencyMs - nowMs);
  }

  /** The open batch whatever its age (for shutdown and rebalance), or null. */
  flush(): Batch<T> | null {
    return this.#items.length === 0 ? null : this.#cut();
  }

  /** Rows in the open batch. */
  size(): number {
    return this.#items.length;
  }

  #cut(): Batch<T> {
    const b = { items: this.#items, bytes: this.#bytes, openedAtMs: this.#openedAt };
    this.#items = [];
    this.#bytes = 0;
    return b;
  }
}

/**
 * Backoff before retry number `attempt` (0-based): exponential from `baseMs`, capped at
 * `maxMs`, with "equal jitter" (half fixed, half random) so that many subscribers that failed
 * together do not come back together.
 *
 * @example
 * ```ts
 * import { backoffMs } from "./row_batcher.ts";
 * import assert from "node:assert/strict";
 * assert.equal(backoffMs(0, 1000, 30000, () => 0), 500);
 * assert.equal(backoffMs(3, 1000, 30000, () => 0.999999), 8000 - 0.004);
 * assert.equal(backoffMs(10, 1000, 30000, () => 0), 15000);
 * ```
 */
export function backoffMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return ceiling / 2 + (ceiling / 2) * random();
}
