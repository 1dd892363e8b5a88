/**
 * The admin REST API's rate limiter (`[admin.rate_limiting]`): token buckets, one global, one
 * per client IP, and one per configured endpoint. A request is admitted only when every bucket
 * that applies to it holds a token; otherwise it is refused with the time until it would be
 * admitted, which the API sends as `Retry-After`. A pure core: the caller passes the time.
 *
 * @module
 */

/** A bucket's size and refill, as the configuration gives them. */
export interface BucketSpec {
  /** Tokens the bucket holds when full. */
  readonly burstSize: number;
  /** Tokens added per minute. */
  readonly refillPerMinute: number;
}

/** Options of {@linkcode AdminRateLimiter}. */
export interface AdminRateLimiterOptions {
  readonly global: BucketSpec;
  readonly perIp: BucketSpec;
  /** Limits per endpoint, keyed by path (`/api/v1/topics`) or `METHOD path`. @default none */
  readonly endpoints?: Readonly<Record<string, BucketSpec>>;
  /** Per-IP buckets idle this long are dropped, bounding memory. */
  readonly cleanupIntervalMs: number;
}

/** The outcome of {@linkcode AdminRateLimiter.admit}. */
export type Admission =
  | { readonly admitted: true }
  | { readonly admitted: false; readonly limit: string; readonly retryAfterMs: number };

class _Bucket {
  tokens: number;
  atMs: number;
  constructor(readonly spec: BucketSpec, nowMs: number) {
    this.tokens = spec.burstSize;
    this.atMs = nowMs;
  }
  refill(nowMs: number): void {
    const perMs = this.spec.refillPerMinute / 60_000;
    this.tokens = Math.min(this.spec.burstSize, this.tokens + (nowMs - this.atMs) * perMs);
    this.atMs = nowMs;
  }
  /** Milliseconds until one token is there (0 when it is now). */
  waitMs(): number {
    if (this.tokens >= 1) return 0;
    return Math.ceil((1 - this.tokens) / (this.spec.refillPerMinute / 60_000));
  }
}

/**
 * Token buckets over the admin API.
 *
 * @example
 * ```ts
 * import { AdminRateLimiter } from "./admin_rate_limiter.ts";
 * import assert from "node:assert/strict";
 * const limiter = new AdminRateLimiter({
 *   global: { burstSize: 100, refillPerMinute: 60 },
 *   perIp: { burstSize: 2, refillPerMinute: 30 },
 *   cleanupIntervalMs: 3_600_000,
 * });
 * assert.equal(limiter.admit("10.0.0.1", "GET", "/api/v1/topics", 0).admitted, true);
 * assert.equal(limiter.admit("10.0.0.1", "GET", "/api/v1/topics", 0).admitted, true);
 * const third = limiter.admit("10.0.0.1", "GET", "/api/v1/topics", 0);
 * assert.deepEqual(third, { admitted: false, limit: "per_ip", retryAfterMs: 2000 });
 * assert.equal(limiter.admit("10.0.0.2", "GET", "/api/v1/topics", 0).admitted, true);
 * ```
 */
export class AdminRateLimiter {
  readonly #o: AdminRateLimiterOptions;
  #global: _Bucket | null = null;
  readonly #perIp = new Map<string, _Bucket>();
  readonly #endpoints = new Map<string, _Bucket>();
  #lastCleanupMs = -Infinity;

  constructor(options: AdminRateLimiterOptions) {
    for (const [name, spec] of Object.entries({ ...options.endpoints, global: options.global })) {
      if (!(spec.burstSize >= 1) || !(spec.refillPerMinute > 0)) {
        throw new RangeError(
          `Cannot limit ${name} as burst_size must be at least 1 and refill_rate above 0`,
        );
      }
    }
    this.#o = options;
  }

  /** Per-IP buckets currently held. */
  get trackedClients(): number {
    return this.#perIp.size;
  }

  /** Takes a token from every bucket that applies, or none when one of them is empty. */
  admit(ip: string, method: string, path: string, nowMs: number): Admission {
    this.#cleanup(nowMs);
    this.#global ??= new _Bucket(this.#o.global, nowMs);
    const buckets: [string, _Bucket][] = [["global", this.#global], [
      "per_ip",
      this.#bucket(this.#perIp, ip, this.#o.perIp, nowMs),
    ]];
    const endpoint = this.#endpointKey(method, path);
    if (endpoint !== null) {
      const spec = this.#o.endpoints![endpoint]!;
      buckets.push([`endpoint ${endpoint}`, this.#bucket(this.#endpoints, endpoint, spec, nowMs)]);
    }
    let worst: { limit: string; retryAfterMs: number } | null = null;
    for (const [limit, b] of buckets) {
      b.refill(nowMs);
      const wait = b.waitMs();
      if (wait > 0 && (worst === null || wait > worst.retryAfterMs)) {
        worst = { limit, retryAfterMs: wait };
      }
    }
    if (worst !== null) return { admitted: false, ...worst };
    for (const [, b] of buckets) b.tokens -= 1;
    return { admitted: true };
  }

  #endpointKey(method: string, path: string): string | null {
    const e = this.#o.endpoints;
    if (e === undefined) return null;
    if (Object.hasOwn(e, `${method} ${path}`)) return `${method} ${path}`;
    return Object.hasOwn(e, path) ? path : null;
  }

  #bucket(map: Map<string, _Bucket>, key: string, spec: BucketSpec, nowMs: number): _Bucket {
    let b = map.get(key);
    if (b === undefined) {
      b = new _Bucket(spec, nowMs);
      map.set(key, b);
    }
    return b;
  }

  /** Drops per-IP buckets idle for a cleanup interval: a refilled bucket is a new bucket. */
  #cleanup(nowMs: number): void {
    if (nowMs - this.#lastCleanupMs < this.#o.cleanupIntervalMs) return;
    this.#lastCleanupMs = nowMs;
    for (const [ip, b] of this.#perIp) {
      if (nowMs - b.atMs >= this.#o.cleanupIntervalMs) this.#perIp.delete(ip);
    }
  }
}
