/**
 * A cache of object ranges read from object storage, bounded in bytes
 * (`cache.read_cache_size_bytes`), with the eviction policy of `cache.eviction_policy`: LRU
 * (the default), LFU, or Random. Concurrent misses for the same range share one GET.
 *
 * @module
 */

import type { Random } from "../../ops/random.ts";

/** Which block leaves when room is needed (`cache.eviction_policy`). */
export type EvictionPolicy = "Lru" | "Lfu" | "Random";

/** Options of {@linkcode BlockCache}. */
export interface BlockCacheOptions {
  /** @default "Lru" */
  readonly policy?: EvictionPolicy;
  /** Required for the Random policy: the victim is drawn from it. */
  readonly random?: Random;
}

/** Loads the bytes of a block on a miss. */
export type BlockLoader = () => Promise<Uint8Array>;

/** Hit and miss counters. */
export interface BlockCacheStats {
  hits: number;
  misses: number;
  evictions: number;
}

/**
 * A bounded cache of byte blocks. Lfu evicts the block with the fewest hits since it was
 * loaded (ties: the least recently used), Random a uniformly drawn block. Both scan the blocks
 * on eviction, which is cheap next to the object-store GET that caused it.
 *
 * @example
 * ```ts
 * import { BlockCache } from "./block_cache.ts";
 * import assert from "node:assert/strict";
 * const c = new BlockCache(10);
 * await c.get("a", () => Promise.resolve(new Uint8Array(6)));
 * await c.get("b", () => Promise.resolve(new Uint8Array(6)));
 * assert.equal(c.has("a"), false); // evicted to fit b
 *
 * const lfu = new BlockCache(12, { policy: "Lfu" });
 * await lfu.get("hot", () => Promise.resolve(new Uint8Array(6)));
 * await lfu.get("hot", () => Promise.resolve(new Uint8Array(6))); // one hit
 * await lfu.get("cold", () => Promise.resolve(new Uint8Array(6)));
 * await lfu.get("hot", () => Promise.resolve(new Uint8Array(6))); // hot is now also most recent
 * await lfu.get("new", () => Promise.resolve(new Uint8Array(6)));
 * assert.equal(lfu.has("hot"), true); // the cold block left, though LRU would keep it too
 * ```
 */
export class BlockCache {
  #capacityBytes: number;
  readonly #policy: EvictionPolicy;
  readonly #random: Random | null;
  // A Map iterates in insertion order; re-inserting on a hit makes it an LRU.
  readonly #blocks = new Map<string, Uint8Array>();
  /** Hits per cached block, for Lfu. */
  readonly #hits = new Map<string, number>();
  readonly #loading = new Map<string, Promise<Uint8Array>>();
  #usedBytes = 0;
  readonly stats: BlockCacheStats = { hits: 0, misses: 0, evictions: 0 };

  constructor(capacityBytes: number, options: BlockCacheOptions = {}) {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) {
      throw new RangeError(`Cannot create a block cache of ${capacityBytes} bytes`);
    }
    this.#capacityBytes = capacityBytes;
    this.#policy = options.policy ?? "Lru";
    if (this.#policy === "Random" && options.random === undefined) {
      throw new RangeError("Cannot create a Random-eviction block cache as no random is given");
    }
    this.#random = options.random ?? null;
  }

  /** The byte bound. */
  get capacityBytes(): number {
    return this.#capacityBytes;
  }

  /** Changes the byte bound (a dynamic config change), evicting at once down to it. */
  resize(capacityBytes: number): void {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) {
      throw new RangeError(`Cannot resize the block cache to ${capacityBytes} bytes`);
    }
    this.#capacityBytes = capacityBytes;
    this.#evictFor(0);
  }

  /** The eviction policy in use. */
  get policy(): EvictionPolicy {
    return this.#policy;
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
      this.#hits.set(id, (this.#hits.get(id) ?? 0) + 1);
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
      this.#hits.delete(id);
      this.#usedBytes -= b.length;
    }
  }

  #insert(id: string, bytes: Uint8Array): void {
    // A block larger than the whole cache is served but not kept.
    if (bytes.length > this.#capacityBytes) return;
    this.#evictFor(bytes.length);
    this.#blocks.set(id, bytes);
    this.#hits.set(id, 0);
    this.#usedBytes += bytes.length;
  }

  /** Evicts until `bytes` more fit. */
  #evictFor(bytes: number): void {
    while (this.#blocks.size > 0 && this.#usedBytes + bytes > this.#capacityBytes) {
      const oldId = this.#victim();
      this.#usedBytes -= this.#blocks.get(oldId)!.length;
      this.#blocks.delete(oldId);
      this.#hits.delete(oldId);
      this.stats.evictions++;
    }
  }

  /** The block to evict; only called while the cache holds at least one block. */
  #victim(): string {
    if (this.#policy === "Random") {
      let n = Math.floor(this.#random!.next() * this.#blocks.size);
      for (const id of this.#blocks.keys()) if (n-- === 0) return id;
    }
    let best = this.#blocks.keys().next().value as string;
    if (this.#policy === "Lfu") {
      // Map order is least recently used first, so the first minimum is the LRU among ties.
      for (const id of this.#blocks.keys()) {
        if (this.#hits.get(id)! < this.#hits.get(best)!) best = id;
      }
    }
    return best;
  }
}
