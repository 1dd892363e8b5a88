/**
 * The subscriber's counters (`/metrics`) and health (`/health`). Plain numbers, so the sink
 * core updates them without I/O and the ops layer renders them as JSON or Prometheus text.
 *
 * @module
 */

/** The seed's `/metrics` counters. */
export interface SinkCounters {
  messages_received: number;
  messages_processed: number;
  rows_inserted: number;
  rows_failed: number;
  retries: number;
  dead_lettered: number;
  batches_in_flight: number;
  batches_sent: number;
  insert_latency_ms_sum: number;
  insert_latency_ms_count: number;
  insert_latency_ms_max: number;
}

/** A fresh set of counters at zero. */
export function newCounters(): SinkCounters {
  return {
    messages_received: 0,
    messages_processed: 0,
    rows_inserted: 0,
    rows_failed: 0,
    retries: 0,
    dead_lettered: 0,
    batches_in_flight: 0,
    batches_sent: 0,
    insert_latency_ms_sum: 0,
    insert_latency_ms_count: 0,
    insert_latency_ms_max: 0,
  };
}

/** What `/health` reports. */
export interface SinkHealth {
  status: "healthy" | "degraded" | "unhealthy";
  last_successful_insert: string | null;
  backlog: number;
  batches_in_flight: number;
  consecutive_failures: number;
  reason?: string;
}

/** The inputs of {@linkcode healthOf}. */
export interface HealthInputs {
  readonly nowMs: number;
  readonly startedAtMs: number;
  readonly lastSuccessMs: number | null;
  readonly consecutiveFailures: number;
  readonly backlog: number;
  readonly batchesInFlight: number;
  readonly unhealthyAfterMs: number;
}

/**
 * Health from the sink's state: `unhealthy` when records wait and no insert succeeded for
 * `unhealthyAfterMs` (an idle subscriber with nothing to write is not unhealthy), `degraded`
 * while the latest inserts fail, else `healthy`.
 *
 * @example
 * ```ts
 * import { healthOf } from "./sink_metrics.ts";
 * import assert from "node:assert/strict";
 * const base = { nowMs: 10_000, startedAtMs: 0, lastSuccessMs: 9_000, consecutiveFailures: 0,
 *   backlog: 5, batchesInFlight: 1, unhealthyAfterMs: 60_000 };
 * assert.equal(healthOf(base).status, "healthy");
 * assert.equal(healthOf({ ...base, consecutiveFailures: 2 }).status, "degraded");
 * assert.equal(healthOf({ ...base, nowMs: 70_000 }).status, "unhealthy");
 * ```
 */
export function healthOf(h: HealthInputs): SinkHealth {
  const since = h.lastSuccessMs ?? h.startedAtMs;
  const out: SinkHealth = {
    status: "healthy",
    last_successful_insert: h.lastSuccessMs === null
      ? null
      : new Date(h.lastSuccessMs).toISOString(),
    backlog: h.backlog,
    batches_in_flight: h.batchesInFlight,
    consecutive_failures: h.consecutiveFailures,
  };
  if (h.backlog > 0 && h.nowMs - since > h.unhealthyAfterMs) {
    out.status = "unhealthy";
    out.reason = `no insert succeeded for ${h.nowMs - since} ms with ${h.backlog} records waiting`;
  } else if (h.consecutiveFailures > 0) {
    out.status = "degraded";
    out.reason = `the last ${h.consecutiveFailures} insert attempt(s) failed`;
  }
  return out;
}
