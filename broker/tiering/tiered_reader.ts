/**
 * Reads offsets that have left the log cache: a manifest lookup finds the object range holding
 * the offset, the block cache serves it or a ranged GET fetches it, and whole batches from the
 * requested offset are returned. A reader that moves on to the next range gets it prefetched,
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
      const next = ranges[i + 1];
      if (this.#prefetchEnabled && next !== undefined && nextOffset > located.range.lastOffset) {
        // The reader will ask for the next range soon: fetch it now, in the background.
        this.#load(next).catch(() => {});
      }
      return { batches, sizeBytes, nextOffset };
    }
    // Nothing stored from `offset` on survived compaction: the log goes on after the last range.
    return { batches: [], sizeBytes: 0, nextOffset: ranges.at(-1)!.range.lastOffset + 1 };
  }

  #load(r: LocatedRange): Promise<Uint8Array> {
    // A range that key compaction emptied shares its position with the next one.
    if (r.range.length === 0) return Promise.resolve(new Uint8Array(0));
    const id = `${r.objectKey}@${r.range.position}`;
    return this.#cache.get(id, () => readRange(this.#store, r.objectKey, r.range));
  }
}

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
