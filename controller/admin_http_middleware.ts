/**
 * What `[admin]` and `[admin.rate_limiting]` in controller.toml apply to the admin REST API
 * (`/api/*`): CORS headers (`enable_cors`), one log line per request (`log_requests`), and token
 * buckets that answer 429 with `Retry-After` (`rate_limiting`). `/health`, `/ready` and
 * `/metrics` are left alone: a probe or a scrape that is refused would restart or blind a
 * healthy controller.
 *
 * @module
 */

import type { Context, Hono } from "hono";
import { cors } from "hono/cors";
import { getConnInfo } from "hono/deno";
import type { ControllerConfig } from "../config/schema.ts";
import type { Logger } from "../ops/logger.ts";
import { AdminRateLimiter, type BucketSpec } from "./admin_rate_limiter.ts";

/** Options of {@linkcode mountAdminHttpMiddleware}. */
export interface AdminHttpMiddlewareOptions {
  readonly admin: ControllerConfig["admin"];
  readonly rateLimiting: ControllerConfig["admin.rate_limiting"];
  readonly logger: Logger;
  /** Time source of the token buckets. @default performance.now */
  readonly nowMs?: () => number;
}

/**
 * Installs the middleware on `app`; call it before the `/api/v1` routes are mounted.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { mountAdminHttpMiddleware } from "./admin_http_middleware.ts";
 * import { silentLogger } from "../ops/logger.ts";
 * import assert from "node:assert/strict";
 * const app = new Hono();
 * mountAdminHttpMiddleware(app, {
 *   admin: { port: 9642, health_check_interval_ms: 1, health_timeout_ms: 1, enable_cors: true, log_requests: false },
 *   rateLimiting: { enabled: true, global_burst_size: 10, global_refill_rate: 60, per_ip_burst_size: 1,
 *     per_ip_refill_rate: 60, cleanup_interval_seconds: 60, endpoints: {} },
 *   logger: silentLogger,
 *   nowMs: () => 0,
 * });
 * app.get("/api/v1/x", (c) => c.text("ok"));
 * assert.equal((await app.request("/api/v1/x")).status, 200);
 * const refused = await app.request("/api/v1/x");
 * assert.equal(refused.status, 429);
 * assert.equal(refused.headers.get("retry-after"), "1");
 * ```
 */
export function mountAdminHttpMiddleware(app: Hono, options: AdminHttpMiddlewareOptions): void {
  const { admin, rateLimiting: rl, logger } = options;
  const nowMs = options.nowMs ?? (() => performance.now());
  if (admin.log_requests) {
    app.use("/api/*", async (c, next) => {
      const start = performance.now();
      await next();
      logger.info("admin request", {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        client: _clientIp(c),
        ms: Math.round((performance.now() - start) * 10) / 10,
      });
    });
  }
  // CORS before the limiter, so that a refused browser request can still read the 429.
  if (admin.enable_cors) app.use("/api/*", cors());
  if (rl.enabled) {
    const limiter = new AdminRateLimiter({
      global: { burstSize: rl.global_burst_size, refillPerMinute: rl.global_refill_rate },
      perIp: { burstSize: rl.per_ip_burst_size, refillPerMinute: rl.per_ip_refill_rate },
      endpoints: endpointLimits(rl.endpoints),
      cleanupIntervalMs: rl.cleanup_interval_seconds * 1000,
    });
    app.use("/api/*", async (c, next) => {
      // CORS preflights carry no work; refusing them would only hide the real answer.
      if (c.req.method === "OPTIONS") return await next();
      const a = limiter.admit(_clientIp(c), c.req.method, c.req.path, nowMs());
      if (a.admitted) return await next();
      const seconds = Math.max(1, Math.ceil(a.retryAfterMs / 1000));
      return c.json(
        {
          error: {
            code: "RATE_LIMITED",
            message: `Cannot serve the request as the ${a.limit} rate limit is exhausted: ` +
              `retry after ${seconds} s`,
          },
        },
        429,
        { "Retry-After": String(seconds) },
      );
    });
  }
}

/**
 * The `endpoints` table as bucket specs; the loader has checked every entry
 * (`endpointLimitProblems` in config/rules.ts).
 */
export function endpointLimits(
  table: Readonly<Record<string, unknown>>,
): Record<string, BucketSpec> {
  const out: Record<string, BucketSpec> = {};
  for (const [path, raw] of Object.entries(table)) {
    const e = raw as { burst_size: number; refill_rate: number };
    out[path] = { burstSize: e.burst_size, refillPerMinute: e.refill_rate };
  }
  return out;
}

function _clientIp(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    // app.request() in tests has no connection behind it.
    return "unknown";
  }
}
