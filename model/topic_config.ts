/**
 * Topic names and per-topic configs, validated as Kafka validates them.
 *
 * @module
 */

import { closest } from "fastest-levenshtein";
import {
  ETL_TOPIC_CONFIG_DEFAULTS,
  type EtlTopicConfig,
  isEtlTopicConfigKey,
  parseEtlTopicConfig,
} from "./etl_topic_config.ts";

/** Kafka's limit on topic name length. */
export const TOPIC_NAME_BYTES_MAX = 249;
/** Upper bound on partitions per topic, a guard against typos like 1000000. */
export const TOPIC_PARTITIONS_MAX = 10_000;

/** `cleanup.policy`: a list in Kafka, kept here in one canonical order. */
export type CleanupPolicy = "delete" | "compact" | "compact,delete";

/** `compression.type`: `producer` keeps what the producer sent; the rest recompress. */
export type TopicCompression = "producer" | "uncompressed" | "gzip" | "snappy" | "lz4" | "zstd";

/**
 * Every per-topic config Kafka 3.9 defines, under its Kafka name. The ones RustMQ applies are
 * listed first; the rest are stored and described, with the reason they have no effect here in
 * {@linkcode TOPIC_CONFIG_KEYS} (`inert`). Kafka's `Long.MAX_VALUE` ("no limit") is held as
 * `Number.MAX_SAFE_INTEGER` and described as 9223372036854775807. RustMQ's own keys (the ETL
 * chain, `rustmq.etl.*`) are in `etl_topic_config.ts`.
 */
export interface TopicConfig extends EtlTopicConfig {
  "retention.ms": number;
  "retention.bytes": number;
  "max.message.bytes": number;
  "cleanup.policy": CleanupPolicy;
  "message.timestamp.type": "CreateTime" | "LogAppendTime";
  "min.insync.replicas": number;
  /** How long compaction keeps a key's tombstone (a null value) before dropping it. */
  "delete.retention.ms": number;
  "compression.type": TopicCompression;
  "min.compaction.lag.ms": number;
  "max.compaction.lag.ms": number;
  "min.cleanable.dirty.ratio": number;
  "message.timestamp.before.max.ms": number;
  "message.timestamp.after.max.ms": number;
  /** Deprecated by KIP-937; stands in for an unset before/after bound, as in Kafka. */
  "message.timestamp.difference.max.ms": number;
  "message.downconversion.enable": boolean;
  // Stored and described; see TOPIC_CONFIG_KEYS for why each has no effect.
  "segment.bytes": number;
  "segment.ms": number;
  "segment.jitter.ms": number;
  "segment.index.bytes": number;
  "index.interval.bytes": number;
  "preallocate": boolean;
  "file.delete.delay.ms": number;
  "flush.messages": number;
  "flush.ms": number;
  "local.retention.ms": number;
  "local.retention.bytes": number;
  "remote.storage.enable": boolean;
  "remote.log.copy.disable": boolean;
  "remote.log.delete.on.disable": boolean;
  "message.format.version": string;
  "compression.gzip.level": number;
  "compression.lz4.level": number;
  "compression.zstd.level": number;
  "leader.replication.throttled.replicas": string;
  "follower.replication.throttled.replicas": string;
  "unclean.leader.election.enable": boolean;
}

/** Kafka's `Long.MAX_VALUE`, the "no limit" of many configs, as RustMQ holds it. */
export const CONFIG_LONG_MAX = Number.MAX_SAFE_INTEGER;
const _LONG_MAX_TEXT = "9223372036854775807";

/** Defaults of {@linkcode TopicConfig}, matching Kafka's broker defaults. */
export const TOPIC_CONFIG_DEFAULTS: Readonly<TopicConfig> = {
  ...ETL_TOPIC_CONFIG_DEFAULTS,
  "retention.ms": 604_800_000,
  "retention.bytes": -1,
  "max.message.bytes": 1_048_588,
  "cleanup.policy": "delete",
  "message.timestamp.type": "CreateTime",
  "min.insync.replicas": 1,
  "delete.retention.ms": 86_400_000,
  "compression.type": "producer",
  "min.compaction.lag.ms": 0,
  "max.compaction.lag.ms": CONFIG_LONG_MAX,
  "min.cleanable.dirty.ratio": 0.5,
  "message.timestamp.before.max.ms": CONFIG_LONG_MAX,
  "message.timestamp.after.max.ms": CONFIG_LONG_MAX,
  "message.timestamp.difference.max.ms": CONFIG_LONG_MAX,
  "message.downconversion.enable": true,
  "segment.bytes": 1_073_741_824,
  "segment.ms": 604_800_000,
  "segment.jitter.ms": 0,
  "segment.index.bytes": 10_485_760,
  "index.interval.bytes": 4096,
  "preallocate": false,
  "file.delete.delay.ms": 60_000,
  "flush.messages": CONFIG_LONG_MAX,
  "flush.ms": CONFIG_LONG_MAX,
  "local.retention.ms": -2,
  "local.retention.bytes": -2,
  "remote.storage.enable": false,
  "remote.log.copy.disable": false,
  "remote.log.delete.on.disable": false,
  "message.format.version": "3.0-IV1",
  "compression.gzip.level": -1,
  "compression.lz4.level": 9,
  "compression.zstd.level": 3,
  "leader.replication.throttled.replicas": "",
  "follower.replication.throttled.replicas": "",
  "unclean.leader.election.enable": false,
};

/** How a config's text is checked, and Kafka's ConfigType number for DescribeConfigs. */
type _Kind =
  | { readonly kind: "long" | "int"; readonly min: number; readonly max?: number }
  | { readonly kind: "double"; readonly min: number; readonly max: number }
  | { readonly kind: "boolean" }
  | { readonly kind: "enum"; readonly values: readonly string[] }
  | { readonly kind: "policy" }
  | { readonly kind: "replicas" }
  | { readonly kind: "version" };

/** One Kafka topic config key: how it is checked, and why it does nothing here, if it does not. */
export interface TopicConfigKey {
  readonly key: keyof TopicConfig;
  readonly type: _Kind;
  /** Why the key is stored and described but has no effect, or null when RustMQ applies it. */
  readonly inert: string | null;
}

const _NO_SEGMENTS = "inert: RustMQ keeps no local log segments; the WAL and the uploader " +
  "size objects in object storage (see [wal] and [object_storage] in broker.toml)";
const _WAL_FLUSH = "inert: durability comes from the WAL's group commit (see [wal] in " +
  "broker.toml), not from per-topic flushes";
const _ALWAYS_TIERED = "inert: object storage is the system of record for every topic; the " +
  "WAL keeps only what is not uploaded yet";
const _LEVELS = "inert: recompression runs each codec at its default level";
const _THROTTLE = "inert: replication throttling is not implemented; followers fetch at full speed";
const _INT_MAX = 2_147_483_647;
const _LONG = (min: number) => ({ kind: "long", min }) as const;
const _INT = (min: number, max = _INT_MAX) => ({ kind: "int", min, max }) as const;
const _BOOL = { kind: "boolean" } as const;

/** Every key of {@linkcode TopicConfig}, in the order DescribeConfigs lists them. */
export const TOPIC_CONFIG_KEYS: readonly TopicConfigKey[] = [
  { key: "cleanup.policy", type: { kind: "policy" }, inert: null },
  {
    key: "compression.type",
    type: { kind: "enum", values: ["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"] },
    inert: null,
  },
  { key: "delete.retention.ms", type: _LONG(0), inert: null },
  { key: "max.compaction.lag.ms", type: _LONG(1), inert: null },
  { key: "max.message.bytes", type: _INT(0), inert: null },
  // Applied: false answers Fetch v0-3 for the topic with UNSUPPORTED_VERSION.
  { key: "message.downconversion.enable", type: _BOOL, inert: null },
  { key: "message.timestamp.after.max.ms", type: _LONG(0), inert: null },
  { key: "message.timestamp.before.max.ms", type: _LONG(0), inert: null },
  { key: "message.timestamp.difference.max.ms", type: _LONG(0), inert: null },
  {
    key: "message.timestamp.type",
    type: { kind: "enum", values: ["CreateTime", "LogAppendTime"] },
    inert: null,
  },
  { key: "min.cleanable.dirty.ratio", type: { kind: "double", min: 0, max: 1 }, inert: null },
  { key: "min.compaction.lag.ms", type: _LONG(0), inert: null },
  { key: "min.insync.replicas", type: _INT(1), inert: null },
  { key: "retention.bytes", type: _LONG(-1), inert: null },
  { key: "retention.ms", type: _LONG(-1), inert: null },
  { key: "compression.gzip.level", type: _INT(-1, 9), inert: _LEVELS },
  { key: "compression.lz4.level", type: _INT(1, 17), inert: _LEVELS },
  { key: "compression.zstd.level", type: _INT(-131072, 22), inert: _LEVELS },
  { key: "file.delete.delay.ms", type: _LONG(0), inert: _NO_SEGMENTS },
  { key: "flush.messages", type: _LONG(1), inert: _WAL_FLUSH },
  { key: "flush.ms", type: _LONG(0), inert: _WAL_FLUSH },
  { key: "follower.replication.throttled.replicas", type: { kind: "replicas" }, inert: _THROTTLE },
  { key: "index.interval.bytes", type: _INT(0), inert: _NO_SEGMENTS },
  { key: "leader.replication.throttled.replicas", type: { kind: "replicas" }, inert: _THROTTLE },
  { key: "local.retention.bytes", type: _LONG(-2), inert: _ALWAYS_TIERED },
  { key: "local.retention.ms", type: _LONG(-2), inert: _ALWAYS_TIERED },
  {
    key: "message.format.version",
    type: { kind: "version" },
    inert: "inert: deprecated since Kafka 3.0; RecordBatch v2 is always stored",
  },
  { key: "preallocate", type: _BOOL, inert: _NO_SEGMENTS },
  { key: "remote.log.copy.disable", type: _BOOL, inert: _ALWAYS_TIERED },
  { key: "remote.log.delete.on.disable", type: _BOOL, inert: _ALWAYS_TIERED },
  { key: "remote.storage.enable", type: _BOOL, inert: _ALWAYS_TIERED },
  { key: "segment.bytes", type: _INT(14), inert: _NO_SEGMENTS },
  { key: "segment.index.bytes", type: _INT(4), inert: _NO_SEGMENTS },
  { key: "segment.jitter.ms", type: _LONG(0), inert: _NO_SEGMENTS },
  { key: "segment.ms", type: _LONG(1), inert: _NO_SEGMENTS },
  {
    key: "unclean.leader.election.enable",
    type: _BOOL,
    inert: "inert: leaders are elected only from the ISR, so no acknowledged write is lost",
  },
];

const _BY_KEY: ReadonlyMap<string, TopicConfigKey> = new Map(
  TOPIC_CONFIG_KEYS.map((k) => [k.key, k]),
);

/** The key's description, or undefined for a name Kafka does not define for topics. */
export function topicConfigKey(key: string): TopicConfigKey | undefined {
  return _BY_KEY.get(key);
}

/** Whether `policy` includes `part` (`compact,delete` includes both). */
export function cleanupPolicyHas(policy: CleanupPolicy, part: "compact" | "delete"): boolean {
  return policy.split(",").includes(part);
}

/**
 * A config value as Kafka writes it: `Long.MAX_VALUE` for "no limit", booleans and numbers as
 * text.
 *
 * @example
 * ```ts
 * import { formatTopicConfigValue, TOPIC_CONFIG_DEFAULTS } from "./topic_config.ts";
 * import assert from "node:assert/strict";
 * const d = TOPIC_CONFIG_DEFAULTS;
 * assert.equal(formatTopicConfigValue("flush.ms", d["flush.ms"]), "9223372036854775807");
 * assert.equal(formatTopicConfigValue("preallocate", false), "false");
 * ```
 */
export function formatTopicConfigValue(key: string, value: TopicConfig[keyof TopicConfig]): string {
  const type = _BY_KEY.get(key)?.type.kind;
  if (type === "long" && value === CONFIG_LONG_MAX) return _LONG_MAX_TEXT;
  return String(value);
}

/** Every config of `config` as text, in {@linkcode TOPIC_CONFIG_KEYS} order. */
export function topicConfigEntries(config: Readonly<TopicConfig>): [keyof TopicConfig, string][] {
  const kafka = TOPIC_CONFIG_KEYS.map((k): [keyof TopicConfig, string] => [
    k.key,
    formatTopicConfigValue(k.key, config[k.key] ?? TOPIC_CONFIG_DEFAULTS[k.key]),
  ]);
  const etl = (Object.keys(ETL_TOPIC_CONFIG_DEFAULTS) as (keyof EtlTopicConfig)[]).map((
    key,
  ): [keyof TopicConfig, string] => [key, config[key] ?? ETL_TOPIC_CONFIG_DEFAULTS[key]]);
  return [...kafka, ...etl];
}

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

/**
 * Parses string configs (as CreateTopics and the REST API carry them) into a TopicConfig. A null
 * value leaves the key as `base` has it. Every Kafka topic config key is accepted; a key Kafka
 * does not define fails with INVALID_CONFIG naming the nearest known key.
 *
 * @example
 * ```ts
 * import { parseTopicConfig } from "./topic_config.ts";
 * import assert from "node:assert/strict";
 * const c = parseTopicConfig({ "cleanup.policy": "delete,compact", "segment.bytes": "1048576" });
 * assert.equal(c["cleanup.policy"], "compact,delete");
 * assert.throws(() => parseTopicConfig({ "segment.byte": "1" }), /nearest known key is 'segment.bytes'/);
 * ```
 */
export function parseTopicConfig(
  entries: Readonly<Record<string, string | null>>,
  base: Readonly<TopicConfig> = TOPIC_CONFIG_DEFAULTS,
): TopicConfig {
  // Configs stored before a key existed read as its default.
  const out: TopicConfig = { ...TOPIC_CONFIG_DEFAULTS, ...base };
  const record = out as unknown as Record<string, unknown>;
  for (const [key, raw] of Object.entries(entries)) {
    if (isEtlTopicConfigKey(key)) {
      if (raw === null) continue;
      try {
        parseEtlTopicConfig(out, key, raw);
      } catch (e) {
        _bad(key, raw, (e as Error).message);
      }
      continue;
    }
    const spec = _BY_KEY.get(key);
    if (spec === undefined) {
      const known = [
        ...TOPIC_CONFIG_KEYS.map((k) => k.key),
        ...Object.keys(ETL_TOPIC_CONFIG_DEFAULTS),
      ];
      const nearest = closest(key, known);
      throw new InvalidTopicError(
        "INVALID_CONFIG",
        `Cannot set '${key}': unknown topic config key; the nearest known key is '${nearest}'`,
      );
    }
    if (raw === null) continue;
    record[key] = _parseValue(key, raw.trim(), spec.type);
  }
  return out;
}

function _parseValue(key: string, raw: string, type: _Kind): string | number | boolean {
  switch (type.kind) {
    case "long":
      return _integer(key, raw, type.min, 2n ** 63n - 1n);
    case "int":
      return _integer(key, raw, type.min, BigInt(type.max ?? _INT_MAX));
    case "double": {
      const n = Number(raw);
      if (raw === "" || !Number.isFinite(n)) _bad(key, raw, "expected a number");
      if (n < type.min || n > type.max) _bad(key, raw, `must be in [${type.min}, ${type.max}]`);
      return n;
    }
    case "boolean":
      if (raw.toLowerCase() !== "true" && raw.toLowerCase() !== "false") {
        _bad(key, raw, "expected true or false");
      }
      return raw.toLowerCase() === "true";
    case "enum":
      if (!type.values.includes(raw)) _bad(key, raw, `expected one of ${type.values.join(", ")}`);
      return raw;
    case "policy":
      return _policy(key, raw);
    case "replicas":
      // Kafka's form: "*" or a list of partition:broker pairs.
      if (raw !== "" && raw !== "*" && !/^\d+:\d+(\s*,\s*\d+:\d+)*$/.test(raw)) {
        _bad(key, raw, "expected * or a list of partition:broker pairs");
      }
      return raw;
    case "version":
      if (!/^\d+\.\d+/.test(raw)) _bad(key, raw, "expected a Kafka version such as 3.0-IV1");
      return raw;
  }
}

function _policy(key: string, raw: string): CleanupPolicy {
  const parts = new Set(raw.split(",").map((p) => p.trim()));
  for (const p of parts) {
    if (p !== "delete" && p !== "compact") {
      _bad(key, raw, "expected delete, compact or both (compact,delete)");
    }
  }
  if (parts.size === 2) return "compact,delete";
  return parts.has("compact") ? "compact" : "delete";
}

function _integer(key: string, raw: string, min: number, max: bigint): number {
  if (!/^-?\d+$/.test(raw)) _bad(key, raw, "expected an integer");
  const n = BigInt(raw);
  if (n < BigInt(min)) _bad(key, raw, `must be at least ${min}`);
  if (n > max) _bad(key, raw, `must be at most ${max}`);
  // Beyond 2^53 only "no limit" makes sense for a count of bytes or milliseconds.
  return n > BigInt(CONFIG_LONG_MAX) ? CONFIG_LONG_MAX : Number(n);
}

function _bad(key: string, raw: string, why: string): never {
  throw new InvalidTopicError(
    "INVALID_CONFIG",
    `Invalid value '${raw}' for topic config ${key}: ${why}`,
  );
}
