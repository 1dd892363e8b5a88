/**
 * The subscriber's HTTP endpoints on `HEALTH_LISTEN`: `/health` (JSON, 200 while healthy or
 * degraded, 503 when unhealthy, so a probe restarts a stuck sidecar) and `/metrics` (the seed's
 * JSON counters, or Prometheus text on `?format=prometheus` or `Accept: text/plain`).
 *
 * @module
 */

import { Hono } from "hono";
import { Counter, Gauge, Registry } from "prom-client";
import type { SinkCounters, SinkHealth } from "./sink_metrics.ts";

/** What the endpoints read. */
export interface SubscriberStatus {
  health(): SinkHealth;
  readonly counters: SinkCounters;
}

const _COUNTERS: readonly (keyof SinkCounters)[] = [
  "messages_received",
  "messages_processed",
  "rows_inserted",
  "rows_failed",
  "retries",
  "dead_lettered",
  "batches_sent",
  "insert_latency_ms_sum",
  "insert_latency_ms_count",
];

/** Builds the Hono app. */
export function createSubscriberApp(status: SubscriberStatus): Hono {
  const registry = new Registry();
  for (const name of _COUNTERS) {
    new Counter({
      name: `rustmq_subscriber_${name}_total`,
      help: `BigQuery subscriber: ${name.replaceAll("_", " ")}`,
      registers: [registry],
      collect() {
        // The sink owns the numbers; a scrape copies them in.
        this.reset();
        this.inc(status.counters[name]);
      },
    });
  }
  new Gauge({
    name: "rustmq_subscriber_batches_in_flight",
    help: "BigQuery subscriber: insertAll batches in flight",
    registers: [registry],
    collect() {
      this.set(status.counters.batches_in_flight);
    },
  });
  new Gauge({
    name: "rustmq_subscriber_backlog",
    help: "BigQuery subscriber: records consumed and not yet committed",
    registers: [registry],
    collect() {
      this.set(status.health().backlog);
    },
  });
  const app = new Hono();
  app.get("/health", (c) => {
    const h = status.health();
    return c.json(h, h.status === "unhealthy" ? 503 : 200);
  });
  app.get("/metrics", async (c) => {
    const accept = c.req.header("accept") ?? "";
    if (c.req.query("format") === "prometheus" || /text\/plain|openmetrics/.test(accept)) {
      return c.text(await registry.metrics(), 200, { "content-type": registry.contentType });
    }
    const k = status.counters;
    return c.json({
      ...k,
      insert_latency_ms_avg: k.insert_latency_ms_count === 0
        ? 0
        : k.insert_latency_ms_sum / k.insert_latency_ms_count,
    });
  });
  return app;
}
