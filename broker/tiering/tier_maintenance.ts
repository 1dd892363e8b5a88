/**
 * Background upkeep of object storage: retention, compaction and garbage collection. Every step
 * follows one order, upload, then commit, then delete, so a crash anywhere leaves either an
 * unreferenced object (which garbage collection removes later) or nothing to clean; readers
 * never see a dangling reference or a range twice.
 *
 * - Retention advances a partition's log start past ranges older than `retention.ms` or beyond
 *   `retention.bytes`, and deletes objects nothing references any more.
 * - Compaction rewrites small objects that hold many partitions into one object per partition,
 *   keeping each range intact, and swaps them in the manifest in one commit.
 * - Key compaction (`cleanup.policy=compact`) rewrites a partition's own objects keeping only
 *   the last record of each key, as Kafka's log cleaner does: offsets never move (batches keep
 *   their base offset and last offset delta, and ranges keep their bounds even when emptied;
 *   readers move on to the next surviving batch, and followers never fetch stored data, so
 *   the gaps never reach a replica's log), tombstones go once older than
 *   `delete.retention.ms`, and records without a key stay. Only stored data is compacted; the
 *   tail still in the log cache is, like Kafka's active segment, left alone.
 * - Garbage collection deletes objects under the prefix that the manifest does not know and that
 *   are older than a grace period (an upload in flight is younger).
 *
 * @module
 */

import type { Random } from "../../ops/random.ts";
import type { ObjectStore } from "../object_store/object_store.ts";
import type { ManifestObject, ObjectManifest } from "../../model/object_manifest.ts";
import { type ObjectRange, type PackInput, packObjectParts, readRange } from "./stream_object.ts";
import {
  readBatchHeader,
  retainRecords,
  splitBatches,
} from "../../protocol/record/record_batch.ts";
import { type DecodedRecord, decodeRecords } from "../../protocol/record/record_batch.ts";
import type { BlockCache } from "./block_cache.ts";
import type { Logger } from "../../ops/logger.ts";
import { failpoint } from "../../ops/failpoints.ts";

/** Retention settings of one partition (from its topic's config). */
export interface RetentionPolicy {
  /** -1: keep forever. */
  readonly retentionMs: number;
  /** -1: no size limit. */
  readonly retentionBytes: number;
}

/** Options of {@linkcode TierMaintenance}. */
export interface TierMaintenanceOptions {
  readonly store: ObjectStore;
  readonly manifest: ObjectManifest;
  readonly blockCache: BlockCache;
  readonly nowMs: () => number;
  readonly objectKey: (createdMs: number) => string;
  /** Prefix of every object this broker writes (what GC lists). */
  readonly prefix: string;
  /** Objects smaller than this are compacted. */
  readonly compactBelowBytes: number;
  /** Unknown objects younger than this are left alone. */
  readonly gcGraceMs: number;
  /** Keys of objects written but not yet committed (by the uploader or compaction). */
  readonly inFlight: Set<string>;
  readonly logger: Logger;
}

/** Counters. */
export interface MaintenanceStats {
  deletedObjects: number;
  compactedObjects: number;
  createdObjects: number;
  /** Records key compaction removed (superseded values and expired tombstones). */
  recordsCleaned: number;
}

/** Largest object key compaction writes (it merges a partition's objects up to this). */
const _KEY_COMPACTION_OBJECT_BYTES = 64 * 1024 * 1024;

/** Settings of key compaction for one partition (from its topic's config). */
export interface KeyCompactionPolicy {
  /** Tombstones older than this are removed. */
  readonly deleteRetentionMs: number;
  /**
   * Compact once the bytes stored since the last pass are at least this share of the total
   * (Kafka's `min.cleanable.dirty.ratio`). @default 0.5
   */
  readonly minDirtyRatio?: number;
  /**
   * Records younger than this are never removed (Kafka's `min.compaction.lag.ms`), so a
   * consumer that keeps up sees every value. @default 0
   */
  readonly minCompactionLagMs?: number;
  /**
   * Compact even below `minDirtyRatio` once the oldest uncompacted range is older than this
   * (Kafka's `max.compaction.lag.ms`). Ranges carry only their newest timestamp, so the check
   * is by that: a range counts as old once all its records are. @default unbounded
   */
  readonly maxCompactionLagMs?: number;
}

/** Runs retention, compaction and garbage collection. */
export class TierMaintenance {
  readonly #o: TierMaintenanceOptions;
  readonly stats: MaintenanceStats = {
    deletedObjects: 0,
    compactedObjects: 0,
    createdObjects: 0,
    recordsCleaned: 0,
  };
  /** Per partition, the last offset the previous key compaction covered (memory only). */
  readonly #cleanedEnd = new Map<string, number>();

  constructor(options: TierMaintenanceOptions) {
    this.#o = options;
  }

  /**
   * Applies `policy` to partition `key`; returns the new log start offset when it moved.
   * Only stored (uploaded) data is subject to retention.
   */
  async applyRetention(key: string, policy: RetentionPolicy): Promise<number | null> {
    const ranges = this.#o.manifest.ranges(key);
    if (ranges.length === 0) return null;
    const now = this.#o.nowMs();
    let newStart: number | null = null;
    let total = ranges.reduce((n, r) => n + r.range.length, 0);
    for (const { range } of ranges) {
      const tooOld = policy.retentionMs >= 0 && range.maxTimestamp < now - policy.retentionMs;
      const tooBig = policy.retentionBytes >= 0 && total > policy.retentionBytes;
      if (!tooOld && !tooBig) break;
      newStart = range.lastOffset + 1;
      total -= range.length;
    }
    if (newStart === null) return null;
    const dropped = await this.#o.manifest.advanceLogStart(key, newStart);
    await this.#delete(dropped);
    this.#o.logger.info("retention advanced the log start", {
      partition: key,
      logStartOffset: newStart,
      deletedObjects: dropped.length,
    });
    return newStart;
  }

  /**
   * Rewrites small multi-partition objects into per-partition objects. Returns objects compacted.
   * An object holding a range of a partition in `keyCompacted` is split whatever its size, even
   * alone: key compaction rewrites only a partition's own objects, so until then a quiet
   * partition sharing one object with others would never be cleaned.
   */
  async compact(maxObjects = 64, keyCompacted: ReadonlySet<string> = new Set()): Promise<number> {
    const small = this.#o.manifest.objects()
      .filter((o) => {
        if (this.#o.inFlight.has(o.objectKey)) return false;
        const keys = new Set(o.ranges.map((r) => r.key));
        if (keys.size < 2) return false;
        return o.sizeBytes < this.#o.compactBelowBytes ||
          [...keys].some((k) => keyCompacted.has(k));
      })
      .slice(0, maxObjects);
    const mustSplit = small.some((o) => o.ranges.some((r) => keyCompacted.has(r.key)));
    if (small.length < 2 && !mustSplit) return 0;
    const byKey = new Map<string, { obj: ManifestObject; range: ObjectRange }[]>();
    for (const obj of small) {
      for (const range of obj.ranges) {
        let list = byKey.get(range.key);
        if (list === undefined) byKey.set(range.key, list = []);
        list.push({ obj, range });
      }
    }
    const added: ManifestObject[] = [];
    try {
      for (const [key, list] of byKey) {
        list.sort((a, b) => a.range.baseOffset - b.range.baseOffset);
        added.push(await this.#rewrite(key, list));
      }
      // Commit before delete: until the manifest swaps, readers still use the old objects.
      failpoint("compaction-after-put");
      await this.#o.manifest.commitCompaction(added, small.map((o) => o.objectKey));
      failpoint("compaction-after-commit");
    } finally {
      for (const o of added) this.#o.inFlight.delete(o.objectKey);
    }
    await this.#delete(small.map((o) => o.objectKey));
    this.stats.compactedObjects += small.length;
    this.#o.logger.info("compacted objects", { removed: small.length, added: added.length });
    return small.length;
  }

  async #rewrite(
    key: string,
    list: { obj: ManifestObject; range: ObjectRange }[],
  ): Promise<ManifestObject> {
    const parts = [];
    for (const { obj, range } of list) {
      const bytes = await readRange(this.#o.store, obj.objectKey, range);
      parts.push({
        key,
        batches: [bytes],
        baseOffset: range.baseOffset,
        lastOffset: range.lastOffset,
        maxTimestamp: range.maxTimestamp,
      });
    }
    const createdMs = this.#o.nowMs();
    const packed = packObjectParts(parts);
    const objectKey = this.#o.objectKey(createdMs);
    // Held in flight until the compaction commit (or failure) clears it in compact().
    this.#o.inFlight.add(objectKey);
    await this.#o.store.put(objectKey, packed.parts);
    this.stats.createdObjects++;
    return { objectKey, sizeBytes: packed.sizeBytes, createdMs, ranges: packed.ranges };
  }

  /**
   * Key compaction of partition `key` (see the module comment). Returns the number of objects
   * rewritten; 0 when too little is new since the last pass or nothing could be removed.
   */
  async compactKeys(key: string, policy: KeyCompactionPolicy): Promise<number> {
    const located = this.#o.manifest.ranges(key);
    if (located.length === 0) return 0;
    const cleanedEnd = this.#cleanedEnd.get(key) ?? -1;
    const now = this.#o.nowMs();
    let total = 0;
    let dirty = 0;
    let overdue = false;
    for (const { range } of located) {
      total += range.length;
      if (range.lastOffset <= cleanedEnd) continue;
      dirty += range.length;
      const maxLagMs = policy.maxCompactionLagMs ?? Number.MAX_SAFE_INTEGER;
      if (range.maxTimestamp < now - maxLagMs) overdue = true;
    }
    if (dirty === 0 || (!overdue && dirty < total * (policy.minDirtyRatio ?? 0.5))) return 0;
    const end = located.at(-1)!.range.lastOffset;

    // Pass 1: the offset of each key's last record, over everything stored.
    const latest = new Map<string, number>();
    for (const l of located) {
      for (const batch of splitBatches(await readRange(this.#o.store, l.objectKey, l.range))) {
        for (const r of (await decodeRecords(batch)).records) {
          if (r.key !== null) latest.set(_keyString(r.key), r.offset);
        }
      }
    }
    const tombstoneBefore = now - policy.deleteRetentionMs;
    const lagBefore = now - (policy.minCompactionLagMs ?? 0);
    let cleaned = 0;
    const keep = (r: DecodedRecord) =>
      r.key === null || r.timestamp > lagBefore ||
      (latest.get(_keyString(r.key)) === r.offset &&
        !(r.value === null && r.timestamp < tombstoneBefore));

    // Pass 2: rewrite the partition's own objects (those holding no other partition's ranges).
    // It reads them again rather than keeping pass 1's bytes, so memory stays one range deep.
    const own = this.#o.manifest.objects().filter((o) =>
      !this.#o.inFlight.has(o.objectKey) && o.ranges.length > 0 &&
      o.ranges.every((r) => r.key === key)
    );
    own.sort((a, b) => a.ranges[0]!.baseOffset - b.ranges[0]!.baseOffset);
    const added: ManifestObject[] = [];
    const removed: string[] = [];
    // Rewritten objects are merged, up to _KEY_COMPACTION_OBJECT_BYTES each, so a compacted
    // partition does not collect one small object per pass.
    let group: { sources: string[]; parts: PackInput[]; bytes: number; changed: boolean } = {
      sources: [],
      parts: [],
      bytes: 0,
      changed: false,
    };
    const flush = async () => {
      const g = group;
      group = { sources: [], parts: [], bytes: 0, changed: false };
      if (!g.changed && g.sources.length < 2) return;
      const createdMs = this.#o.nowMs();
      const packed = packObjectParts(g.parts);
      const objectKey = this.#o.objectKey(createdMs);
      this.#o.inFlight.add(objectKey);
      await this.#o.store.put(objectKey, packed.parts);
      this.stats.createdObjects++;
      added.push({ objectKey, sizeBytes: packed.sizeBytes, createdMs, ranges: packed.ranges });
      removed.push(...g.sources);
    };
    try {
      for (const obj of own) {
        for (const range of obj.ranges) {
          const bytes = await readRange(this.#o.store, obj.objectKey, range);
          const batches = [...splitBatches(bytes)];
          const out: Uint8Array[] = [];
          for (const [i, batch] of batches.entries()) {
            // Below the log start the range is on its way out: copied as it is. The stored log's
            // last batch stays whole too, as Kafka's cleaner keeps the last batch, so a reader
            // always finds a batch ending at the stored end (expired tombstones there stay).
            const untouched = range.lastOffset < located[0]!.range.baseOffset ||
              (range.lastOffset === end && i === batches.length - 1);
            const kept = untouched ? batch : await retainRecords(batch, keep);
            if (kept !== batch) {
              group.changed = true;
              cleaned += readBatchHeader(batch).recordCount -
                (kept === null ? 0 : readBatchHeader(kept).recordCount);
            }
            if (kept !== null) {
              out.push(kept);
              group.bytes += kept.length;
            }
          }
          group.parts.push({
            key,
            batches: out,
            baseOffset: range.baseOffset,
            lastOffset: range.lastOffset,
            maxTimestamp: range.maxTimestamp,
          });
        }
        group.sources.push(obj.objectKey);
        if (group.bytes >= _KEY_COMPACTION_OBJECT_BYTES) await flush();
      }
      await flush();
      if (added.length > 0) {
        failpoint("key-compaction-after-put");
        await this.#o.manifest.commitCompaction(added, removed);
      }
    } finally {
      for (const o of added) this.#o.inFlight.delete(o.objectKey);
    }
    // Ranges still in shared objects were not cleaned; the pass after compact() splits them.
    const ownKeys = new Set(own.map((o) => o.objectKey));
    const firstShared = located.find((l) => !ownKeys.has(l.objectKey));
    const cleanedTo = firstShared === undefined ? end : firstShared.range.baseOffset - 1;
    this.#cleanedEnd.set(key, Math.max(cleanedEnd, cleanedTo));
    if (added.length === 0) return 0;
    await this.#delete(removed);
    this.stats.compactedObjects += removed.length;
    this.stats.recordsCleaned += cleaned;
    this.#o.logger.info("compacted a partition by key", {
      partition: key,
      objects: removed.length,
      recordsRemoved: cleaned,
      keys: latest.size,
    });
    return removed.length;
  }

  /** Deletes objects the manifest no longer references (after DeleteRecords, say). */
  async deleteObjects(keys: readonly string[]): Promise<void> {
    await this.#delete(keys);
  }

  /** Forgets a deleted partition and deletes the objects only it referenced. */
  async removePartition(key: string): Promise<void> {
    await this.#delete(await this.#o.manifest.removePartition(key));
  }

  /** Deletes unreferenced objects older than the grace period. Returns how many. */
  async collectGarbage(): Promise<number> {
    const now = this.#o.nowMs();
    const doomed: string[] = [];
    for await (const o of this.#o.store.list(this.#o.prefix)) {
      if (this.#o.manifest.has(o.key) || this.#o.inFlight.has(o.key)) continue;
      const created = createdMsOf(o.key);
      if (created !== null && now - created < this.#o.gcGraceMs) continue;
      doomed.push(o.key);
    }
    await this.#delete(doomed);
    if (doomed.length > 0) {
      this.#o.logger.info("garbage collected objects", { deleted: doomed.length });
    }
    return doomed.length;
  }

  async #delete(keys: readonly string[]): Promise<void> {
    for (const k of keys) {
      await this.#o.store.delete(k);
      this.#o.blockCache.invalidate(`${k}@`);
      this.stats.deletedObjects++;
    }
  }
}

/**
 * The object key of a new object: `<prefix><createdMs, 15 digits>-<uuid>.obj`. The creation
 * time in the name lets garbage collection respect its grace period without a HEAD per object.
 */
export function newObjectKey(
  prefix: string,
  createdMs: number,
  random: Pick<Random, "uuid">,
): string {
  return `${prefix}${String(createdMs).padStart(15, "0")}-${random.uuid()}.obj`;
}

/** The creation time encoded by {@linkcode newObjectKey}, or null. */
export function createdMsOf(key: string): number | null {
  const m = /(\d{15})-[0-9a-f-]{36}\.obj$/.exec(key);
  return m ? Number(m[1]) : null;
}

/** A record key as a map key: one character per byte. */
function _keyString(key: Uint8Array): string {
  let out = "";
  for (let i = 0; i < key.length; i += 8192) {
    out += String.fromCharCode(...key.subarray(i, i + 8192));
  }
  return out;
}
