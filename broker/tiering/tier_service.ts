/**
 * Runs the tiering loops of a broker: the uploader ticks often (it decides itself whether an
 * upload is due), and maintenance (retention, compaction, garbage collection) runs every
 * `object_storage.maintenance_interval_ms`. Each loop runs one pass at a time; a failed pass is
 * logged and the next one retries, so an object store that is down only delays uploads while
 * the WAL absorbs writes.
 *
 * @module
 */

import type { Logger } from "../../ops/logger.ts";
import type { PartitionManager } from "../partition_manager.ts";
import type { ObjectStore } from "../object_store/object_store.ts";
import type { BlockCache } from "./block_cache.ts";
import type { TierMaintenance } from "./tier_maintenance.ts";
import type { Uploader } from "./uploader.ts";
import type { ObjectManifest } from "../../model/object_manifest.ts";
import type { LogCache } from "../log/log_cache.ts";
import { type Clock, every } from "../../ops/clock.ts";
import { cleanupPolicyHas } from "../../model/topic_config.ts";

/** How often the uploader is asked whether an upload is due. */
const UPLOAD_TICK_MS = 100;

/** Options of {@linkcode TierService}. */
export interface TierServiceOptions {
  readonly uploader: Uploader;
  readonly maintenance: TierMaintenance;
  readonly partitions: PartitionManager;
  readonly store: ObjectStore;
  readonly manifest: ObjectManifest;
  readonly blockCache: BlockCache;
  /** The log cache, released on followers as uploads cover it. */
  readonly cache: LogCache;
  /** WAL checkpoint of a stream, for followers. */
  readonly checkpoint: (streamId: number, offset: number) => void;
  readonly maintenanceIntervalMs: number;
  /** The clock the loops tick on. */
  readonly clock: Clock;
  readonly logger: Logger;
}

/** The tiering loops. */
export class TierService {
  readonly #o: TierServiceOptions;
  #stopLoops: (() => void)[] = [];
  #maintaining: Promise<void> | null = null;
  #stopped = false;

  constructor(options: TierServiceOptions) {
    this.#o = options;
  }

  get uploader(): Uploader {
    return this.#o.uploader;
  }

  get maintenance(): TierMaintenance {
    return this.#o.maintenance;
  }

  get blockCache(): BlockCache {
    return this.#o.blockCache;
  }

  get store(): ObjectStore {
    return this.#o.store;
  }

  get manifest(): ObjectManifest {
    return this.#o.manifest;
  }

  /** True when every durable offset of every partition is in object storage. */
  allUploaded(): boolean {
    for (const p of this.#o.partitions.partitions()) {
      const end = this.#o.manifest.partition(p.key)?.uploadedEndOffset ?? p.log.logStartOffset;
      if (end < p.log.highWatermark) return false;
    }
    return true;
  }

  start(): void {
    // Neither tick is awaited: the uploader and maintainNow each keep one pass at a time.
    this.#stopLoops = [
      every(this.#o.clock, UPLOAD_TICK_MS, () => {
        void this.#o.uploader.tick();
        this.releaseFollowers();
      }),
      every(this.#o.clock, this.#o.maintenanceIntervalMs, () => void this.maintainNow()),
    ];
  }

  /**
   * Followers never upload: they free their log cache and WAL once the leader's upload of the
   * same offsets is in the manifest, since object storage then holds them for everyone.
   */
  releaseFollowers(): void {
    for (const p of this.#o.partitions.partitions()) {
      if (p.role === "leader") continue;
      const end = this.#o.manifest.partition(p.key)?.uploadedEndOffset;
      if (end === undefined) continue;
      // Never past what this follower has durably appended itself.
      const upto = Math.min(end, p.log.logEndOffset);
      this.#o.cache.release(p.key, upto);
      this.#o.checkpoint(p.streamId, upto);
    }
  }

  /** One pass of retention, compaction and garbage collection (skipped if one is running). */
  maintainNow(): Promise<void> {
    if (this.#maintaining !== null || this.#stopped) return this.#maintaining ?? Promise.resolve();
    this.#maintaining = this.#maintain().catch((err) => {
      this.#o.logger.warn("maintenance pass failed; the next pass retries", { err: err as Error });
    }).finally(() => (this.#maintaining = null));
    return this.#maintaining;
  }

  async #maintain(): Promise<void> {
    const keyCompacted = new Set<string>();
    for (const p of this.#o.partitions.partitions()) {
      const policy = p.config["cleanup.policy"];
      // Kafka deletes by time and size only under `delete`; a compact-only topic keeps its keys.
      const newStart = !cleanupPolicyHas(policy, "delete")
        ? null
        : await this.#o.maintenance.applyRetention(p.key, {
          retentionMs: p.config["retention.ms"],
          retentionBytes: p.config["retention.bytes"],
        });
      if (newStart !== null && newStart > p.log.logStartOffset) {
        p.log.advanceLogStartOffset(Math.min(newStart, p.log.highWatermark));
      }
      // Only the leader rewrites a compacted partition's objects, so two brokers never race.
      if (cleanupPolicyHas(policy, "compact") && p.role === "leader") {
        keyCompacted.add(p.key);
        await this.#o.maintenance.compactKeys(p.key, {
          deleteRetentionMs: p.config["delete.retention.ms"],
          minDirtyRatio: p.config["min.cleanable.dirty.ratio"],
          minCompactionLagMs: p.config["min.compaction.lag.ms"],
          maxCompactionLagMs: p.config["max.compaction.lag.ms"],
        }).catch((err) => {
          // One partition's failure (a store error) must not stop the others' upkeep.
          this.#o.logger.warn("key compaction failed; the next pass retries", {
            partition: p.key,
            err: err as Error,
          });
        });
      }
    }
    await this.#o.maintenance.compact(64, keyCompacted);
    await this.#o.maintenance.collectGarbage();
  }

  /** Stops the loops and waits for a running pass. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const stop of this.#stopLoops) stop();
    await this.#maintaining;
    await this.#o.uploader.stop();
    await this.#o.uploader.uploadNow().catch(() => null).then(() => {});
  }
}
