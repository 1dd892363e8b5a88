/**
 * Topic fields of the admin REST API beyond `configs`: the seed's `etl_modules` chain, and the
 * seed's create-topic field names (`partition_count`, `retention_policy`, `compression`) next to
 * ours. Each becomes the topic config it stands for, so it is stored and validated once, in the
 * metadata state machine.
 *
 * @module
 */

import { MetadataError } from "./metadata/errors.ts";
import type { MetadataStateMachine, TopicRecord } from "./metadata/state_machine.ts";
import { ETL_MODULES_KEY, etlChainOf } from "../model/etl_topic_config.ts";

/** A 400 naming the field. */
export class TopicFieldError extends MetadataError {
  constructor(readonly field: string, message: string) {
    super("BAD_REQUEST", message);
  }
}

/**
 * The configs `etl_modules` (an array of module names, or null to clear the chain) stands for;
 * empty when the body has no such field.
 *
 * @example
 * ```ts
 * import { etlModulesConfigs } from "./topic_body_fields.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(etlModulesConfigs({ etl_modules: ["a", "b"] }), { "rustmq.etl.modules": "a,b" });
 * assert.deepEqual(etlModulesConfigs({}), {});
 * ```
 */
export function etlModulesConfigs(body: Record<string, unknown>): Record<string, string> {
  const v = body.etl_modules;
  if (v === undefined) return {};
  if (v === null) return { [ETL_MODULES_KEY]: "" };
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || x === "" || x.includes(","))) {
    throw new TopicFieldError(
      "etl_modules",
      'Field \'etl_modules\' must be an array of module names, e.g. ["scrub", "enrich"]',
    );
  }
  return { [ETL_MODULES_KEY]: v.join(",") };
}

/**
 * The partition count of a create body: ours (`partitions`) or the seed's (`partition_count`),
 * or undefined when neither is set.
 */
export function partitionCountField(body: Record<string, unknown>): unknown {
  return body.partitions ?? body.partition_count;
}

/**
 * The configs the seed's `retention_policy` and `compression` stand for. `{"Time":
 * {"retention_ms": N}}` sets `retention.ms`, `{"Size": {"max_size_bytes": N}}` sets
 * `retention.bytes` and `"Infinite"` sets both to -1. Only `compression: "None"` is accepted:
 * RustMQ stores the batches producers compress, as Kafka does with `compression.type=producer`.
 */
export function seedCreateConfigs(body: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  const policy = body.retention_policy;
  if (policy !== undefined && policy !== null) {
    const p = policy as Record<string, Record<string, unknown> | undefined>;
    if (policy === "Infinite") {
      out["retention.ms"] = "-1";
      out["retention.bytes"] = "-1";
    } else if (typeof p.Time?.retention_ms === "number") {
      out["retention.ms"] = String(p.Time.retention_ms);
    } else if (typeof p.Size?.max_size_bytes === "number") {
      out["retention.bytes"] = String(p.Size.max_size_bytes);
    } else {
      throw new TopicFieldError(
        "retention_policy",
        `Field 'retention_policy' must be {"Time": {"retention_ms": N}}, {"Size": {"max_size_bytes": N}} or "Infinite"`,
      );
    }
  }
  const compression = body.compression;
  if (compression !== undefined && compression !== null && compression !== "None") {
    throw new TopicFieldError(
      "compression",
      `Cannot set compression '${
        String(compression)
      }' on a topic as RustMQ stores batches as producers compressed them: set the producer's compression instead`,
    );
  }
  return out;
}

/** The chain of `t` with each module's current version, as describe-topic shows it. */
export function etlChainJson(
  t: TopicRecord,
  sm: MetadataStateMachine,
): { name: string; version: number | null; sha256: string | null }[] {
  return etlChainOf(t.config).map((name) => {
    const m = sm.wasmModule(name);
    return { name, version: m?.version ?? null, sha256: m?.sha256 ?? null };
  });
}
