/**
 * An LRU cache of object ranges read from object storage, bounded in bytes
 * (`cache.read_cache_size_bytes`). Concurrent misses for the same range share one GET.
 *
 * @module
 */

/** Loads the bytes of a block on a miss. */
export type BlockLoader = () => Promise<Uint8Array>;

/** Hit and miss counters. */
export interface BlockCacheStats {
  hits: number;
  misses: number;
  evictions: number;
}

/**
 * LRU over byte blocks.
 *
 * @example
 * ```ts
 * import { BlockCache } from "./block_cache.ts";
 * import assert from "node:assert/strict";
 * const c = new BlockCache(10);
 * await c.get("a", () => Promise.resolve(new Uint8Array(6)));
 * await c.get("b", () => Promise.resolve(new Uint8Array(6)));
 * assert.equal(c.has("a"), false); // evicted to fit b
 * ```
 */
export class BlockCache {
  readonly #capacityBytes: number;
  // A Map iterates in insertion order; re-inserting on a hit makes it an LRU.
  readonly #blocks = new Map<string, Uint8Array>();
  readonly #loading = new Map<string, Promise<Uint8Array>>();
  #usedBytes = 0;
  readonly stats: BlockCacheStats = { hits: 0, misses: 0, evictions: 0 };

  constructor(capacityBytes: number) {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) {
      throw new RangeError(`Cannot create a block cache of ${capacityBytes} bytes`);
    }
    this.#capacityBytes = capacityBytes;
  }

  get usedBytes(): number {
    return this.#usedBytes;
  }

  has(id: string): boolean {
    return this.#blocks.has(id);
  }

  /** Returns the block, loading it on a miss. */
  get(id: string, load: BlockLoader): Promise<Uint8Array> {
    const hit = this.#blocks.get(id);
    if (hit !== undefined) {
      this.stats.hits++;
      this.#blocks.delete(id);
      this.#blocks.set(id, hit);
      return Promise.resolve(hit);
    }
    const pending = this.#loading.get(id);
    if (pending !== undefined) return pending;
    this.stats.misses++;
    const p = load().then((bytes) => {
      this.#insert(id, bytes);
      return bytes;
    }).finally(() => this.#loading.delete(id));
    this.#loading.set(id, p);
    return p;
  }

  /** Drops blocks whose id starts with `prefix` (an object that was deleted). */
  invalidate(prefix: string): void {
    for (const [id, b] of this.#blocks) {
      if (!id.startsWith(prefix)) continue;
      this.#blocks.delete(id);
      this.#usedBytes -= b.length;
    }
  }

  #insert(id: string, bytes: Uint8Array): void {
    // A block larger than the whole cache is served but not kept.
    if (bytes.length > this.#capacityBytes) return;
    while (this.#usedBytes + bytes.length > this.#capacityBytes) {
      const [oldId, old] = this.#blocks.entries().next().value as [string, Uint8Array];
      this.#blocks.delete(oldId);
      this.#usedBytes -= old.length;
      this.stats.evictions++;
    }
    this.#blocks.set(id, bytes);
    this.#usedBytes += bytes.length;
  }
}
