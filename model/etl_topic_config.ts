/**
 * The topic configs of WebAssembly ETL: a topic's module chain, what a failing record does, and
 * where dead letters go. They are ordinary topic configs, so the chain is stored, replicated and
 * described with the rest of the topic (REST, CLI and Kafka's DescribeConfigs/AlterConfigs).
 *
 * | key | value |
 * |---|---|
 * | `rustmq.etl.modules` | module names in chain order, comma-separated; empty for none |
 * | `rustmq.etl.on.failure` | `reject` (default), `skip` or `dead-letter` |
 * | `rustmq.etl.dead.letter.topic` | the topic `dead-letter` writes failing input records to |
 *
 * @module
 */

/** The chain's config key. */
export const ETL_MODULES_KEY = "rustmq.etl.modules";
/** The failure policy's config key. */
export const ETL_ON_FAILURE_KEY = "rustmq.etl.on.failure";
/** The dead-letter topic's config key. */
export const ETL_DEAD_LETTER_TOPIC_KEY = "rustmq.etl.dead.letter.topic";
/** Longest chain a topic may have (Redpanda's transforms allow 8 outputs; we bound stages). */
export const ETL_CHAIN_MODULES_MAX = 8;

/** What a record that a module fails does. */
export type EtlFailurePolicy = "reject" | "skip" | "dead-letter";

/** The ETL part of a topic's config. */
export interface EtlTopicConfig {
  /** Comma-separated module names in chain order; `""` for no chain. */
  "rustmq.etl.modules": string;
  "rustmq.etl.on.failure": EtlFailurePolicy;
  /** `""` unless the policy is `dead-letter`. */
  "rustmq.etl.dead.letter.topic": string;
}

/** Defaults: no chain, reject. */
export const ETL_TOPIC_CONFIG_DEFAULTS: Readonly<EtlTopicConfig> = {
  "rustmq.etl.modules": "",
  "rustmq.etl.on.failure": "reject",
  "rustmq.etl.dead.letter.topic": "",
};

/** True for the keys {@linkcode parseEtlTopicConfig} owns. */
export function isEtlTopicConfigKey(key: string): key is keyof EtlTopicConfig {
  return key === ETL_MODULES_KEY || key === ETL_ON_FAILURE_KEY ||
    key === ETL_DEAD_LETTER_TOPIC_KEY;
}

/**
 * The chain of a topic config, in order; empty for none. Configs stored before ETL existed
 * lack the key, which also means none.
 *
 * @example
 * ```ts
 * import { etlChainOf } from "./etl_topic_config.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(etlChainOf({ "rustmq.etl.modules": "scrub,enrich" }), ["scrub", "enrich"]);
 * assert.deepEqual(etlChainOf({}), []);
 * ```
 */
export function etlChainOf(config: Readonly<Partial<EtlTopicConfig>>): string[] {
  const raw = config[ETL_MODULES_KEY] ?? "";
  return raw === "" ? [] : raw.split(",");
}

/**
 * Parses one ETL key into `out`, or throws a message saying why the value is refused. The
 * chain is normalized (spaces trimmed) so `a, b` and `a,b` are stored alike.
 */
export function parseEtlTopicConfig(
  out: EtlTopicConfig,
  key: keyof EtlTopicConfig,
  raw: string,
): void {
  if (key === ETL_MODULES_KEY) {
    const names = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
    if (names.length > ETL_CHAIN_MODULES_MAX) {
      throw new RangeError(`a chain has at most ${ETL_CHAIN_MODULES_MAX} modules`);
    }
    for (const n of names) {
      if (!/^[a-zA-Z0-9._-]{1,128}$/.test(n)) throw new RangeError(`'${n}' is not a module name`);
    }
    out[key] = names.join(",");
  } else if (key === ETL_ON_FAILURE_KEY) {
    if (raw !== "reject" && raw !== "skip" && raw !== "dead-letter") {
      throw new RangeError("expected reject, skip or dead-letter");
    }
    out[key] = raw;
  } else {
    if (raw !== "" && !/^[a-zA-Z0-9._-]{1,249}$/.test(raw)) {
      throw new RangeError("expected a topic name");
    }
    out[key] = raw;
  }
}

/** Why a whole ETL config is inconsistent, or null: `dead-letter` needs its topic. */
export function etlTopicConfigProblem(
  topic: string,
  config: Readonly<EtlTopicConfig>,
): string | null {
  const dlq = config[ETL_DEAD_LETTER_TOPIC_KEY];
  if (config[ETL_ON_FAILURE_KEY] === "dead-letter" && dlq === "") {
    return `Cannot set ${ETL_ON_FAILURE_KEY}=dead-letter on topic '${topic}' as ${ETL_DEAD_LETTER_TOPIC_KEY} is empty`;
  }
  if (dlq === topic) {
    return `Cannot use topic '${topic}' as its own ${ETL_DEAD_LETTER_TOPIC_KEY}`;
  }
  return null;
}

/** A deployed module as a broker sees it: its latest version, the bytes fetched by sha256. */
export interface EtlModuleRef {
  readonly name: string;
  readonly version: number;
  readonly sha256: string;
  readonly sizeBytes: number;
}
