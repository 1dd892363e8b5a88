/**
 * The `[etl]` keys of `broker.toml` as {@linkcode EtlPool} options, so every key the schema
 * accepts has one place where the host applies it.
 *
 * @module
 */

import type { BrokerConfig } from "../config/schema.ts";
import type { EtlPoolOptions } from "./worker_pool.ts";

/**
 * The pool options of `etl`, or null when `etl.enabled` is false (a topic chain must then be
 * refused with {@linkcode ETL_DISABLED_MESSAGE}).
 *
 * @example
 * ```ts
 * import { etlPoolOptions } from "./etl_config.ts";
 * import { defaultsOf } from "../config/load.ts";
 * import { BROKER_SCHEMA, type BrokerConfig } from "../config/schema.ts";
 * import assert from "node:assert/strict";
 * const cfg = defaultsOf<BrokerConfig>(BROKER_SCHEMA);
 * assert.equal(etlPoolOptions(cfg.etl)?.executionTimeoutMs, 5000);
 * assert.equal(etlPoolOptions({ ...cfg.etl, enabled: false }), null);
 * ```
 */
export function etlPoolOptions(etl: BrokerConfig["etl"]): EtlPoolOptions | null {
  if (!etl.enabled) return null;
  return {
    maxConcurrentExecutions: etl.max_concurrent_executions,
    executionTimeoutMs: etl.execution_timeout_ms,
    memoryLimitBytes: etl.memory_limit_bytes,
    batchSize: etl.batch_size,
  };
}

/** Why a chain is refused on a broker with `etl.enabled = false`. */
export const ETL_DISABLED_MESSAGE =
  "Cannot run a WebAssembly ETL chain as etl.enabled is false on this broker";
