/**
 * A client of the controller's admin REST API that tries every controller URL it was given.
 * A controller that cannot be reached, or answers 5xx (no leader, timeout), is skipped for the
 * next one; a 4xx is the cluster's final answer and is returned at once.
 *
 * @module
 */

/** An error the API returned, or the last failure when no controller answered. */
export class AdminApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retriable: boolean;
  constructor(code: string, status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AdminApiError";
    this.code = code;
    this.status = status;
    this.retriable = status >= 500 || status === 0;
  }
}

/** Options of {@linkcode AdminClient}. */
export interface AdminClientOptions {
  /** Controller REST base URLs, e.g. `http://c1:9642`. */
  urls: readonly string[];
  /** Sent as `Authorization: Bearer <token>` when set. */
  token?: string;
  /** Deadline of one HTTP attempt. @default 5000 */
  attemptTimeoutMs?: number;
  /** Laps over the URL list before giving up. @default 3 */
  laps?: number;
  /** Pause between laps. @default 500 */
  lapPauseMs?: number;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * The admin REST client.
 *
 * @example
 * ```ts ignore
 * const client = new AdminClient({ urls: ["http://127.0.0.1:9642"] });
 * const { topics } = await client.request("GET", "/api/v1/topics") as { topics: unknown[] };
 * ```
 */
export class AdminClient {
  readonly #urls: string[];
  readonly #token: string;
  readonly #attemptMs: number;
  readonly #laps: number;
  readonly #pauseMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: AdminClientOptions) {
    if (options.urls.length === 0) {
      throw new RangeError("Cannot create an admin client as no controller URL was given");
    }
    this.#urls = options.urls.map((u) => u.replace(/\/+$/, ""));
    this.#token = options.token ?? "";
    this.#attemptMs = options.attemptTimeoutMs ?? 5000;
    this.#laps = options.laps ?? 3;
    this.#pauseMs = options.lapPauseMs ?? 500;
    this.#fetch = options.fetch ?? fetch;
  }

  /**
   * Sends a request to the first controller that gives a definitive answer. A `Uint8Array`
   * body goes as `application/octet-stream`, anything else as JSON; `headers` are added.
   */
  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<unknown> {
    // One key for every attempt of a write, so a retry on another controller applies it once.
    const key = method === "GET" || method === "HEAD" ? null : crypto.randomUUID();
    let last = new AdminApiError("UNAVAILABLE", 0, "No controller URL answered");
    for (let lap = 0; lap < this.#laps; lap++) {
      if (lap > 0) await new Promise((r) => setTimeout(r, this.#pauseMs));
      for (const base of this.#urls) {
        try {
          return await this.#attempt(base, method, path, key, body, headers);
        } catch (err) {
          if (!(err instanceof AdminApiError) || !err.retriable) throw err;
          last = err;
        }
      }
    }
    throw last;
  }

  async #attempt(
    base: string,
    method: string,
    path: string,
    key: string | null,
    body: unknown,
    extraHeaders: Record<string, string>,
  ): Promise<unknown> {
    const headers: Record<string, string> = { ...extraHeaders };
    if (key !== null) headers["idempotency-key"] = key;
    const raw = body instanceof Uint8Array;
    if (body !== undefined) {
      headers["content-type"] = raw ? "application/octet-stream" : "application/json";
    }
    if (this.#token !== "") headers.authorization = `Bearer ${this.#token}`;
    let res: Response;
    try {
      res = await this.#fetch(base + path, {
        method,
        headers,
        ...(body === undefined
          ? {}
          : { body: raw ? body as Uint8Array<ArrayBuffer> : JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#attemptMs),
      });
    } catch (err) {
      throw new AdminApiError(
        "UNAVAILABLE",
        0,
        `Cannot reach ${base}: ${_reason(err)}`,
        { cause: err },
      );
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text === "" ? null : JSON.parse(text);
    } catch {
      // A non-JSON body (a proxy's error page) is reported as it is.
    }
    if (res.ok) return json;
    const e = (json as { error?: { code?: string; message?: string } } | null)?.error;
    throw new AdminApiError(
      e?.code ?? `HTTP_${res.status}`,
      res.status,
      `${base}: ${e?.message ?? (text.slice(0, 200) || res.statusText)}`,
    );
  }
}

// fetch's own message is often just "fetch failed"; the cause says why (refused, untrusted).
function _reason(err: unknown): string {
  const e = err as Error & { cause?: unknown };
  const cause = e.cause instanceof Error ? e.cause.message : "";
  const text = cause === "" || e.message.includes(cause) ? e.message : `${e.message}: ${cause}`;
  return /certificate|UnknownIssuer|CaUsedAsEndEntity/i.test(text)
    ? `${text} (the controller's certificate is not trusted: pass its CA with --ca-cert FILE)`
    : text;
}
