/**
 * Configuration of `rustmq subscriber bigquery`: the seed's TOML file (`--config` or
 * `CONFIG_FILE`) with the seed's environment variables on top. Every problem is collected and
 * reported at once, in the broker's {@linkcode ConfigProblem} shape.
 *
 * @module
 */

import { parse as parseToml } from "smol-toml";
import { ConfigError, type ConfigProblem } from "../config/load.ts";

/** How the subscriber authenticates to BigQuery. */
export type AuthMethod = "application_default" | "service_account" | "metadata_server" | "none";
/** How a record's JSON value becomes a row. */
export type SchemaMapping = "direct" | "custom" | "nested";
/** What happens to a record that cannot be inserted. */
export type DeadLetterAction = "log" | "drop" | "dead_letter_queue" | "file";

/** The validated subscriber configuration. */
export interface SubscriberConfig {
  readonly projectId: string;
  readonly dataset: string;
  readonly table: string;
  readonly topic: string;
  readonly brokers: readonly string[];
  /** Replaces each broker's scheme (`tcp`, `tls`, `quic`), as the console tools' --transport. */
  readonly transport: "" | "tcp" | "tls" | "quic";
  /** PEM CA certificate for tls:// and quic://, as the console tools' --ca-cert. */
  readonly caCertFile: string;
  readonly groupId: string;
  readonly authMethod: AuthMethod;
  readonly credentialsFile: string;
  readonly apiEndpoint: string;
  /** `streaming_inserts` (insertAll) or `storage_write` (the Storage Write API). */
  readonly writeMethod: "streaming_inserts" | "storage_write";
  /**
   * The Storage Write API stream: `default` (the table's shared stream, at least once) or
   * `committed` (a COMMITTED stream per partition with offsets, exactly once).
   */
  readonly storageStreamType: "default" | "committed";
  /** `host:port` of a Storage Write API emulator or test server, or "" for Google's. */
  readonly storageEndpoint: string;
  readonly skipInvalidRows: boolean;
  readonly ignoreUnknownValues: boolean;
  readonly maxRowsPerBatch: number;
  readonly maxBatchSizeBytes: number;
  readonly maxBatchLatencyMs: number;
  readonly maxConcurrentBatches: number;
  readonly schemaMapping: SchemaMapping;
  /** Column name to dotted source path (`custom`). */
  readonly columnMappings: Readonly<Record<string, string>>;
  /** Column name to a literal, or the string `CURRENT_TIMESTAMP()`. */
  readonly defaultValues: Readonly<Record<string, unknown>>;
  /** Kafka metadata columns to add: any of `_topic,_partition,_offset,_timestamp,_key`. */
  readonly metadataColumns: readonly MetadataColumn[];
  readonly autoCreateTable: boolean;
  /** Fields for `AUTO_CREATE_TABLE` from `BIGQUERY_SCHEMA_FILE` (the `bq` JSON format), or null. */
  readonly tableSchema: readonly Record<string, unknown>[] | null;
  readonly maxRetries: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly deadLetterAction: DeadLetterAction;
  readonly deadLetterTopic: string;
  readonly deadLetterFile: string;
  readonly healthListen: string;
  readonly gracefulShutdownTimeoutMs: number;
  /** Milliseconds with no successful insert after which /health says unhealthy. */
  readonly unhealthyAfterMs: number;
}

/** The optional Kafka metadata columns. */
export const METADATA_COLUMNS = ["_topic", "_partition", "_offset", "_timestamp", "_key"] as const;
/** One Kafka metadata column. */
export type MetadataColumn = typeof METADATA_COLUMNS[number];

const _AUTH = ["application_default", "service_account", "metadata_server", "none"] as const;
const _MAPPINGS = ["direct", "custom", "nested"] as const;
const _ACTIONS = ["log", "drop", "dead_letter_queue", "file"] as const;

/** Keys the TOML file accepts, per table; `null` marks a sub-table. */
const _FILE_KEYS: Record<string, readonly string[]> = {
  "": [
    "project_id",
    "dataset",
    "table",
    "write_method",
    "subscription",
    "schema",
    "graceful_shutdown_timeout_ms",
  ],
  "write_method": ["streaming_inserts", "storage_write"],
  "write_method.streaming_inserts": ["skip_invalid_rows", "ignore_unknown_values"],
  "write_method.storage_write": ["stream_type"],
  "subscription": ["topic", "broker_endpoints", "group_id"],
  "schema": ["mapping", "column_mappings", "default_values"],
};

/** Where the subscriber reads its settings. */
export interface SubscriberConfigSource {
  /** `--config` path; `CONFIG_FILE` is used when absent. */
  readonly configPath?: string;
  /** TOML text, used instead of reading the file (tests). */
  readonly text?: string;
  readonly env: Readonly<Record<string, string>>;
}

type _Raw = Record<string, unknown>;

/**
 * Loads and validates the configuration.
 *
 * @example
 * ```ts
 * import { loadSubscriberConfig } from "./subscriber_config.ts";
 * import assert from "node:assert/strict";
 * const cfg = loadSubscriberConfig({ env: {
 *   GCP_PROJECT_ID: "p", BIGQUERY_DATASET: "d", BIGQUERY_TABLE: "t", RUSTMQ_TOPIC: "events",
 *   RUSTMQ_BROKERS: "localhost:9092", AUTH_METHOD: "none", BIGQUERY_API_ENDPOINT: "http://127.0.0.1:9050",
 * } });
 * assert.equal(cfg.maxRowsPerBatch, 1000);
 * assert.equal(cfg.deadLetterTopic, "events-dlq");
 * ```
 * @throws {ConfigError} listing every problem found
 */
export function loadSubscriberConfig(source: SubscriberConfigSource): SubscriberConfig {
  const env = source.env;
  const path = source.configPath ?? env.CONFIG_FILE;
  const problems: ConfigProblem[] = [];
  let file: _Raw = {};
  const fileName = path ?? "<env>";
  if (path !== undefined || source.text !== undefined) {
    try {
      const text = source.text ?? Deno.readTextFileSync(path!);
      file = parseToml(text) as _Raw;
      _checkKeys(file, "", fileName, problems);
    } catch (err) {
      problems.push({
        file: fileName,
        key: "(file)",
        value: JSON.stringify(path ?? ""),
        reason: `cannot be read or parsed: ${(err as Error).message.split("\n")[0]}`,
      });
    }
  }
  const r = new _Reader(file, env, fileName, problems);
  const cfg = _build(r, env);
  if (problems.length === 0) problems.push(..._crossChecks(cfg, fileName, file));
  if (problems.length > 0) throw new ConfigError(problems);
  return cfg;
}

function _build(r: _Reader, env: Readonly<Record<string, string>>): SubscriberConfig {
  const topic = r.str("subscription.topic", "RUSTMQ_TOPIC", "", true);
  return {
    projectId: r.str("project_id", "GCP_PROJECT_ID", "", true),
    dataset: r.str("dataset", "BIGQUERY_DATASET", "", true),
    table: r.str("table", "BIGQUERY_TABLE", "", true),
    topic,
    brokers: r.list("subscription.broker_endpoints", "RUSTMQ_BROKERS", ["localhost:9092"]),
    transport: r.oneOf(null, "RUSTMQ_TRANSPORT", ["", "tcp", "tls", "quic"] as const, ""),
    caCertFile: r.str(null, "RUSTMQ_CA_CERT", ""),
    groupId: r.str("subscription.group_id", "RUSTMQ_GROUP_ID", "rustmq-bigquery-subscriber"),
    authMethod: r.oneOf(null, "AUTH_METHOD", _AUTH, "application_default"),
    credentialsFile: env.GOOGLE_APPLICATION_CREDENTIALS ?? "",
    apiEndpoint: r.str(null, "BIGQUERY_API_ENDPOINT", ""),
    writeMethod: _hasTable(r.file, "storage_write") ? "storage_write" : "streaming_inserts",
    storageStreamType: _streamType(r),
    storageEndpoint: r.str(null, "BIGQUERY_STORAGE_ENDPOINT", ""),
    skipInvalidRows: r.bool("write_method.streaming_inserts.skip_invalid_rows", null, false),
    ignoreUnknownValues: r.bool(
      "write_method.streaming_inserts.ignore_unknown_values",
      null,
      false,
    ),
    maxRowsPerBatch: r.int(null, "MAX_ROWS_PER_BATCH", 1000, 1, 50_000),
    maxBatchSizeBytes: r.int(null, "MAX_BATCH_SIZE_BYTES", 10_000_000, 1024, 10_000_000),
    maxBatchLatencyMs: r.int(null, "MAX_BATCH_LATENCY_MS", 1000, 1, 3_600_000),
    maxConcurrentBatches: r.int(null, "MAX_CONCURRENT_BATCHES", 10, 1, 1000),
    schemaMapping: r.oneOf("schema.mapping", "SCHEMA_MAPPING", _MAPPINGS, "direct"),
    columnMappings: r.table("schema.column_mappings", true) as Record<string, string>,
    defaultValues: r.table("schema.default_values", false),
    metadataColumns: r.metadataColumns("METADATA_COLUMNS"),
    autoCreateTable: r.bool(null, "AUTO_CREATE_TABLE", false),
    tableSchema: r.schemaFile("BIGQUERY_SCHEMA_FILE"),
    maxRetries: r.int(null, "MAX_RETRIES", 3, 0, 100),
    retryBaseMs: r.int(null, "RETRY_BASE_MS", 1000, 1, 3_600_000),
    retryMaxMs: r.int(null, "RETRY_MAX_MS", 30_000, 1, 3_600_000),
    deadLetterAction: r.oneOf(null, "DEAD_LETTER_ACTION", _ACTIONS, "log"),
    deadLetterTopic: r.str(null, "DEAD_LETTER_TOPIC", topic === "" ? "" : `${topic}-dlq`),
    deadLetterFile: r.str(null, "DEAD_LETTER_FILE", ""),
    healthListen: r.str(null, "HEALTH_LISTEN", "0.0.0.0:8080"),
    gracefulShutdownTimeoutMs: r.int(
      "graceful_shutdown_timeout_ms",
      "GRACEFUL_SHUTDOWN_TIMEOUT_MS",
      30_000,
      0,
      3_600_000,
    ),
    unhealthyAfterMs: r.int(null, "UNHEALTHY_AFTER_MS", 300_000, 1000, 86_400_000),
  };
}

function _crossChecks(cfg: SubscriberConfig, file: string, raw: _Raw): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const add = (key: string, value: unknown, reason: string) =>
    out.push({ file, key, value: JSON.stringify(value), reason });
  if (cfg.authMethod === "none" && cfg.apiEndpoint === "") {
    add(
      "AUTH_METHOD",
      "none",
      "is allowed only with BIGQUERY_API_ENDPOINT (an emulator or test server)",
    );
  }
  if (cfg.authMethod === "service_account" && cfg.credentialsFile === "") {
    add(
      "GOOGLE_APPLICATION_CREDENTIALS",
      "",
      "is required when AUTH_METHOD is service_account",
    );
  }
  for (const b of cfg.brokers) {
    if (!/^((tcp|tls|quic):\/\/)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(b)) {
      add("RUSTMQ_BROKERS", b, "must be host:port or a tcp://, tls:// or quic:// URL");
    }
  }
  const listen = cfg.healthListen.match(/^\[?([^\]]*?)\]?:(\d+)$/);
  if (listen === null || Number(listen[2]) > 65535) {
    add("HEALTH_LISTEN", cfg.healthListen, "must be host:port, such as 0.0.0.0:8080");
  }
  if (cfg.caCertFile !== "") {
    try {
      Deno.statSync(cfg.caCertFile);
    } catch (err) {
      add("RUSTMQ_CA_CERT", cfg.caCertFile, `cannot be read: ${(err as Error).message}`);
    }
  }
  if (cfg.retryBaseMs > cfg.retryMaxMs) {
    add("RETRY_BASE_MS", cfg.retryBaseMs, `cannot exceed RETRY_MAX_MS (${cfg.retryMaxMs})`);
  }
  if (cfg.deadLetterAction === "file" && cfg.deadLetterFile === "") {
    add("DEAD_LETTER_FILE", "", "is required when DEAD_LETTER_ACTION is file");
  }
  if (cfg.deadLetterAction === "dead_letter_queue" && cfg.deadLetterTopic === cfg.topic) {
    add("DEAD_LETTER_TOPIC", cfg.deadLetterTopic, "cannot be the topic the subscriber reads");
  }
  if (cfg.tableSchema !== null && !cfg.autoCreateTable) {
    add("BIGQUERY_SCHEMA_FILE", "(set)", "is used only with AUTO_CREATE_TABLE=true");
  }
  if (cfg.schemaMapping === "custom" && Object.keys(cfg.columnMappings).length === 0) {
    add("schema.column_mappings", {}, "needs at least one column when schema.mapping is custom");
  }
  if (cfg.schemaMapping !== "custom" && Object.keys(cfg.columnMappings).length > 0) {
    add("schema.column_mappings", cfg.columnMappings, "is used only when schema.mapping is custom");
  }
  if (_hasTable(raw, "storage_write") && _hasTable(raw, "streaming_inserts")) {
    add("write_method", raw.write_method, "may hold streaming_inserts or storage_write, not both");
  }
  if (
    cfg.storageEndpoint !== "" &&
    !/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(cfg.storageEndpoint)
  ) {
    add("BIGQUERY_STORAGE_ENDPOINT", cfg.storageEndpoint, "must be host:port");
  }
  if (
    cfg.authMethod === "none" && cfg.writeMethod === "storage_write" && cfg.storageEndpoint === ""
  ) {
    add("AUTH_METHOD", "none", "with storage_write is allowed only with BIGQUERY_STORAGE_ENDPOINT");
  }
  return out;
}

function _streamType(r: _Reader): "default" | "committed" {
  return r.oneOf(
    "write_method.storage_write.stream_type",
    null,
    ["default", "committed"] as const,
    "default",
  );
}

function _hasTable(raw: _Raw, method: string): boolean {
  const wm = raw.write_method as _Raw | undefined;
  return wm !== null && typeof wm === "object" && method in wm;
}

function _checkKeys(t: _Raw, prefix: string, file: string, problems: ConfigProblem[]): void {
  const allowed = _FILE_KEYS[prefix];
  if (allowed === undefined) return; // free-form tables (column_mappings, default_values)
  for (const [k, v] of Object.entries(t)) {
    const dotted = prefix === "" ? k : `${prefix}.${k}`;
    if (!allowed.includes(k)) {
      problems.push({
        file,
        key: dotted,
        value: JSON.stringify(v),
        reason: `is not a known key (known here: ${allowed.join(", ")})`,
      });
    } else if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      _checkKeys(v as _Raw, dotted, file, problems);
    }
  }
}

class _Reader {
  constructor(
    readonly file: _Raw,
    readonly env: Readonly<Record<string, string>>,
    readonly fileName: string,
    readonly problems: ConfigProblem[],
  ) {}

  /**
   * The env value when set and not empty (it overrides the file), else the file's. An empty
   * variable counts as unset, as compose files pass `${VAR:-}` through.
   */
  raw(key: string | null, envName: string | null): { v: unknown; where: string } | undefined {
    if (envName !== null && (this.env[envName] ?? "") !== "") {
      return { v: this.env[envName], where: envName };
    }
    if (key === null) return undefined;
    let cur: unknown = this.file;
    for (const part of key.split(".")) {
      if (cur === null || typeof cur !== "object") return undefined;
      cur = (cur as _Raw)[part];
    }
    return cur === undefined ? undefined : { v: cur, where: key };
  }

  bad(where: string, value: unknown, reason: string): void {
    const file = this.env[where] !== undefined && /^[A-Z_]+$/.test(where) ? "<env>" : this.fileName;
    this.problems.push({ file, key: where, value: JSON.stringify(value), reason });
  }

  str(key: string | null, envName: string | null, def: string, required = false): string {
    const r = this.raw(key, envName);
    if (r === undefined || r.v === "") {
      if (required) {
        this.bad(
          envName ?? key!,
          "",
          `is required${key !== null ? ` (or ${key} in the config file)` : ""}`,
        );
      }
      return def;
    }
    if (typeof r.v !== "string") {
      this.bad(r.where, r.v, "must be a string");
      return def;
    }
    return r.v;
  }

  list(key: string, envName: string, def: string[]): string[] {
    const r = this.raw(key, envName);
    if (r === undefined) return def;
    if (typeof r.v === "string") return r.v.split(",").map((s) => s.trim()).filter((s) => s);
    if (Array.isArray(r.v) && r.v.every((x) => typeof x === "string")) return r.v as string[];
    this.bad(r.where, r.v, "must be a list of host:port strings");
    return def;
  }

  int(key: string | null, envName: string, def: number, min: number, max: number): number {
    const r = this.raw(key, envName);
    if (r === undefined) return def;
    const n = typeof r.v === "string" && /^-?\d+$/.test(r.v.trim()) ? Number(r.v) : r.v;
    if (typeof n !== "number" || !Number.isSafeInteger(n)) {
      this.bad(r.where, r.v, "must be an integer");
      return def;
    }
    if (n < min || n > max) {
      this.bad(r.where, r.v, `must be between ${min} and ${max}`);
      return def;
    }
    return n;
  }

  bool(key: string | null, envName: string | null, def: boolean): boolean {
    const r = this.raw(key, envName);
    if (r === undefined) return def;
    if (typeof r.v === "boolean") return r.v;
    if (r.v === "true" || r.v === "1") return true;
    if (r.v === "false" || r.v === "0") return false;
    this.bad(r.where, r.v, "must be true or false");
    return def;
  }

  oneOf<T extends string>(
    key: string | null,
    envName: string | null,
    allowed: readonly T[],
    def: T,
  ): T {
    const r = this.raw(key, envName);
    if (r === undefined) return def;
    if (typeof r.v === "string" && (allowed as readonly string[]).includes(r.v)) return r.v as T;
    this.bad(r.where, r.v, `must be one of ${allowed.join(", ")}`);
    return def;
  }

  table(key: string, stringsOnly: boolean): Record<string, unknown> {
    const r = this.raw(key, null);
    if (r === undefined) return {};
    if (r.v === null || typeof r.v !== "object" || Array.isArray(r.v)) {
      this.bad(key, r.v, "must be a table");
      return {};
    }
    const out: Record<string, unknown> = {};
    for (const [col, v] of Object.entries(r.v as _Raw)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]{0,299}$/.test(col)) {
        this.bad(`${key}.${col}`, v, "is not a valid BigQuery column name");
      } else if (stringsOnly && (typeof v !== "string" || !/^[^.]+(\.[^.]+)*$/.test(v))) {
        this.bad(`${key}.${col}`, v, "must be a dotted source path such as user.id");
      } else out[col] = v;
    }
    return out;
  }

  schemaFile(envName: string): Record<string, unknown>[] | null {
    const path = this.env[envName] ?? "";
    if (path === "") return null;
    try {
      const parsed = JSON.parse(Deno.readTextFileSync(path));
      const fields = Array.isArray(parsed) ? parsed : parsed?.fields;
      const ok = Array.isArray(fields) && fields.length > 0 &&
        fields.every((f) => typeof f?.name === "string" && typeof f?.type === "string");
      if (ok) return fields;
      this.bad(envName, path, "must hold a JSON array of {name, type} fields (or {fields: [...]})");
    } catch (err) {
      this.bad(envName, path, `cannot be read as JSON: ${(err as Error).message}`);
    }
    return null;
  }

  metadataColumns(envName: string): MetadataColumn[] {
    const v = this.env[envName];
    if (v === undefined || v.trim() === "") return [];
    const cols = v.split(",").map((s) => s.trim());
    const bad = cols.filter((c) => !(METADATA_COLUMNS as readonly string[]).includes(c));
    if (bad.length > 0) {
      this.bad(envName, v, `may list only ${METADATA_COLUMNS.join(", ")}`);
      return [];
    }
    return cols as MetadataColumn[];
  }
}
