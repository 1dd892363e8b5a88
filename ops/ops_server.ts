/**
 * The operations HTTP server every long-running role runs (port 9642 by default): `/health`,
 * `/ready` and `/metrics`. Roles mount their own routes (the controller's admin REST API) on the
 * same Hono app, so there is one port per process for everything an operator or Prometheus asks.
 *
 * @module
 */

import { Hono } from "hono";
import { collectDefaultMetrics, Registry } from "prom-client";
import type { Logger } from "./logger.ts";

/** What `/ready` consults: each check returns null when ready or a reason when not. */
export type ReadinessCheck = () => string | null;

/** Options of {@linkcode createOpsApp}. */
export interface OpsAppOptions {
  /** The role name shown by `/health`, such as `broker`. */
  readonly role: string;
  /** The version shown by `/health`. */
  readonly version: string;
  /** Registry served by `/metrics`. @default a new registry with process metrics */
  readonly registry?: Registry;
  /** Named readiness checks. @default none, so the process is ready once it serves */
  readonly readiness?: Readonly<Record<string, ReadinessCheck>>;
  /**
   * Named checks that make `/health` report `"degraded"` with their reasons (still 200: the
   * process heals by itself, so a liveness probe must not restart it). @default none
   */
  readonly degraded?: Readonly<Record<string, ReadinessCheck>>;
  /** Time source for uptime. @default performance.now */
  readonly nowMs?: () => number;
}

/** The Hono app and the metrics registry it serves. */
export interface OpsApp {
  readonly app: Hono;
  readonly registry: Registry;
}

/**
 * Creates the operations app. It does not listen; {@linkcode serveOps} does.
 *
 * @example
 * ```ts
 * import { createOpsApp } from "./ops_server.ts";
 * import assert from "node:assert/strict";
 * const { app } = createOpsApp({ role: "broker", version: "0.0.0" });
 * const res = await app.request("/health");
 * assert.equal(res.status, 200);
 * assert.equal((await res.json()).status, "ok");
 * ```
 */
export function createOpsApp(options: OpsAppOptions): OpsApp {
  const registry = options.registry ?? _defaultRegistry();
  const nowMs = options.nowMs ?? (() => performance.now());
  const startedMs = nowMs();
  const app = new Hono();
  app.get("/health", (c) => {
    const reasons = _failing(options.degraded);
    const degraded = Object.keys(reasons).length > 0;
    return c.json({
      status: degraded ? "degraded" : "ok",
      ...(degraded ? { reason: Object.values(reasons).join("; "), degraded: reasons } : {}),
      role: options.role,
      version: options.version,
      uptime_ms: Math.round(nowMs() - startedMs),
    });
  });
  app.get("/ready", (c) => {
    const failing = _failing(options.readiness);
    const ready = Object.keys(failing).length === 0;
    return c.json({ ready, failing }, ready ? 200 : 503);
  });
  app.get("/metrics", async (c) => {
    const body = await registry.metrics();
    return c.body(body, 200, { "content-type": registry.contentType });
  });
  return { app, registry };
}

function _failing(checks: Readonly<Record<string, ReadinessCheck>> | undefined) {
  const failing: Record<string, string> = {};
  for (const [name, check] of Object.entries(checks ?? {})) {
    const reason = check();
    if (reason !== null) failing[name] = reason;
  }
  return failing;
}

function _defaultRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "rustmq_" });
  return registry;
}

/** A listening operations server. */
export interface OpsServer extends AsyncDisposable {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** Stops accepting and closes open connections. */
  close(): Promise<void>;
}

/** Serves `app` on `hostname:port` with `Deno.serve`; HTTPS with `tls` (PEM text). */
export function serveOps(
  app: Hono,
  listen: { hostname: string; port: number },
  log: Logger,
  tls: { cert: string; key: string } | null = null,
): OpsServer {
  const server = Deno.serve({
    hostname: listen.hostname,
    port: listen.port,
    ...(tls === null ? {} : { cert: tls.cert, key: tls.key }),
    onListen: () => {},
    onError: (err) => {
      log.error("ops request failed", { err });
      return new Response("internal error", { status: 500 });
    },
  }, app.fetch);
  const port = (server.addr as Deno.NetAddr).port;
  log.info("ops server listening", {
    hostname: listen.hostname,
    port,
    scheme: tls === null ? "http" : "https",
  });
  const close = async () => {
    await server.shutdown();
  };
  return { port, close, [Symbol.asyncDispose]: close };
}
