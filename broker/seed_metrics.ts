/**
 * The metrics the seed's monitoring section names, exported next to RustMQ's own `rustmq_*`
 * ones so that its dashboards and alerts (ops/prometheus/alerts.yaml) work unchanged:
 * `messages_produced_total`, `messages_consumed_total`, `produce_latency_seconds`,
 * `consume_latency_seconds`, `wal_size_bytes`, `cache_hit_ratio`, `object_storage_upload_rate`,
 * `replication_lag` and `in_sync_replicas_count`.
 *
 * @module
 */

import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** The broker state the gauges read when Prometheus scrapes. */
export interface SeedMetricSources {
  walUsedBytes(): number;
  /** Block-cache (read cache) hits and misses so far. */
  cacheStats(): { hits: number; misses: number };
  /** Bytes uploaded to object storage so far. */
  uploadedBytes(): number;
  /** Partitions this broker leads: ISR size and each follower's lag in offsets. */
  ledPartitions(): Iterable<{
    topic: string;
    partition: number;
    isr: number;
    followerLags: Iterable<[number, number]>;
  }>;
  /** Monotonic milliseconds. */
  nowMs(): number;
}

const _BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Counts records on the request path; {@linkcode SeedMetrics.register} exports everything. */
export class SeedMetrics {
  readonly #produced = new Counter({
    name: "messages_produced_total",
    help: "Records appended by produce requests this broker led (seed name)",
    registers: [],
  });
  readonly #consumed = new Counter({
    name: "messages_consumed_total",
    help: "Records returned to consumer fetches, replica fetches excluded (seed name)",
    registers: [],
  });
  readonly #produceLatency = new Histogram({
    name: "produce_latency_seconds",
    help: "Produce requests: seconds from decode to response (seed name)",
    buckets: _BUCKETS,
    registers: [],
  });
  readonly #consumeLatency = new Histogram({
    name: "consume_latency_seconds",
    help:
      "Fetch requests: seconds from decode to response, a long-poll's wait included (seed name)",
    buckets: _BUCKETS,
    registers: [],
  });

  /** Feeds the two latency histograms from the request router's observer. */
  observe(api: string, seconds: number): void {
    if (api === "Produce") this.#produceLatency.observe(seconds);
    else if (api === "Fetch") this.#consumeLatency.observe(seconds);
  }

  /** Records appended by one produced batch. */
  recordsProduced(n: number): void {
    this.#produced.inc(n);
  }

  /** Records returned by one consumer fetch. */
  recordsConsumed(n: number): void {
    this.#consumed.inc(n);
  }

  /** Adds every seed metric to `registry`. */
  register(registry: Registry, s: SeedMetricSources): void {
    for (const m of [this.#produced, this.#consumed, this.#produceLatency, this.#consumeLatency]) {
      registry.registerMetric(m);
    }
    _gauge(registry, "wal_size_bytes", "Bytes held by WAL segments (seed name)", s.walUsedBytes);
    _gauge(registry, "cache_hit_ratio", "Read (block) cache hits / lookups, 0 before any", () => {
      const { hits, misses } = s.cacheStats();
      return hits + misses === 0 ? 0 : hits / (hits + misses);
    });
    let last = { atMs: s.nowMs(), bytes: s.uploadedBytes() };
    _gauge(
      registry,
      "object_storage_upload_rate",
      "Bytes per second uploaded to object storage since the previous scrape (seed name)",
      () => {
        const now = { atMs: s.nowMs(), bytes: s.uploadedBytes() };
        const dt = (now.atMs - last.atMs) / 1000;
        const rate = dt > 0 ? (now.bytes - last.bytes) / dt : 0;
        last = now;
        return rate;
      },
    );
    _replicationGauges(registry, s);
  }
}

function _gauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

function _replicationGauges(registry: Registry, s: SeedMetricSources): void {
  new Gauge({
    name: "replication_lag",
    help: "Offsets a follower is behind the leader, per partition led here (seed name)",
    labelNames: ["topic", "partition", "replica"],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of s.ledPartitions()) {
        for (const [replica, lag] of p.followerLags) {
          this.set(
            { topic: p.topic, partition: String(p.partition), replica: String(replica) },
            lag,
          );
        }
      }
    },
  });
  new Gauge({
    name: "in_sync_replicas_count",
    help: "In-sync replicas of each partition led here (seed name)",
    labelNames: ["topic", "partition"],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of s.ledPartitions()) {
        this.set({ topic: p.topic, partition: String(p.partition) }, p.isr);
      }
    },
  });
}

/** Records in a buffer of whole RecordBatch v2 batches (the count is at byte 57 of each). */
export function recordCountOf(batches: Uint8Array): number {
  const view = new DataView(batches.buffer, batches.byteOffset, batches.byteLength);
  let n = 0;
  // Batch layout: baseOffset int64, batchLength int32, then batchLength bytes.
  for (let at = 0; at + 61 <= batches.length;) {
    const length = view.getInt32(at + 8);
    n += view.getInt32(at + 57);
    at += 12 + length;
  }
  return n;
}
