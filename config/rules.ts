/**
 * Rules that span several keys. Each returns the problems it finds; an empty list means the
 * configuration is consistent. They run only after every key passed its own checks, so they may
 * rely on types and ranges.
 *
 * @module
 */

import type { ConfigProblem } from "./config_problem.ts";

import { securityContradictions } from "./security_rules.ts";
import { internalTlsContradiction, type InternalTlsKeys } from "../ops/internal_tls.ts";
import {
  BROKER_SCHEMA,
  type BrokerConfig,
  CONTROLLER_SCHEMA,
  type ControllerConfig,
} from "./schema.ts";
import { refusedKeyProblems } from "./key_use.ts";

/** Cross-key checks of a broker configuration. */
export function brokerContradictions(cfg: BrokerConfig, file: string): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const add = (key: string, value: unknown, reason: string) =>
    out.push({ file, key, value: JSON.stringify(value), reason });

  const rf = cfg.replication.default_replication_factor;
  const minIsr = cfg.replication.min_in_sync_replicas;
  if (minIsr > rf) {
    add(
      "replication.min_in_sync_replicas",
      minIsr,
      `cannot exceed replication.default_replication_factor (${rf}): no write could ever be acknowledged`,
    );
  }
  if (cfg.cache.write_cache_size_bytes < cfg.wal.segment_size_bytes) {
    add(
      "cache.write_cache_size_bytes",
      cfg.cache.write_cache_size_bytes,
      `is smaller than one WAL segment (wal.segment_size_bytes = ${cfg.wal.segment_size_bytes}): ` +
        "the cache must hold every batch the WAL has not yet uploaded",
    );
  }
  if (cfg.wal.capacity_bytes < 2 * cfg.wal.segment_size_bytes) {
    add(
      "wal.capacity_bytes",
      cfg.wal.capacity_bytes,
      `must hold at least two segments (2 x wal.segment_size_bytes = ${
        2 * cfg.wal.segment_size_bytes
      }) so that one can be reclaimed while the next is written`,
    );
  }
  if (cfg.wal.buffer_size > cfg.wal.segment_size_bytes) {
    add("wal.buffer_size", cfg.wal.buffer_size, "cannot exceed wal.segment_size_bytes");
  }
  if (cfg.controller.heartbeat_interval_ms >= cfg.controller.election_timeout_ms) {
    add(
      "controller.heartbeat_interval_ms",
      cfg.controller.heartbeat_interval_ms,
      `must be below controller.election_timeout_ms (${cfg.controller.election_timeout_ms})`,
    );
  }
  const os = cfg.object_storage;
  if ((os.access_key === "") !== (os.secret_key === "")) {
    add(
      os.access_key === "" ? "object_storage.access_key" : "object_storage.secret_key",
      "",
      "access_key and secret_key must be set together",
    );
  }
  if ((os.storage_type === "S3" || os.storage_type === "Gcs") && os.bucket === "") {
    add("object_storage.bucket", os.bucket, `is required when storage_type is ${os.storage_type}`);
  }
  if (os.storage_type === "Azure") {
    add(
      "object_storage.storage_type",
      os.storage_type,
      "Azure is not supported yet: use S3, Gcs or Local",
    );
  }
  const net = cfg.network;
  if ((net.tls_cert_path === "") !== (net.tls_key_path === "")) {
    add(
      "network.tls_cert_path",
      net.tls_cert_path,
      "tls_cert_path and tls_key_path must be set together",
    );
  }
  for (const key of ["quic_listen", "kafka_listen", "rpc_listen", "http_listen"] as const) {
    if (parseHostPort(net[key]) === null) add(`network.${key}`, net[key], "expected host:port");
  }
  out.push(...securityContradictions(cfg, file));
  out.push(...internalTlsProblems(cfg.security, file));
  out.push(...refusedKeyProblems("broker", BROKER_SCHEMA, cfg, file));
  return out;
}

/** Cross-key checks of a controller configuration. */
export function controllerContradictions(cfg: ControllerConfig, file: string): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const add = (key: string, value: unknown, reason: string) =>
    out.push({ file, key, value: JSON.stringify(value), reason });
  if (cfg.raft.heartbeat_interval_ms >= cfg.raft.election_timeout_ms) {
    add(
      "raft.heartbeat_interval_ms",
      cfg.raft.heartbeat_interval_ms,
      `must be below raft.election_timeout_ms (${cfg.raft.election_timeout_ms})`,
    );
  }
  const ids = new Set<string>();
  for (const peer of cfg.raft.peers) {
    const at = peer.indexOf("@");
    if (at <= 0 || parseHostPort(peer.slice(at + 1)) === null) {
      add("raft.peers", peer, "expected node_id@host:port");
    } else if (ids.has(peer.slice(0, at))) {
      add("raft.peers", peer, "names a node_id twice");
    } else {
      ids.add(peer.slice(0, at));
    }
  }
  if (cfg.raft.peers.length % 2 === 0) {
    add(
      "raft.peers",
      cfg.raft.peers,
      "an even number of voters tolerates no more failures than one fewer",
    );
  }
  for (const key of ["raft_listen", "rpc_listen", "http_listen"] as const) {
    const v = cfg.controller[key];
    if (parseHostPort(v) === null) add(`controller.${key}`, v, "expected host:port");
  }
  const endpoints = cfg["admin.rate_limiting"].endpoints;
  for (const reason of endpointLimitProblems(endpoints)) {
    add("admin.rate_limiting.endpoints", endpoints, reason);
  }
  out.push(...internalTlsProblems(cfg.security, file));
  const sec = cfg.security;
  if ((sec.admin_tls_cert_path === "") !== (sec.admin_tls_key_path === "")) {
    add(
      sec.admin_tls_cert_path === ""
        ? "security.admin_tls_key_path"
        : "security.admin_tls_cert_path",
      sec.admin_tls_cert_path || sec.admin_tls_key_path,
      "HTTPS needs both security.admin_tls_cert_path and security.admin_tls_key_path",
    );
  }
  out.push(...refusedKeyProblems("controller", CONTROLLER_SCHEMA, cfg, file));
  return out;
}

function internalTlsProblems(sec: InternalTlsKeys, file: string): ConfigProblem[] {
  const why = internalTlsContradiction(sec);
  if (why === null) return [];
  return [{
    file,
    key: "security.internal_tls_cert_path",
    value: JSON.stringify(sec.internal_tls_cert_path),
    reason: why,
  }];
}

/**
 * Parses `host:port` (IPv6 hosts in brackets).
 *
 * @example
 * ```ts
 * import { parseHostPort } from "./rules.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseHostPort("0.0.0.0:9092"), { host: "0.0.0.0", port: 9092 });
 * assert.deepEqual(parseHostPort("[::1]:9092"), { host: "::1", port: 9092 });
 * assert.equal(parseHostPort("nope"), null);
 * ```
 */
export function parseHostPort(s: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(s);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: (m[1] ?? m[2])!, port };
}

/** Why each entry of the `endpoints` table is malformed (empty when all are well formed). */
export function endpointLimitProblems(table: Readonly<Record<string, unknown>>): string[] {
  const out: string[] = [];
  for (const [path, raw] of Object.entries(table)) {
    const e = raw as Record<string, unknown> | null;
    const ok = (v: unknown) => Number.isInteger(v) && (v as number) >= 1;
    const extra = e !== null && typeof e === "object"
      ? Object.keys(e).filter((k) => k !== "burst_size" && k !== "refill_rate")
      : [];
    if (e === null || typeof e !== "object" || !ok(e.burst_size) || !ok(e.refill_rate)) {
      out.push(`${JSON.stringify(path)}: expected { burst_size = N, refill_rate = N }, N >= 1`);
    } else if (extra.length > 0) {
      out.push(`${JSON.stringify(path)}: unknown key ${extra[0]}`);
    } else if (!path.startsWith("/") && !/^[A-Z]+ \//.test(path)) {
      out.push(
        `${
          JSON.stringify(path)
        }: expected a path such as "/api/v1/topics" or "POST /api/v1/topics"`,
      );
    }
  }
  return out;
}
