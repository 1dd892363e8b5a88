/**
 * Per-module ETL metrics for `/metrics`: calls, records in and out, failures by kind, and
 * execution time as a histogram; plus, per topic, the records the failure policy skipped or
 * sent to the dead-letter topic.
 *
 * @module
 */

import { Counter, Histogram, type Metric, type Registry } from "prom-client";
import type { StageStats } from "../../etl/chain_runner.ts";
import type { EtlFailureKind } from "../../etl/etl_error.ts";

/** Execution-time buckets in seconds: a trivial module on one batch up to a timeout. */
const _BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30];

/** The ETL metrics of one broker. */
export class EtlMetrics {
  readonly #calls = new Counter({
    name: "rustmq_etl_module_calls_total",
    help: "Batches each ETL module ran on",
    labelNames: ["module"],
    registers: [],
  });
  readonly #recordsIn = new Counter({
    name: "rustmq_etl_module_records_in_total",
    help: "Records given to each ETL module",
    labelNames: ["module"],
    registers: [],
  });
  readonly #recordsOut = new Counter({
    name: "rustmq_etl_module_records_out_total",
    help: "Records each ETL module emitted",
    labelNames: ["module"],
    registers: [],
  });
  readonly #failures = new Counter({
    name: "rustmq_etl_module_failures_total",
    help: "Records (trap, abi, non_zero_return) and batches (timeout, memory) each module failed",
    labelNames: ["module", "kind"],
    registers: [],
  });
  readonly #seconds = new Histogram({
    name: "rustmq_etl_module_execution_seconds",
    help: "Seconds each ETL module spent on one batch",
    labelNames: ["module"],
    buckets: _BUCKETS,
    registers: [],
  });
  readonly #handled = new Counter({
    name: "rustmq_etl_failed_records_total",
    help: "Input records a module failed on, by topic and what the failure policy did",
    labelNames: ["topic", "policy"],
    registers: [],
  });

  /** Records what each stage of one batch did (the pool's `onStageStats`). */
  observeStages(stats: readonly StageStats[]): void {
    for (const s of stats) {
      this.#calls.inc({ module: s.module });
      this.#recordsIn.inc({ module: s.module }, s.recordsIn);
      this.#recordsOut.inc({ module: s.module }, s.recordsOut);
      this.#seconds.observe({ module: s.module }, s.seconds);
      for (const [kind, n] of Object.entries(s.failures)) {
        this.#failures.inc({ module: s.module, kind }, n);
      }
    }
  }

  /** A whole batch failed (a timeout or the memory limit) in `module`. */
  batchFailed(module: string, kind: EtlFailureKind): void {
    this.#failures.inc({ module, kind });
  }

  /** `count` failed records of `topic` were skipped, dead-lettered or rejected. */
  failedRecords(topic: string, policy: string, count: number): void {
    if (count > 0) this.#handled.inc({ topic, policy }, count);
  }

  /** Adds every metric to `registry`. */
  register(registry: Registry): void {
    for (
      const m of [
        this.#calls,
        this.#recordsIn,
        this.#recordsOut,
        this.#failures,
        this.#seconds,
        this.#handled,
      ]
    ) registry.registerMetric(m as Metric);
  }
}
