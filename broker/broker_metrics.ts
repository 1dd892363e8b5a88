/**
 * Request and network metrics of a broker, for `/metrics`: what Kafka's RequestMetrics and
 * socket-server metrics tell an operator (request rates and latency per API, connections, bytes
 * per listener).
 *
 * Request latency is observed on the request path, so the per-API histogram children are made
 * once and cached. Network figures are the listeners' own counters, read when Prometheus scrapes.
 *
 * @module
 */

import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { NetCounters } from "./net/frame_handler.ts";
import type { RequestObserver } from "./kafka_api/request_router.ts";

/** Latency buckets in seconds, from a cached produce to a long-polled fetch. */
const _BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/** Per-API request latency and failures; {@linkcode RequestMetrics.observe} feeds the router. */
export class RequestMetrics {
  readonly #duration = new Histogram({
    name: "rustmq_request_duration_seconds",
    help: "Kafka requests by API: seconds from decode to response (a parked Fetch's wait included)",
    labelNames: ["api"],
    buckets: _BUCKETS,
    registers: [],
  });
  readonly #failed = new Counter({
    name: "rustmq_request_failures_total",
    help: "Kafka requests whose handling threw, closing the client's connection",
    labelNames: ["api"],
    registers: [],
  });
  readonly #children = new Map<string, { observe(seconds: number): void }>();

  /** Records one request; pass it to `createRequestRouter`. */
  readonly observe: RequestObserver = (api, seconds, failed) => {
    let child = this.#children.get(api);
    if (child === undefined) this.#children.set(api, child = this.#duration.labels(api));
    child.observe(seconds);
    if (failed) this.#failed.inc({ api });
  };

  /** Adds both metrics to `registry`. */
  register(registry: Registry): void {
    registry.registerMetric(this.#duration);
    registry.registerMetric(this.#failed);
  }
}

/** A listener's counters under its transport label (`tcp`, `quic`, `replication`). */
export interface LabelledNetCounters {
  readonly transport: string;
  readonly counters: NetCounters;
}

/** Registers connection, byte and request figures per listener, read at scrape time. */
export function registerNetworkMetrics(
  registry: Registry,
  listeners: readonly LabelledNetCounters[],
): void {
  new Gauge({
    name: "rustmq_network_connections",
    help: "Client connections open, per listener",
    labelNames: ["transport"],
    registers: [registry],
    collect() {
      for (const l of listeners) this.set({ transport: l.transport }, l.counters.connectionsOpen);
    },
  });
  const counter = (name: string, help: string, read: (c: NetCounters) => number) =>
    new Counter({
      name,
      help,
      labelNames: ["transport"],
      registers: [registry],
      collect() {
        this.reset();
        for (const l of listeners) this.inc({ transport: l.transport }, read(l.counters));
      },
    });
  counter(
    "rustmq_network_connections_accepted_total",
    "Connections accepted since start",
    (c) => c.connectionsAccepted,
  );
  counter(
    "rustmq_network_connections_rejected_total",
    "Connections refused because network.max_connections was reached",
    (c) => c.connectionsRejected,
  );
  counter(
    "rustmq_network_connections_errored_total",
    "Connections closed for a broken limit, bad framing or a failed handler",
    (c) => c.connectionsErrored,
  );
  counter("rustmq_network_received_bytes_total", "Bytes read from clients", (c) => c.bytesIn);
  counter("rustmq_network_sent_bytes_total", "Bytes written to clients", (c) => c.bytesOut);
  counter("rustmq_network_requests_total", "Request frames received", (c) => c.requests);
}
