/**
 * The log cache: recent batches of every partition, in memory, until the storage layer has
 * uploaded them. It serves fetches of the tail without touching the WAL or object storage.
 *
 * - **Bounded.** All partitions share one byte budget (`write_cache_size_bytes`). Appends take
 *   space first through {@linkcode LogCache.reserve}, which waits (FIFO, so order per partition
 *   is kept) for at most `waitTimeoutMs` and then fails with {@linkcode StorageFullError}:
 *   that is the produce path's backpressure when uploads fall behind.
 * - **Released only by storage.** Entries leave only through {@linkcode LogCache.release},
 *   called after an upload is committed, never by eviction: the cache is also what the
 *   uploader reads.
 * - **Keys.** A partition is named by a string "topic/partition" ({@linkcode partitionKey}).
 *   Kafka topic names cannot contain "/", so the key is unambiguous; a string is a cheap Map
 *   key. Callers build it once per partition and keep it, not once per request.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../../ops/clock.ts";
import { readBatchHeader } from "../../protocol/record/record_batch.ts";
import { assertLog, StorageFullError } from "./log_errors.ts";

/** Name of a partition in the cache: "topic/partition". */
export type PartitionKey = string;

/**
 * Builds the cache key of a partition.
 *
 * @example
 * ```ts
 * import { partitionKey } from "./log_cache.ts";
 * import assert from "node:assert/strict";
 * assert.equal(partitionKey("orders", 3), "orders/3");
 * ```
 */
export function partitionKey(topic: string, partition: number): PartitionKey {
  return `${topic}/${partition}`;
}

/** Options of {@linkcode LogCache}. */
export interface LogCacheOptions {
  /** Total bytes of batches held for all partitions (`write_cache_size_bytes`). */
  capacityBytes: number;
  /** Longest a reservation waits for space before {@linkcode StorageFullError}. */
  waitTimeoutMs: number;
  /** The clock that wait runs on; injected so tests and simulations control time. */
  clock: Pick<Clock, "setTimer" | "clearTimer">;
  /** Most reservations waiting at once; more fail at once. @default {10000} */
  waitersMax?: number;
}

/** What {@linkcode LogCache.read} returns on a hit. */
export interface LogCacheRead {
  /** Whole batches in offset order; the first contains the requested offset. Views, no copies. */
  batches: Uint8Array[];
  /** Sum of the batches' sizes. */
  sizeBytes: number;
  /** Offset after the last returned batch. */
  nextOffset: number;
}

interface _Entry {
  baseOffset: number;
  lastOffset: number;
  bytes: Uint8Array;
}

/**
 * What a released slot holds until the prefix is compacted away, so the released batch itself
 * can be collected at once. Slots used to keep their batches until compaction (after 1,024
 * entries), which with 1 MB batches on 6 partitions held 6 GB the cache no longer counted.
 */
const _RELEASED: _Entry = { baseOffset: -1, lastOffset: -1, bytes: new Uint8Array(0) };

interface _Partition {
  entries: _Entry[];
  /** Index of the first live entry; released entries before it are compacted lazily. */
  head: number;
  sizeBytes: number;
}

interface _Waiter {
  sizeBytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: TimerHandle | undefined;
  done: boolean;
}

/**
 * Recent batches per partition, bounded in bytes and released by the storage layer.
 *
 * @example
 * ```ts
 * import { LogCache } from "./log_cache.ts";
 * import { systemClock } from "../../ops/clock.ts";
 * import { buildBatch } from "../../protocol/record/record_batch.ts";
 * import assert from "node:assert/strict";
 * const cache = new LogCache({ capacityBytes: 1 << 20, waitTimeoutMs: 1000, clock: systemClock });
 * const batch = await buildBatch([{ value: null, timestamp: 1 }], { baseOffset: 0 });
 * await cache.append("t/0", batch);
 * assert.equal(cache.read("t/0", 0, 1)?.batches[0], batch);
 * cache.release("t/0", 1);
 * assert.equal(cache.usedBytes, 0);
 * ```
 */
export class LogCache {
  readonly #capacityBytes: number;
  readonly #waitTimeoutMs: number;
  readonly #clock: Pick<Clock, "setTimer" | "clearTimer">;
  readonly #waitersMax: number;
  readonly #partitions = new Map<PartitionKey, _Partition>();
  readonly #waiters: _Waiter[] = [];
  #usedBytes = 0;
  #reservedBytes = 0;

  constructor(options: LogCacheOptions) {
    const { capacityBytes, waitTimeoutMs } = options;
    const waitersMax = options.waitersMax ?? 10_000;
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes <= 0) {
      throw new RangeError(
        `Cannot create log cache as capacityBytes is invalid: current value is ${capacityBytes}`,
      );
    }
    if (!Number.isFinite(waitTimeoutMs) || waitTimeoutMs < 0) {
      throw new RangeError(
        `Cannot create log cache as waitTimeoutMs is invalid: current value is ${waitTimeoutMs}`,
      );
    }
    if (!Number.isSafeInteger(waitersMax) || waitersMax < 0) {
      throw new RangeError(
        `Cannot create log cache as waitersMax is invalid: current value is ${waitersMax}`,
      );
    }
    this.#capacityBytes = capacityBytes;
    this.#waitTimeoutMs = waitTimeoutMs;
    this.#clock = options.clock;
    this.#waitersMax = waitersMax;
  }

  /** The byte budget. */
  get capacityBytes(): number {
    return this.#capacityBytes;
  }
  /** Bytes of batches held. */
  get usedBytes(): number {
    return this.#usedBytes;
  }
  /** Bytes reserved but not yet appended. */
  get reservedBytes(): number {
    return this.#reservedBytes;
  }
  /** Reservations waiting for space. */
  get waitingCount(): number {
    return this.#waiters.length;
  }

  /**
   * Reserves `sizeBytes` of the budget, waiting in FIFO order for at most `waitTimeoutMs`.
   * Rejects with {@linkcode StorageFullError} on timeout or when too many already wait.
   * A request larger than the whole budget is a configuration error: `RangeError`.
   */
  reserve(sizeBytes: number): Promise<void> {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0 || sizeBytes > this.#capacityBytes) {
      throw new RangeError(
        `Cannot reserve ${sizeBytes} bytes as the log cache holds ${this.#capacityBytes} bytes`,
      );
    }
    // Queue behind earlier waiters even if this one would fit: FIFO keeps each partition's
    // appends in offset order.
    if (this.#waiters.length === 0 && this.#fits(sizeBytes)) {
      this.#reservedBytes += sizeBytes;
      return Promise.resolve();
    }
    if (this.#waiters.length >= this.#waitersMax) {
      return Promise.reject(this.#fullError(sizeBytes, "too many appends already wait"));
    }
    return new Promise((resolve, reject) => {
      const waiter: _Waiter = { sizeBytes, resolve, reject, timer: undefined, done: false };
      waiter.timer = this.#clock.setTimer(this.#waitTimeoutMs, () => this.#expire(waiter));
      this.#waiters.push(waiter);
    });
  }

  /** Returns unused reserved bytes, for example after a WAL write failed. */
  cancelReservation(sizeBytes: number): void {
    assertLog(
      sizeBytes >= 0 && sizeBytes <= this.#reservedBytes,
      `cannot cancel ${sizeBytes} reserved bytes: only ${this.#reservedBytes} are reserved`,
    );
    this.#reservedBytes -= sizeBytes;
    this.#grantWaiters();
  }

  /**
   * Adds a batch whose offsets are assigned, using space taken earlier with
   * {@linkcode LogCache.reserve}. It must follow the partition's last cached batch directly.
   */
  appendReserved(key: PartitionKey, batch: Uint8Array): void {
    assertLog(
      batch.length <= this.#reservedBytes,
      `append of ${batch.length} bytes exceeds the ${this.#reservedBytes} reserved bytes`,
    );
    const header = readBatchHeader(batch);
    const entry = { baseOffset: header.baseOffset, lastOffset: header.lastOffset, bytes: batch };
    let p = this.#partitions.get(key);
    if (p === undefined) {
      p = { entries: [], head: 0, sizeBytes: 0 };
      this.#partitions.set(key, p);
    }
    const last = p.entries[p.entries.length - 1];
    assertLog(
      p.head === p.entries.length || last === undefined || entry.baseOffset === last.lastOffset + 1,
      `cached offsets of ${key} must be contiguous: ${entry.baseOffset} follows ${last?.lastOffset}`,
    );
    p.entries.push(entry);
    p.sizeBytes += batch.length;
    this.#reservedBytes -= batch.length;
    this.#usedBytes += batch.length;
  }

  /** Reserves space for `batch`, then appends it. See {@linkcode LogCache.reserve}. */
  async append(key: PartitionKey, batch: Uint8Array): Promise<void> {
    await this.reserve(batch.length);
    this.appendReserved(key, batch);
  }

  /**
   * Reads whole batches starting with the one that contains `fromOffset`, up to `maxBytes`
   * but always at least one batch, as Kafka does so that a large batch cannot block a consumer.
   * Returns null when `fromOffset` is not cached (below the first cached offset, or nothing
   * cached): the caller goes to the block cache or object storage. Returns no batches when
   * `fromOffset` is past the last cached offset.
   */
  read(key: PartitionKey, fromOffset: number, maxBytes: number): LogCacheRead | null {
    const p = this.#partitions.get(key);
    if (p === undefined || p.head === p.entries.length) return null;
    const first = p.entries[p.head]!;
    if (fromOffset < first.baseOffset) return null;
    const i = this.#indexOf(p, fromOffset);
    const batches: Uint8Array[] = [];
    let sizeBytes = 0;
    let nextOffset = fromOffset;
    for (let j = i; j < p.entries.length; j++) {
      const e = p.entries[j]!;
      if (batches.length > 0 && sizeBytes + e.bytes.length > maxBytes) break;
      batches.push(e.bytes);
      sizeBytes += e.bytes.length;
      nextOffset = e.lastOffset + 1;
    }
    return { batches, sizeBytes, nextOffset };
  }

  /** The partition's cached batches in offset order, for the uploader and timestamp lookups. */
  *batches(key: PartitionKey): Generator<Uint8Array> {
    const p = this.#partitions.get(key);
    if (p === undefined) return;
    for (let j = p.head; j < p.entries.length; j++) yield p.entries[j]!.bytes;
  }

  /** First cached offset of the partition, or null if nothing is cached. */
  firstOffset(key: PartitionKey): number | null {
    const p = this.#partitions.get(key);
    return p === undefined || p.head === p.entries.length ? null : p.entries[p.head]!.baseOffset;
  }

  /** Offset after the last cached batch of the partition, or null if nothing is cached. */
  endOffset(key: PartitionKey): number | null {
    const p = this.#partitions.get(key);
    const last = p?.entries[p.entries.length - 1];
    return p === undefined || p.head === p.entries.length || last === undefined
      ? null
      : last.lastOffset + 1;
  }

  /**
   * Frees every batch of the partition that lies wholly below `uptoOffset` (the first offset
   * not yet uploaded). A batch that straddles it stays. Returns the bytes freed and lets
   * waiting reservations proceed.
   */
  release(key: PartitionKey, uptoOffset: number): number {
    const p = this.#partitions.get(key);
    if (p === undefined) return 0;
    let freed = 0;
    while (p.head < p.entries.length && p.entries[p.head]!.lastOffset < uptoOffset) {
      freed += p.entries[p.head]!.bytes.length;
      p.entries[p.head++] = _RELEASED;
    }
    this.#free(key, p, freed);
    return freed;
  }

  /**
   * Drops every batch of the partition that holds an offset at or above `offset` (follower
   * truncation). A batch straddling `offset` goes too, since batches are never split; the
   * returned `endOffset` is where the partition's cached log now ends (`offset` when nothing
   * straddled it).
   */
  truncateTo(key: PartitionKey, offset: number): { freedBytes: number; endOffset: number } {
    const p = this.#partitions.get(key);
    if (p === undefined) return { freedBytes: 0, endOffset: offset };
    let cut = p.entries.length;
    while (cut > p.head && p.entries[cut - 1]!.lastOffset >= offset) cut--;
    const endOffset = Math.min(offset, p.entries[cut]?.baseOffset ?? offset);
    let freed = 0;
    for (const e of p.entries.splice(cut)) freed += e.bytes.length;
    this.#free(key, p, freed);
    return { freedBytes: freed, endOffset };
  }

  /** Forgets a partition (deleted, or no longer led here) and frees its bytes. */
  drop(key: PartitionKey): number {
    const p = this.#partitions.get(key);
    if (p === undefined) return 0;
    const freed = p.sizeBytes;
    p.head = p.entries.length;
    this.#free(key, p, freed);
    return freed;
  }

  #free(key: PartitionKey, p: _Partition, freed: number): void {
    p.sizeBytes -= freed;
    this.#usedBytes -= freed;
    if (p.head === p.entries.length) {
      this.#partitions.delete(key);
    } else if (p.head > 1024 && p.head * 2 > p.entries.length) {
      // Compact once the released prefix dominates, so release stays amortised O(1).
      p.entries.splice(0, p.head);
      p.head = 0;
    }
    if (freed > 0) this.#grantWaiters();
  }

  /** Index of the entry containing `offset`, or the first entry after it. Binary search. */
  #indexOf(p: _Partition, offset: number): number {
    let lo = p.head;
    let hi = p.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (p.entries[mid]!.lastOffset < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #fits(sizeBytes: number): boolean {
    return this.#usedBytes + this.#reservedBytes + sizeBytes <= this.#capacityBytes;
  }

  #grantWaiters(): void {
    while (this.#waiters.length > 0) {
      const w = this.#waiters[0]!;
      if (!this.#fits(w.sizeBytes)) return;
      this.#waiters.shift();
      w.done = true;
      if (w.timer !== undefined) this.#clock.clearTimer(w.timer);
      this.#reservedBytes += w.sizeBytes;
      w.resolve();
    }
  }

  #expire(waiter: _Waiter): void {
    if (waiter.done) return;
    waiter.done = true;
    const i = this.#waiters.indexOf(waiter);
    if (i >= 0) this.#waiters.splice(i, 1);
    waiter.reject(
      this.#fullError(waiter.sizeBytes, `no space freed within ${this.#waitTimeoutMs} ms`),
    );
    // The expired waiter may have been the head that blocked smaller ones behind it.
    this.#grantWaiters();
  }

  #fullError(sizeBytes: number, why: string): StorageFullError {
    return new StorageFullError(
      `Cannot reserve ${sizeBytes} bytes in the log cache as ${why}: ` +
        `used ${this.#usedBytes} + reserved ${this.#reservedBytes} of ${this.#capacityBytes}`,
    );
  }
}
