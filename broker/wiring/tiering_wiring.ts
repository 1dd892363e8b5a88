/**
 * Broker wiring, tiering: the object store, block cache and tiered reader, the maintenance
 * (compaction, garbage collection) and, once partitions are recovered, the uploader and the tier
 * service that runs them.
 *
 * @module
 */

import type { BrokerConfig } from "../../config/schema.ts";
import type { Logger } from "../../ops/logger.ts";
import { systemClock } from "../../ops/clock.ts";
import { systemRandom } from "../../ops/random.ts";
import type { ObjectManifest } from "../../model/object_manifest.ts";
import type { ObjectStore } from "../object_store/object_store.ts";
import { createResilientObjectStore } from "../object_store/object_store_factory.ts";
import { BlockCache, type EvictionPolicy } from "../tiering/block_cache.ts";
import { TieredReader } from "../tiering/tiered_reader.ts";
import { Uploader } from "../tiering/uploader.ts";
import { newObjectKey, TierMaintenance } from "../tiering/tier_maintenance.ts";
import { TierService } from "../tiering/tier_service.ts";
import type { PartitionManager, Tiering } from "../partition_manager.ts";
import type { BrokerStorage } from "./storage_wiring.ts";

/** The tiering parts the partitions need before the uploader exists. */
export interface TieringParts {
  readonly store: ObjectStore;
  readonly manifest: ObjectManifest;
  readonly blockCache: BlockCache;
  readonly reader: TieredReader;
  readonly maintenance: TierMaintenance;
  /** Object keys being written, which garbage collection must leave alone. */
  readonly inFlight: Set<string>;
  /** Where this broker's objects go. */
  readonly prefix: string;
  /** The uploader, once {@linkcode startTierService} built it (it reads recovered partitions). */
  uploader: Uploader | null;
}

/** Builds the object-storage half of the log (`objectStore` overrides `[object_storage]`). */
export function createTiering(
  cfg: BrokerConfig,
  manifest: ObjectManifest,
  objectStore: ObjectStore | undefined,
  log: Logger,
): TieringParts {
  const store = objectStore ?? createResilientObjectStore(cfg.object_storage, {
    clock: systemClock,
    random: systemRandom,
  });
  const blockCache = new BlockCache(cfg.cache.read_cache_size_bytes, {
    policy: cfg.cache.eviction_policy as EvictionPolicy,
    random: systemRandom,
  });
  const prefix = `${cfg.object_storage.key_prefix}objects/${cfg.broker.id}/`;
  const inFlight = new Set<string>();
  const maintenance = new TierMaintenance({
    store,
    manifest,
    blockCache,
    nowMs: () => Date.now(),
    objectKey: (ms) => newObjectKey(prefix, ms, systemRandom),
    prefix,
    compactBelowBytes: cfg.object_storage.compaction_threshold_bytes,
    gcGraceMs: cfg.object_storage.gc_grace_ms,
    inFlight,
    logger: log.child("maintenance"),
  });
  const reader = new TieredReader(manifest, store, blockCache);
  return { store, manifest, blockCache, reader, maintenance, inFlight, prefix, uploader: null };
}

/** The partition manager's view of tiering. */
export function partitionTiering(t: TieringParts): Tiering {
  return {
    manifest: t.manifest,
    reader: t.reader,
    removePartition: (key) => t.maintenance.removePartition(key),
    deleteObjects: (keys) => t.maintenance.deleteObjects(keys),
    // The uploader is built after the partitions it reads.
    uploadNow: () => t.uploader?.uploadNow() ?? Promise.resolve(null),
  };
}

/** Builds the uploader over the recovered partitions and starts the tier service. */
export function startTierService(
  cfg: BrokerConfig,
  t: TieringParts,
  deps: { storage: BrokerStorage; partitions: PartitionManager; log: Logger },
): TierService {
  const { wal, cache, walCapacity } = deps.storage;
  const partitions = deps.partitions;
  const checkpoint = (streamId: number, offset: number) => wal.checkpoint(streamId, BigInt(offset));
  const uploader = new Uploader({
    cache,
    store: t.store,
    manifest: t.manifest,
    partitions: () =>
      [...partitions.partitions()].filter((p) => p.role === "leader").map((p) => ({
        key: p.key,
        streamId: p.streamId,
        highWatermark: p.log.highWatermark,
      })),
    checkpoint,
    nowMs: () => Date.now(),
    objectKey: (ms) => newObjectKey(t.prefix, ms, systemRandom),
    uploadIntervalMs: cfg.wal.upload_interval_ms,
    uploadBytesTarget: cfg.object_storage.upload_bytes_target,
    rangeBytesMax: Math.min(8 * 1024 * 1024, cfg.object_storage.upload_bytes_target),
    underPressure: () =>
      wal.stats.usedBytes > walCapacity / 2 || cache.usedBytes > cache.capacityBytes / 2,
    inFlight: t.inFlight,
    maxUploadsInFlight: cfg.object_storage.max_concurrent_uploads,
    logger: deps.log.child("uploader"),
  });
  t.uploader = uploader;
  const tier = new TierService({
    uploader,
    maintenance: t.maintenance,
    partitions,
    store: t.store,
    manifest: t.manifest,
    blockCache: t.blockCache,
    cache,
    checkpoint,
    maintenanceIntervalMs: cfg.object_storage.maintenance_interval_ms,
    clock: systemClock,
    logger: deps.log.child("tier"),
  });
  tier.start();
  return tier;
}

/** Why uploads are failing, naming the store, or null while they succeed. */
export function objectStoreReason(
  cfg: BrokerConfig,
  uploader: Pick<Uploader, "failing"> | null,
  prefix: string,
): string | null {
  const failing = uploader?.failing;
  if (!failing) return null;
  const o = cfg.object_storage;
  const where = o.storage_type === "Local"
    ? `Local ${o.local_path}`
    : `${o.storage_type} bucket ${o.bucket}${o.endpoint ? ` at ${o.endpoint}` : ""}`;
  return `${prefix}object store unreachable since ${new Date(failing.sinceMs).toISOString()} ` +
    `(${where}): ${failing.error.message}`;
}
