/**
 * Slows password guessing: each failed authentication from an address doubles the delay before
 * that address's next failure is answered, from `baseMs` up to `maxMs`; a success, or a quiet
 * spell as long as ten maximum delays, forgets the address. The table is bounded, so a flood of
 * addresses cannot grow memory without limit.
 *
 * @module
 */

/** Options of {@linkcode AuthBackoff}. */
export interface AuthBackoffOptions {
  /** Delay after a first failure (Kafka's connection.failed.authentication.delay.ms). */
  readonly baseMs: number;
  /** The delay never grows beyond this. */
  readonly maxMs: number;
  /**
   * Addresses remembered at once; the oldest is forgotten first.
   * @default {10000}
   */
  readonly entriesMax?: number;
}

interface _Entry {
  failures: number;
  lastMs: number;
}

/** Per-address failed-authentication delays. */
export class AuthBackoff {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #entriesMax: number;
  readonly #entries = new Map<string, _Entry>();

  /** A table with the given bounds. */
  constructor(options: AuthBackoffOptions) {
    if (options.maxMs < options.baseMs) throw new RangeError("maxMs must be at least baseMs");
    this.#baseMs = options.baseMs;
    this.#maxMs = options.maxMs;
    this.#entriesMax = options.entriesMax ?? 10_000;
  }

  /** Records a failure from `host` at `nowMs` and returns how long to wait before answering. */
  fail(host: string, nowMs: number): number {
    const e = this.#entries.get(host);
    const fresh = e === undefined || nowMs - e.lastMs > 10 * this.#maxMs;
    const failures = fresh ? 1 : e.failures + 1;
    // Re-insert so Map order stays oldest-first for eviction.
    this.#entries.delete(host);
    this.#entries.set(host, { failures, lastMs: nowMs });
    if (this.#entries.size > this.#entriesMax) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    return Math.min(this.#maxMs, this.#baseMs * 2 ** Math.min(failures - 1, 30));
  }

  /** Forgets `host` after it authenticated. */
  succeed(host: string): void {
    this.#entries.delete(host);
  }

  /** Addresses currently remembered. */
  get size(): number {
    return this.#entries.size;
  }
}
