/**
 * A broker's configuration as layers, as Kafka keeps it: schema defaults, the file
 * (`broker.toml`, re-read on SIGHUP), and dynamic overrides set at runtime (Kafka
 * IncrementalAlterConfigs on a BROKER resource, or `PUT /api/v1/brokers/:id/config`). A dynamic
 * override wins over the file, and the file over the default.
 *
 * Only keys marked `dynamic` in the schema change at runtime, and only once a part of the
 * broker has registered to apply them ({@linkcode DynamicBrokerConfig.apply}); a change to any
 * other key is refused with a message naming it. Every key is described under its Kafka name
 * where Kafka has one (`min.insync.replicas`), else as `section.key`.
 *
 * @module
 */

import { BROKER_SCHEMA, type BrokerConfig, type KeySpec } from "./schema.ts";
import { checkValue } from "./load.ts";
import { brokerContradictions } from "./rules.ts";
import { formatProblem } from "./config_problem.ts";
import { untracked } from "./read_tracker.ts";

/** Where a value comes from, as Kafka's DescribeConfigs names it. */
export type ConfigSource = "DEFAULT_CONFIG" | "STATIC_BROKER_CONFIG" | "DYNAMIC_BROKER_CONFIG";

/** Kafka's wire ids of {@linkcode ConfigSource}. */
export const CONFIG_SOURCE_ID: Readonly<Record<ConfigSource, number>> = {
  DYNAMIC_BROKER_CONFIG: 2,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
};

/** Kafka names of broker.toml keys, where Kafka has a broker config of the same meaning. */
export const KAFKA_BROKER_CONFIG_NAMES: Readonly<Record<string, string>> = {
  "broker.rack_id": "broker.rack",
  "broker.auto_create_topics": "auto.create.topics.enable",
  "broker.num_partitions": "num.partitions",
  "broker.log_retention_ms": "log.retention.ms",
  "broker.message_max_bytes": "message.max.bytes",
  "broker.message_downconversion_enable": "log.message.downconversion.enable",
  "network.max_connections": "max.connections",
  "network.max_request_bytes": "socket.request.max.bytes",
  "network.connection_timeout_ms": "connections.max.idle.ms",
  "wal.path": "log.dirs",
  "replication.min_in_sync_replicas": "min.insync.replicas",
  "replication.default_replication_factor": "default.replication.factor",
  "replication.heartbeat_timeout_ms": "replica.lag.time.max.ms",
  "replication.unclean_leader_election": "unclean.leader.election.enable",
  "broker.transaction_max_timeout_ms": "transaction.max.timeout.ms",
  "broker.transactional_id_expiration_ms": "transactional.id.expiration.ms",
  "broker.transaction_abort_check_interval_ms":
    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
};

const _SENSITIVE = new Set(["object_storage.access_key", "object_storage.secret_key"]);

/** A change to a broker config was refused; `code` is the Kafka error name. */
export class ConfigUpdateError extends Error {
  readonly retriable = false;
  constructor(
    readonly code: "INVALID_CONFIG" | "POLICY_VIOLATION" | "INVALID_REQUEST",
    message: string,
  ) {
    super(message);
    this.name = "ConfigUpdateError";
  }
}

/** One value and where it comes from. */
export interface ConfigSynonym {
  readonly name: string;
  readonly value: string | null;
  readonly source: ConfigSource;
}

/** One key as DescribeConfigs shows it. */
export interface DescribedConfig {
  /** The Kafka name, or `section.key`. */
  readonly name: string;
  /** `section.key` in broker.toml. */
  readonly key: string;
  /** The effective value as text; null for sensitive keys. */
  readonly value: string | null;
  readonly source: ConfigSource;
  /** Whether it can change at runtime. */
  readonly readOnly: boolean;
  readonly sensitive: boolean;
  readonly type: KeySpec["type"];
  readonly doc: string;
  /** Every layer that sets it, strongest first (Kafka's synonyms). */
  readonly synonyms: readonly ConfigSynonym[];
}

/** One requested change: a value to set, or null to remove the dynamic override. */
export interface ConfigChange {
  readonly name: string;
  readonly value: string | null;
}

type _Values = Record<string, Record<string, unknown>>;

/**
 * The layered configuration of one broker.
 *
 * @example
 * ```ts
 * import { DynamicBrokerConfig } from "./dynamic_config.ts";
 * import { defaultsOf } from "./load.ts";
 * import { BROKER_SCHEMA, type BrokerConfig } from "./schema.ts";
 * import assert from "node:assert/strict";
 * const file = defaultsOf<BrokerConfig>(BROKER_SCHEMA);
 * file.replication.default_replication_factor = 3;
 * const dyn = new DynamicBrokerConfig(file);
 * let applied = 0;
 * dyn.apply("replication", "min_in_sync_replicas", (v) => void (applied = v as number));
 * dyn.alter([{ name: "min.insync.replicas", value: "3" }]);
 * assert.equal(applied, 3);
 * assert.equal(dyn.describe(["min.insync.replicas"])[0]!.source, "DYNAMIC_BROKER_CONFIG");
 * assert.throws(() => dyn.alter([{ name: "wal.path", value: "/x" }]), /static/);
 * ```
 */
export class DynamicBrokerConfig {
  #file: BrokerConfig;
  readonly #updatesAllowed: boolean;
  readonly #overrides = new Map<string, unknown>();
  readonly #appliers = new Map<string, (value: unknown) => void>();
  readonly #listeners: ((keys: readonly string[]) => void)[] = [];

  /** `file` is the loaded broker.toml (defaults filled in); it may be read-tracked. */
  constructor(file: BrokerConfig) {
    this.#file = file;
    // Static: a re-read file that changes it is reported as needing a restart.
    this.#updatesAllowed = file.operations.allow_runtime_config_updates;
  }

  /** Whether `operations.allow_runtime_config_updates` lets anything change at runtime. */
  get updatesAllowed(): boolean {
    return this.#updatesAllowed;
  }

  /** The dynamic overrides, as `section.key -> value` (what is persisted). */
  get overrides(): Readonly<Record<string, unknown>> {
    return Object.fromEntries(this.#overrides);
  }

  /** Dynamic keys of the schema that no part of the broker applies (should be none). */
  unapplied(): string[] {
    return _keys().filter((k) => _spec(k).dynamic === true && !this.#appliers.has(k));
  }

  /**
   * Registers how a dynamic key takes effect and calls `applier` at once with the current
   * value (read from the file config, so a read-tracked config sees the key used).
   */
  apply(section: string, key: string, applier: (value: unknown) => void): void {
    const k = `${section}.${key}`;
    if (_spec(k).dynamic !== true) {
      throw new RangeError(`Cannot apply ${k} at runtime as the schema does not mark it dynamic`);
    }
    this.#appliers.set(k, applier);
    const fromFile = (this.#file as unknown as _Values)[section]![key];
    applier(this.#overrides.has(k) ? this.#overrides.get(k) : fromFile);
  }

  /** Called after every change that took effect, with the `section.key`s that changed. */
  onChange(listener: (keys: readonly string[]) => void): void {
    this.#listeners.push(listener);
  }

  /** Describes `names` (Kafka or `section.key` names), or every key. */
  describe(names: readonly string[] | null = null): DescribedConfig[] {
    const keys = names === null
      ? _keys()
      : names.map((n) => _resolve(n)).filter((k) => k !== null) as string[];
    return keys.map((k) => this.#describe(k));
  }

  /**
   * Sets or removes dynamic overrides, all or none: every change is validated, then the
   * merged configuration is checked as a whole (so `min.insync.replicas` above
   * `default.replication.factor` is refused), and only then applied.
   *
   * @throws {ConfigUpdateError} naming the key at fault
   */
  alter(changes: readonly ConfigChange[], options: { validateOnly?: boolean } = {}): string[] {
    if (!this.updatesAllowed) {
      throw new ConfigUpdateError(
        "POLICY_VIOLATION",
        "Cannot change broker configs at runtime as operations.allow_runtime_config_updates is false",
      );
    }
    const next = new Map(this.#overrides);
    for (const c of changes) {
      const k = this.#dynamicKey(c.name);
      if (c.value === null) next.delete(k);
      else next.set(k, _parse(k, c.name, c.value));
    }
    return this.#commit(next, this.#file, options.validateOnly === true);
  }

  /**
   * Takes a re-read broker.toml (SIGHUP). Changed dynamic keys take effect; a changed static
   * key keeps its running value and is reported, since it needs a restart.
   */
  reloadFile(file: BrokerConfig): { changed: string[]; needRestart: string[] } {
    const raw = untracked(file) as unknown as _Values;
    const current = untracked(this.#file) as unknown as _Values;
    const needRestart: string[] = [];
    const dynamicChanged: string[] = [];
    const merged = structuredClone(current);
    for (const k of _keys()) {
      const [s, key] = _split(k);
      if (JSON.stringify(raw[s]![key]) === JSON.stringify(current[s]![key])) continue;
      if (_spec(k).dynamic === true && this.#appliers.has(k)) {
        merged[s]![key] = raw[s]![key];
        dynamicChanged.push(k);
      } else needRestart.push(k);
    }
    if (!this.updatesAllowed && dynamicChanged.length > 0) {
      throw new ConfigUpdateError(
        "POLICY_VIOLATION",
        `Cannot apply ${dynamicChanged.join(", ")} from the re-read file as ` +
          "operations.allow_runtime_config_updates is false",
      );
    }
    const changed = this.#commit(
      new Map(this.#overrides),
      merged as unknown as BrokerConfig,
      false,
    );
    return { changed, needRestart };
  }

  #commit(next: Map<string, unknown>, file: BrokerConfig, validateOnly: boolean): string[] {
    const merged = structuredClone(untracked(file)) as unknown as _Values;
    for (const [k, v] of next) {
      const [s, key] = _split(k);
      merged[s]![key] = v;
    }
    const problems = brokerContradictions(merged as unknown as BrokerConfig, "dynamic config");
    if (problems.length > 0) {
      throw new ConfigUpdateError("INVALID_CONFIG", problems.map(formatProblem).join("; "));
    }
    if (validateOnly) return [];
    const before = this.#effective();
    this.#file = file;
    this.#overrides.clear();
    for (const [k, v] of next) this.#overrides.set(k, v);
    const changed = _keys().filter((k) =>
      JSON.stringify(before.get(k)) !== JSON.stringify(this.#value(k))
    );
    for (const k of changed) this.#appliers.get(k)?.(this.#value(k));
    if (changed.length > 0) { for (const l of this.#listeners) l(changed); }
    return changed;
  }

  #effective(): Map<string, unknown> {
    return new Map(_keys().map((k) => [k, this.#value(k)]));
  }

  #value(k: string): unknown {
    if (this.#overrides.has(k)) return this.#overrides.get(k);
    const [s, key] = _split(k);
    return (untracked(this.#file) as unknown as _Values)[s]![key];
  }

  #dynamicKey(name: string): string {
    const k = _resolve(name);
    if (k === null) {
      throw new ConfigUpdateError("INVALID_CONFIG", `Unknown broker config '${name}'`);
    }
    if (_spec(k).dynamic !== true || !this.#appliers.has(k)) {
      throw new ConfigUpdateError(
        "INVALID_CONFIG",
        `Cannot change broker config '${name}' at runtime as it is static: ` +
          `set ${k} in broker.toml and restart the broker`,
      );
    }
    return k;
  }

  #describe(k: string): DescribedConfig {
    const spec = _spec(k);
    const [s, key] = _split(k);
    const name = KAFKA_BROKER_CONFIG_NAMES[k] ?? k;
    const sensitive = _SENSITIVE.has(k);
    const text = (v: unknown) => (sensitive ? null : _text(v));
    const fileValue = (untracked(this.#file) as unknown as _Values)[s]![key];
    const synonyms: ConfigSynonym[] = [];
    if (this.#overrides.has(k)) {
      synonyms.push({
        name,
        value: text(this.#overrides.get(k)),
        source: "DYNAMIC_BROKER_CONFIG",
      });
    }
    if (JSON.stringify(fileValue) !== JSON.stringify(spec.default)) {
      synonyms.push({ name, value: text(fileValue), source: "STATIC_BROKER_CONFIG" });
    }
    synonyms.push({ name, value: text(spec.default), source: "DEFAULT_CONFIG" });
    return {
      name,
      key: k,
      value: text(this.#value(k)),
      source: synonyms[0]!.source,
      readOnly: !(spec.dynamic === true && this.#appliers.has(k)),
      sensitive,
      type: spec.type,
      doc: spec.doc,
      synonyms,
    };
  }
}

function _keys(): string[] {
  const out: string[] = [];
  for (const [s, keys] of Object.entries(BROKER_SCHEMA)) {
    for (const key of Object.keys(keys)) out.push(`${s}.${key}`);
  }
  return out;
}

function _split(k: string): [string, string] {
  const dot = k.lastIndexOf(".");
  return [k.slice(0, dot), k.slice(dot + 1)];
}

function _spec(k: string): KeySpec {
  const [s, key] = _split(k);
  return (BROKER_SCHEMA as unknown as Record<string, Record<string, KeySpec>>)[s]![key]!;
}

const _BY_KAFKA_NAME = new Map(
  Object.entries(KAFKA_BROKER_CONFIG_NAMES).map(([k, n]) => [n, k]),
);

/** `section.key` of a Kafka or RustMQ name, or null when neither names a key. */
function _resolve(name: string): string | null {
  const viaKafka = _BY_KAFKA_NAME.get(name);
  if (viaKafka !== undefined) return viaKafka;
  const [s, key] = _split(name);
  const section = (BROKER_SCHEMA as unknown as Record<string, Record<string, KeySpec>>)[s];
  return section !== undefined && Object.hasOwn(section, key) ? name : null;
}

function _parse(k: string, name: string, raw: string): unknown {
  const spec = _spec(k);
  let value: unknown = raw;
  if (spec.type === "int" || spec.type === "float") {
    value = /^-?\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw.trim()) : raw;
  } else if (spec.type === "bool") {
    value = raw === "true" ? true : raw === "false" ? false : raw;
  } else if (spec.type === "string[]") {
    value = raw.split(",").map((v) => v.trim()).filter((v) => v !== "");
  }
  const reason = checkValue(spec, value);
  if (reason !== null) {
    throw new ConfigUpdateError("INVALID_CONFIG", `Invalid value '${raw}' for ${name}: ${reason}`);
  }
  return value;
}

function _text(v: unknown): string {
  return Array.isArray(v) ? v.join(",") : String(v);
}
