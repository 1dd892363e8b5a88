/**
 * Broker wiring, storage: the WAL (sized against its disk, then recovered), the disk watch, the
 * log cache, the stream registry, and the fetch waiter every part wakes.
 *
 * @module
 */

import type { BrokerConfig } from "../../config/schema.ts";
import type { Logger } from "../../ops/logger.ts";
import { systemClock } from "../../ops/clock.ts";
import { Wal } from "../wal/wal.ts";
import type { RecoveredEntry } from "../wal/wal_recovery.ts";
import { LogCache } from "../log/log_cache.ts";
import { FetchWaiter } from "../fetch/fetch_waiter.ts";
import { StreamRegistry } from "../stream_registry.ts";
import { fileMetadataPersistence } from "../metadata/local_metadata.ts";
import { checkWalCapacity } from "../wal_capacity.ts";
import { WalDiskWatch } from "../wal_disk_watch.ts";

/** The broker's local storage, opened and recovered. */
export interface BrokerStorage {
  /** The WAL's capacity after clamping to its disk. */
  readonly walCapacity: number;
  readonly wal: Wal;
  /** What the WAL held at start, for the partitions to replay. */
  readonly recovered: readonly RecoveredEntry[];
  readonly diskWatch: WalDiskWatch;
  readonly cache: LogCache;
  readonly streams: StreamRegistry;
  readonly waiter: FetchWaiter;
}

/** Opens the WAL (recovering it), the log cache and the stream registry of `dataDir`. */
export async function openStorage(
  cfg: BrokerConfig,
  dataDir: string,
  log: Logger,
): Promise<BrokerStorage> {
  const walCapacity = await checkWalCapacity({
    path: cfg.wal.path,
    capacityBytes: cfg.wal.capacity_bytes,
    segmentBytes: cfg.wal.segment_size_bytes,
    clamp: cfg.wal.clamp_capacity_to_disk,
  }, log.child("wal"));
  const { wal, recovered } = await Wal.open({
    path: cfg.wal.path,
    capacityBytes: walCapacity,
    segmentSizeBytes: cfg.wal.segment_size_bytes,
    bufferSize: cfg.wal.buffer_size,
    fsyncOnWrite: cfg.wal.fsync_on_write,
    flushIntervalMs: cfg.wal.flush_interval_ms,
    backend: cfg.wal.io_backend as "auto" | "ffi" | "portable",
    logger: log.child("wal"),
  });
  const diskWatch = new WalDiskWatch(cfg.wal.path, cfg.wal.segment_size_bytes, log.child("wal"));
  const cache = new LogCache({
    capacityBytes: cfg.cache.write_cache_size_bytes,
    waitTimeoutMs: cfg.replication.ack_timeout_ms,
    clock: systemClock,
  });
  const streams = await StreamRegistry.open(fileMetadataPersistence(`${dataDir}/streams.json`));
  return { walCapacity, wal, recovered, diskWatch, cache, streams, waiter: new FetchWaiter() };
}

/** Why the WAL's disk refuses writes, for readiness and degraded checks, or null. */
export function walDiskReason(wal: Pick<Wal, "diskFullSinceMs">): string | null {
  const since = wal.diskFullSinceMs;
  return since === null
    ? null
    // The broker's WAL runs on the system clock (performance.now), hence timeOrigin.
    : `WAL disk full since ${
      new Date(performance.timeOrigin + since).toISOString()
    }: appends fail until space is freed`;
}
