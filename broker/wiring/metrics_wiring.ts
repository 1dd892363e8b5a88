/**
 * Broker wiring, metrics and the operations endpoint: `/health`, `/ready` and `/metrics`, with
 * gauges that read narrow, read-only views (the WAL's stats, the partitions' health, the
 * committed offsets) when Prometheus scrapes, never the partitions' mutable state.
 *
 * @module
 */

import { Counter, Gauge, type Registry } from "prom-client";
import type { Hono } from "hono";
import type { BrokerConfig } from "../../config/schema.ts";
import { parseHostPort } from "../../config/rules.ts";
import type { Logger } from "../../ops/logger.ts";
import { createOpsApp, type OpsServer, serveOps } from "../../ops/ops_server.ts";
import { VERSION } from "../../config/version.ts";
import type { Wal } from "../wal/wal.ts";
import type { LogCache } from "../log/log_cache.ts";
import type { WalDiskWatch } from "../wal_disk_watch.ts";
import type { OffsetStore } from "../group/offset_store.ts";
import type { Uploader } from "../tiering/uploader.ts";
import type { EtlMetrics } from "../produce/etl_metrics.ts";
import type { PartitionHealth, PartitionsHealthView } from "../partition_health.ts";
import {
  type LabelledNetCounters,
  registerNetworkMetrics,
  type RequestMetrics,
} from "../broker_metrics.ts";
import { walDiskReason } from "./storage_wiring.ts";
import { objectStoreReason } from "./tiering_wiring.ts";

/** What the operations endpoint reads and serves. */
export interface OpsSources {
  readonly wal: Pick<Wal, "stats" | "diskFull" | "diskFullSinceMs">;
  readonly diskWatch: Pick<WalDiskWatch, "freeBytes">;
  readonly cache: Pick<LogCache, "usedBytes">;
  readonly uploader: Pick<Uploader, "failing">;
  readonly partitions: PartitionsHealthView;
  readonly offsets: Pick<OffsetStore, "groups" | "fetch">;
  readonly requests: RequestMetrics;
  readonly etl: EtlMetrics;
  readonly listeners: readonly LabelledNetCounters[];
  /** Registers the seed's metric names. */
  readonly seed: (registry: Registry) => void;
  /** Mounts extra routes, before `mountBinding`'s (standalone's admin API answers the rest). */
  readonly mount: (app: Hono) => void;
  readonly mountBinding?: (app: Hono) => void;
}

/** Serves `/health`, `/ready` and `/metrics` on `network.http_listen`. */
export function startOps(cfg: BrokerConfig, s: OpsSources, log: Logger): OpsServer {
  const { app, registry } = createOpsApp({
    role: "broker",
    version: VERSION,
    readiness: {
      storage: () => s.partitions.fatalError?.message ?? null,
      wal_disk: () => walDiskReason(s.wal),
    },
    degraded: {
      wal_disk: () => walDiskReason(s.wal),
      object_store: () => objectStoreReason(cfg, s.uploader, ""),
    },
  });
  _storageMetrics(registry, s);
  s.requests.register(registry);
  s.etl.register(registry);
  s.seed(registry);
  registerNetworkMetrics(registry, s.listeners);
  _consumerLagGauge(registry, s.partitions, s.offsets);
  _replicationGauges(registry, s.partitions);
  s.mount(app);
  s.mountBinding?.(app);
  const http = parseHostPort(cfg.network.http_listen)!;
  return serveOps(app, { hostname: http.host, port: http.port }, log.child("http"));
}

/** The partitions this broker leads, as the seed's replication gauges read them. */
export function* ledPartitions(view: PartitionsHealthView) {
  for (const p of view.all()) {
    if (p.leading === null) continue;
    yield {
      topic: p.topic,
      partition: p.partition,
      isr: p.leading.isrSize,
      followerLags: p.leading.followerLags,
    };
  }
}

function _storageMetrics(registry: Registry, s: OpsSources): void {
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  gauge("rustmq_wal_used_bytes", "Bytes held by WAL segments", () => s.wal.stats.usedBytes);
  gauge(
    "rustmq_wal_disk_full",
    "1 while WAL writes fail as the disk is full",
    () => s.wal.diskFull ? 1 : 0,
  );
  gauge(
    "rustmq_wal_disk_free_bytes",
    "Free bytes on the WAL's filesystem (-1 where it cannot be measured)",
    () => s.diskWatch.freeBytes ?? -1,
  );
  counter("rustmq_wal_appends_total", "WAL appends acknowledged", () => s.wal.stats.appends);
  counter("rustmq_wal_writes_total", "WAL group-commit writes", () => s.wal.stats.writes);
  gauge("rustmq_log_cache_used_bytes", "Bytes in the log cache", () => s.cache.usedBytes);
  gauge("rustmq_partitions", "Partitions hosted by this broker", () => s.partitions.count);
}

/**
 * Consumer lag per group and partition: the high watermark minus the committed offset, computed
 * when Prometheus scrapes, from the coordinator's offset cache. Groups and partitions this broker
 * does not host are skipped rather than guessed.
 */
function _consumerLagGauge(
  registry: Registry,
  partitions: PartitionsHealthView,
  offsets: Pick<OffsetStore, "groups" | "fetch">,
): void {
  new Gauge({
    name: "rustmq_consumer_group_lag",
    help: "High watermark minus committed offset, per consumer group and partition",
    labelNames: ["group", "topic", "partition"],
    registers: [registry],
    collect() {
      this.reset();
      for (const group of offsets.groups()) {
        for (const o of offsets.fetch(group, null)) {
          const hw = partitions.highWatermark(o.topic, o.partition);
          if (hw === undefined || o.offset < 0n) continue;
          const lag = Math.max(0, hw - Number(o.offset));
          this.set({ group, topic: o.topic, partition: String(o.partition) }, lag);
        }
      }
    },
  });
}

/**
 * Replication health of the partitions this broker hosts: ISR size and follower lag of those it
 * leads, and the count of under-replicated (ISR smaller than the replica set) and offline (no
 * leader) partitions among them.
 */
function _replicationGauges(registry: Registry, partitions: PartitionsHealthView): void {
  const labels = (p: PartitionHealth) => ({ topic: p.topic, partition: String(p.partition) });
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        collect(this);
      },
    });
  gauge("rustmq_partition_isr_size", "In-sync replicas of each partition this broker leads", [
    "topic",
    "partition",
  ], (g) => {
    g.reset();
    for (const p of partitions.all()) if (p.leading) g.set(labels(p), p.leading.isrSize);
  });
  gauge(
    "rustmq_replication_lag_messages",
    "Offsets a follower is behind the leader's log end, per partition this broker leads",
    ["topic", "partition", "replica"],
    (g) => {
      g.reset();
      for (const p of partitions.all()) {
        for (const [replica, lag] of p.leading?.followerLags ?? []) {
          g.set({ ...labels(p), replica: String(replica) }, lag);
        }
      }
    },
  );
  gauge(
    "rustmq_under_replicated_partitions",
    "Partitions led here whose ISR is smaller than their replica set",
    [],
    (g) => g.set(_count(partitions.all(), (p) => p.leading?.underReplicated === true)),
  );
  gauge(
    "rustmq_offline_partitions",
    "Partitions hosted here that have no leader",
    [],
    (g) => g.set(_count(partitions.all(), (p) => p.role === "offline")),
  );
}

function _count<T>(items: Iterable<T>, ok: (t: T) => boolean): number {
  let n = 0;
  for (const t of items) if (ok(t)) n++;
  return n;
}
