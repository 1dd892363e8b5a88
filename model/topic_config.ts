/**
 * Topic names and per-topic configs, validated as Kafka validates them.
 *
 * @module
 */

/** Kafka's limit on topic name length. */
export const TOPIC_NAME_BYTES_MAX = 249;
/** Upper bound on partitions per topic, a guard against typos like 1000000. */
export const TOPIC_PARTITIONS_MAX = 10_000;

import {
  ETL_TOPIC_CONFIG_DEFAULTS,
  type EtlTopicConfig,
  isEtlTopicConfigKey,
  parseEtlTopicConfig,
} from "./etl_topic_config.ts";

/** Per-topic configs RustMQ understands, with their Kafka names (ETL's in etl_topic_config.ts). */
export interface TopicConfig extends EtlTopicConfig {
  "retention.ms": number;
  "retention.bytes": number;
  "max.message.bytes": number;
  "cleanup.policy": "delete" | "compact";
  "message.timestamp.type": "CreateTime" | "LogAppendTime";
  "min.insync.replicas": number;
  /** How long compaction keeps a key's tombstone (a null value) before dropping it. */
  "delete.retention.ms": number;
}

/** Defaults of {@linkcode TopicConfig}, matching Kafka's broker defaults. */
export const TOPIC_CONFIG_DEFAULTS: Readonly<TopicConfig> = {
  "retention.ms": 604_800_000,
  "retention.bytes": -1,
  "max.message.bytes": 1_048_588,
  "cleanup.policy": "delete",
  "message.timestamp.type": "CreateTime",
  "min.insync.replicas": 1,
  "delete.retention.ms": 86_400_000,
  ...ETL_TOPIC_CONFIG_DEFAULTS,
};

/** An invalid topic name or config, mapped to Kafka's INVALID_TOPIC_EXCEPTION / INVALID_CONFIG. */
export class InvalidTopicError extends Error {
  readonly retriable = false;
  readonly code:
    | "INVALID_TOPIC_EXCEPTION"
    | "INVALID_CONFIG"
    | "INVALID_PARTITIONS"
    | "INVALID_REPLICATION_FACTOR";
  constructor(code: InvalidTopicError["code"], message: string) {
    super(message);
    this.name = "InvalidTopicError";
    this.code = code;
  }
}

/**
 * Throws unless `name` is a legal Kafka topic name: 1 to 249 characters of `[a-zA-Z0-9._-]`,
 * and not `.` or `..`.
 *
 * @example
 * ```ts
 * import { validateTopicName } from "./topic_config.ts";
 * import assert from "node:assert/strict";
 * validateTopicName("orders.v2_eu-west");
 * assert.throws(() => validateTopicName("bad topic"));
 * ```
 */
export function validateTopicName(name: string): void {
  if (name.length === 0) {
    throw new InvalidTopicError("INVALID_TOPIC_EXCEPTION", "Topic name is empty");
  }
  if (name === "." || name === "..") {
    throw new InvalidTopicError("INVALID_TOPIC_EXCEPTION", `Topic name cannot be '${name}'`);
  }
  if (name.length > TOPIC_NAME_BYTES_MAX) {
    throw new InvalidTopicError(
      "INVALID_TOPIC_EXCEPTION",
      `Topic name is longer than ${TOPIC_NAME_BYTES_MAX} characters: current length is ${name.length}`,
    );
  }
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) {
    throw new InvalidTopicError(
      "INVALID_TOPIC_EXCEPTION",
      `Topic name '${name}' is illegal: it may contain only ASCII letters, digits, '.', '_' and '-'`,
    );
  }
}

/** Parses string configs (as CreateTopics and the REST API carry them) into a TopicConfig. */
export function parseTopicConfig(
  entries: Readonly<Record<string, string | null>>,
  base: Readonly<TopicConfig> = TOPIC_CONFIG_DEFAULTS,
): TopicConfig {
  const out: TopicConfig = { ...base };
  for (const [key, raw] of Object.entries(entries)) {
    if (raw === null) continue;
    switch (key) {
      case "retention.ms":
      case "retention.bytes":
        out[key] = _int(key, raw, -1);
        break;
      case "max.message.bytes":
        out[key] = _int(key, raw, 0);
        break;
      case "min.insync.replicas":
        out[key] = _int(key, raw, 1);
        break;
      case "delete.retention.ms":
        out[key] = _int(key, raw, 0);
        break;
      case "cleanup.policy":
        if (raw !== "delete" && raw !== "compact") _bad(key, raw, "expected delete or compact");
        out[key] = raw as TopicConfig["cleanup.policy"];
        break;
      case "message.timestamp.type":
        if (raw !== "CreateTime" && raw !== "LogAppendTime") {
          _bad(key, raw, "expected CreateTime or LogAppendTime");
        }
        out[key] = raw as TopicConfig["message.timestamp.type"];
        break;
      default:
        if (!isEtlTopicConfigKey(key)) _bad(key, raw, "unknown topic config");
        try {
          parseEtlTopicConfig(out, key, raw);
        } catch (e) {
          _bad(key, raw, (e as Error).message);
        }
    }
  }
  return out;
}

function _int(key: string, raw: string, min: number): number {
  const n = Number(raw);
  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n)) {
    _bad(key, raw, "expected an integer");
  }
  if (n < min) _bad(key, raw, `must be at least ${min}`);
  return n;
}

function _bad(key: string, raw: string, why: string): never {
  throw new InvalidTopicError(
    "INVALID_CONFIG",
    `Invalid value '${raw}' for topic config ${key}: ${why}`,
  );
}
