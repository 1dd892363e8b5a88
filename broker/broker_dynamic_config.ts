/**
 * Wires the broker's dynamic configuration: each key the schema marks dynamic is given the
 * part of the broker that applies it, overrides survive restarts in `dynamic_config.json` in
 * the broker's data directory (as Kafka keeps dynamic broker configs in its metadata), and the
 * `GET`/`PUT /api/v1/brokers/:id/config` routes serve them over HTTP.
 *
 * @module
 */

import { writeFileAtomicSync } from "../ops/disk.ts";
import type { Context, Hono } from "hono";
import type { BrokerConfig } from "../config/schema.ts";
import {
  type ConfigChange,
  ConfigUpdateError,
  type DescribedConfig,
  DynamicBrokerConfig,
} from "../config/dynamic_config.ts";
import type { LogLevel } from "../ops/logger.ts";
import type { Logger } from "../ops/logger.ts";
import type { BlockCache } from "./tiering/block_cache.ts";

/** Topic defaults the broker applies to topics created through it; changed in place. */
export interface LiveTopicDefaults {
  autoCreateTopics: boolean;
  partitions: number;
  replicationFactor: number;
  minInsyncReplicas: number;
  retentionMs: number;
  messageMaxBytes: number;
  messageDownconversionEnable: boolean;
}

/** What the dynamic keys act on. */
export interface DynamicTargets {
  readonly blockCache: BlockCache;
  /** The running loggers' shared level, when the role made one. */
  readonly logLevel?: { level: LogLevel };
}

const _FILE = "dynamic_config.json";

/** Builds the broker's dynamic config and registers an applier for every dynamic key. */
export async function startDynamicConfig(
  cfg: BrokerConfig,
  targets: DynamicTargets,
  dataDir: string,
  logger: Logger,
): Promise<{ dynamic: DynamicBrokerConfig; topicDefaults: LiveTopicDefaults }> {
  const dynamic = new DynamicBrokerConfig(cfg);
  const d = {} as LiveTopicDefaults;
  const num = (f: (v: number) => void) => (v: unknown) => f(v as number);
  dynamic.apply("broker", "auto_create_topics", (v) => void (d.autoCreateTopics = v as boolean));
  dynamic.apply("broker", "num_partitions", num((v) => d.partitions = v));
  dynamic.apply("broker", "log_retention_ms", num((v) => d.retentionMs = v));
  dynamic.apply("broker", "message_max_bytes", num((v) => d.messageMaxBytes = v));
  dynamic.apply("broker", "message_downconversion_enable", (v) => {
    d.messageDownconversionEnable = v as boolean;
  });
  dynamic.apply("replication", "default_replication_factor", num((v) => d.replicationFactor = v));
  dynamic.apply("replication", "min_in_sync_replicas", num((v) => d.minInsyncReplicas = v));
  dynamic.apply("cache", "read_cache_size_bytes", num((v) => targets.blockCache.resize(v)));
  const levelRef = targets.logLevel;
  if (levelRef) dynamic.apply("broker", "log_level", (v) => void (levelRef.level = v as LogLevel));
  await _restore(dynamic, `${dataDir}/${_FILE}`, logger);
  dynamic.onChange((keys) => {
    logger.info("broker config changed", { keys, overrides: dynamic.overrides });
    // Written at once, and atomically: a change acknowledged to the operator must survive a
    // crash after it, and a crash during the write must leave the old file, not a torn one.
    writeFileAtomicSync(
      `${dataDir}/${_FILE}`,
      new TextEncoder().encode(JSON.stringify(dynamic.overrides)),
    );
  });
  return { dynamic, topicDefaults: d };
}

async function _restore(dynamic: DynamicBrokerConfig, path: string, logger: Logger) {
  const text = await Deno.readTextFile(path).catch(() => null);
  if (text === null) return;
  let saved: Record<string, unknown>;
  try {
    saved = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    logger.warn("ignoring unreadable dynamic config file", { path, err });
    return;
  }
  if (Object.keys(saved).length === 0) return;
  if (!dynamic.updatesAllowed) {
    logger.warn(
      "ignoring saved dynamic broker configs as operations.allow_runtime_config_updates is false",
      { path, saved },
    );
    return;
  }
  const changes = Object.entries(saved).map(([name, v]) => ({
    name,
    value: Array.isArray(v) ? v.join(",") : String(v),
  }));
  try {
    dynamic.alter(changes);
  } catch (err) {
    logger.warn("ignoring saved dynamic broker configs the current file contradicts", {
      path,
      err,
    });
  }
}

/** JSON of one described key, as the REST API shows it. */
export function describedJson(c: DescribedConfig): Record<string, unknown> {
  return {
    name: c.name,
    key: c.key,
    value: c.value,
    source: c.source,
    read_only: c.readOnly,
    sensitive: c.sensitive,
    synonyms: c.synonyms,
  };
}

/**
 * Mounts `GET` and `PUT /api/v1/brokers/:id/config` on the broker's operations app. The body
 * of a PUT is `{ "configs": { "name": "value" | null } }`; null removes the dynamic override.
 */
export function mountBrokerConfigApi(app: Hono, nodeId: number, dynamic: DynamicBrokerConfig) {
  const check = (c: Context): Response | null => {
    if (c.req.param("id") === String(nodeId)) return null;
    return _error(
      c,
      404,
      "NOT_FOUND",
      `Broker ${c.req.param("id")} is not this broker (${nodeId}): ask that broker's HTTP port`,
    );
  };
  app.get("/api/v1/brokers/:id/config", (c) => {
    const wrong = check(c);
    if (wrong) return wrong;
    return c.json({ broker: nodeId, configs: dynamic.describe().map(describedJson) });
  });
  app.put("/api/v1/brokers/:id/config", async (c) => {
    const wrong = check(c);
    if (wrong) return wrong;
    const body = await c.req.json().catch(() => null) as { configs?: unknown } | null;
    const configs = body?.configs;
    if (typeof configs !== "object" || configs === null || Array.isArray(configs)) {
      return _error(c, 400, "BAD_REQUEST", 'Body must be { "configs": { name: value } }');
    }
    const changes: ConfigChange[] = [];
    for (const [name, v] of Object.entries(configs)) {
      if (v !== null && typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") {
        return _error(c, 400, "BAD_REQUEST", `Config '${name}' must be a string, number or null`);
      }
      changes.push({ name, value: v === null ? null : String(v) });
    }
    try {
      const changed = dynamic.alter(changes);
      return c.json({
        broker: nodeId,
        changed,
        configs: dynamic.describe(changes.map((x) => x.name)).map(describedJson),
      });
    } catch (err) {
      if (!(err instanceof ConfigUpdateError)) throw err;
      return _error(c, err.code === "POLICY_VIOLATION" ? 403 : 400, err.code, err.message);
    }
  });
}

function _error(c: Context, status: 400 | 403 | 404, code: string, message: string): Response {
  return c.json({ error: { code, message } }, status);
}
