/**
 * Reads offsets that have left the log cache: a manifest lookup finds the object range holding
 * the offset, the block cache serves it or a ranged GET fetches it, and whole batches from the
 * requested offset are returned. A reader gets the next ranges prefetched while it reads one,
 * so sequential catch-up reads overlap the store's latency with the consumer's processing.
 *
 * @module
 */

import { readBatchHeader, splitBatches } from "../../protocol/record/record_batch.ts";
import type { ObjectStore } from "../object_store/object_store.ts";
import type { BlockCache } from "./block_cache.ts";
import type { LocatedRange, ObjectManifest } from "../../model/object_manifest.ts";
import { readRange } from "./stream_object.ts";

/** What a tiered read returns. */
export interface TieredRead {
  readonly batches: Uint8Array[];
  readonly sizeBytes: number;
  /** Offset after the last returned batch. */
  readonly nextOffset: number;
}

/** Reads from object storage through the block cache. */
export class TieredReader {
  readonly #manifest: ObjectManifest;
  readonly #store: ObjectStore;
  readonly #cache: BlockCache;
  readonly #prefetchEnabled: boolean;

  constructor(
    manifest: ObjectManifest,
    store: ObjectStore,
    cache: BlockCache,
    options: { prefetch?: boolean } = {},
  ) {
    this.#manifest = manifest;
    this.#store = store;
    this.#cache = cache;
    this.#prefetchEnabled = options.prefetch ?? true;
  }

  /** The block cache (for metrics and invalidation). */
  get cache(): BlockCache {
    return this.#cache;
  }

  /**
   * Whole batches of `key` from the one holding `offset`, up to `maxBytes` but at least one,
   * within one object range. Returns null when no stored range holds `offset`.
   */
  async read(key: string, offset: number, maxBytes: number): Promise<TieredRead | null> {
    const ranges = this.#manifest.ranges(key);
    let i = _find(ranges, offset);
    if (i < 0) return null;
    let at = offset;
    for (; i < ranges.length; i++) {
      const located = ranges[i]!;
      at = Math.max(at, located.range.baseOffset);
      const bytes = await this.#load(located);
      const batches: Uint8Array[] = [];
      let sizeBytes = 0;
      let nextOffset = at;
      for (const b of splitBatches(bytes)) {
        const last = readBatchHeader(b).lastOffset;
        if (last < at) continue;
        if (batches.length > 0 && sizeBytes + b.length > maxBytes) break;
        batches.push(b);
        sizeBytes += b.length;
        nextOffset = last + 1;
      }
      // Key compaction can leave nothing from `at` to the range's end: go on with the next one.
      if (batches.length === 0) continue;
      if (this.#prefetchEnabled) this.#readAhead(ranges, i);
      return { batches, sizeBytes, nextOffset };
    }
    // Nothing stored from `offset` on survived compaction: the log goes on after the last range.
    return { batches: [], sizeBytes: 0, nextOffset: ranges.at(-1)!.range.lastOffset + 1 };
  }

  /**
   * Starts loading the `READ_AHEAD_RANGES` ranges after `i` that are not cached or loading, in
   * the background. Loading only the next range once the reader reached the end of this one
   * left every range's GET unoverlapped: a 1 KiB-record consumer caught up at 266 MiB/s from
   * a local disk that reads over 1 GB/s.
   */
  #readAhead(ranges: readonly LocatedRange[], i: number): void {
    // At most a quarter of the block cache goes to read-ahead, so it never evicts what it loads.
    let budget = this.#cache.capacityBytes / 4;
    for (let j = i + 1; j <= i + READ_AHEAD_RANGES && j < ranges.length; j++) {
      const r = ranges[j]!;
      budget -= r.range.length;
      if (budget < 0) return;
      if (this.#cache.has(_blockId(r))) continue;
      this.#load(r).catch(() => {});
    }
  }

  #load(r: LocatedRange): Promise<Uint8Array> {
    // A range that key compaction emptied shares its position with the next one.
    if (r.range.length === 0) return Promise.resolve(new Uint8Array(0));
    return this.#cache.get(_blockId(r), () => readRange(this.#store, r.objectKey, r.range));
  }
}

/** The block cache's id for a range: its object and position. */
function _blockId(r: LocatedRange): string {
  return `${r.objectKey}@${r.range.position}`;
}

/** Ranges a sequential reader is kept ahead by: 2 gave 429 MiB/s, 4 gave 516 (1 KiB records). */
const READ_AHEAD_RANGES = 4;

/** Index of the range holding `offset`, or -1. Ranges are sorted and do not overlap. */
function _find(ranges: readonly LocatedRange[], offset: number): number {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid]!.range;
    if (offset < r.baseOffset) hi = mid - 1;
    else if (offset > r.lastOffset) lo = mid + 1;
    else return mid;
  }
  return -1;
}
