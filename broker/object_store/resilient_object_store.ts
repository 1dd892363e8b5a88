/**
 * `ResilientObjectStore`: wraps any `ObjectStore` with what every production caller needs and
 * no backend should implement on its own:
 *
 * - a timeout on every attempt (a stalled TCP connection must not stall the uploader),
 * - retries of retriable failures with exponential backoff and full jitter (AWS's
 *   recommendation: `delay = random() * min(cap, base * 2^attempt)`), so many brokers that
 *   lost the store at once do not come back in lockstep,
 * - no retry of programmer errors (`TypeError`, `RangeError`), of not-found, or of any error
 *   that is not marked `retriable`,
 * - at most `maxConcurrentUploads` puts in flight (config
 *   `object_storage.max_concurrent_uploads`), with a bounded queue behind them; a full queue
 *   is `ObjectStoreOverloadedError`, which is backpressure for the uploader.
 *
 * Time and randomness are injected, so tests are deterministic.
 *
 * @module
 */
import { type Clock, sleep } from "../../ops/clock.ts";
import type { Random } from "../../ops/random.ts";
import {
  type GetOptions,
  listAllPages,
  type ListPage,
  type ListPageOptions,
  type ObjectBody,
  type ObjectMetadata,
  type ObjectStore,
  ObjectStoreError,
  type ObjectStoreOperation,
  ObjectStoreOverloadedError,
  ObjectStoreTimeoutError,
  ObjectStoreUnavailableError,
  type ObjectSummary,
  type PutOptions,
  type RequestOptions,
} from "./object_store.ts";

/** Options for {@linkcode ResilientObjectStore}. */
export interface ResilientObjectStoreOptions {
  /** Time source for timeouts and backoff. */
  clock: Clock;
  /** Uniform [0, 1) source for jitter (seeded in tests). */
  random: Random;
  /**
   * Each attempt of each call is abandoned (and its request aborted) after this long.
   * @default {30000}
   */
  attemptTimeoutMs?: number;
  /**
   * Attempts per call, the first included.
   * @default {5}
   */
  attemptsMax?: number;
  /**
   * Backoff before the second attempt is drawn from [0, backoffBaseMs); it doubles after.
   * @default {100}
   */
  backoffBaseMs?: number;
  /**
   * Upper bound of any one backoff.
   * @default {10000}
   */
  backoffMaxMs?: number;
  /**
   * Puts in flight at once (config `object_storage.max_concurrent_uploads`).
   * @default {10}
   */
  maxConcurrentUploads?: number;
  /**
   * Puts allowed to wait for a slot; more is `ObjectStoreOverloadedError`.
   * @default {1000}
   */
  uploadQueueMax?: number;
}

/** Counters for metrics and tests. */
export interface ResilientObjectStoreStats {
  /** Attempts started, across all calls. */
  attempts: number;
  /** Attempts that were retried after a retriable failure. */
  retries: number;
  /** Attempts abandoned at the timeout. */
  timeouts: number;
  /** Calls that failed after exhausting their attempts. */
  exhausted: number;
  /** The largest number of puts that were ever in flight at once. */
  uploadsInFlightMax: number;
}

/**
 * An `ObjectStore` that adds timeouts, retries and an upload concurrency limit to another.
 *
 * @example
 * ```ts
 * import { ResilientObjectStore } from "./resilient_object_store.ts";
 * import { MemoryObjectStore } from "./memory_object_store.ts";
 * import { systemClock } from "../../ops/clock.ts";
 * import { SeededRandom } from "../../ops/random.ts";
 * const store = new ResilientObjectStore(new MemoryObjectStore(), {
 *   clock: systemClock,
 *   random: new SeededRandom(1),
 *   maxConcurrentUploads: 4,
 * });
 * await store.put("k", new Uint8Array([1]));
 * console.assert((await store.head("k"))?.sizeBytes === 1);
 * ```
 */
export class ResilientObjectStore implements ObjectStore {
  /** The wrapped store's backend. */
  readonly backend: ObjectStore["backend"];
  /** The wrapped store's location. */
  readonly location: string;
  /** Counters; read-only to callers. */
  readonly stats: ResilientObjectStoreStats = {
    attempts: 0,
    retries: 0,
    timeouts: 0,
    exhausted: 0,
    uploadsInFlightMax: 0,
  };
  readonly #inner: ObjectStore;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #attemptTimeoutMs: number;
  readonly #attemptsMax: number;
  readonly #backoffBaseMs: number;
  readonly #backoffMaxMs: number;
  readonly #maxConcurrentUploads: number;
  readonly #uploadQueueMax: number;
  #uploadsInFlight = 0;
  readonly #uploadWaiters: (() => void)[] = [];

  /** Validates the options with `RangeError`s. */
  constructor(inner: ObjectStore, options: ResilientObjectStoreOptions) {
    this.#inner = inner;
    this.backend = inner.backend;
    this.location = inner.location;
    this.#clock = options.clock;
    this.#random = options.random;
    this.#attemptTimeoutMs = _atLeast("attemptTimeoutMs", options.attemptTimeoutMs ?? 30_000, 1);
    this.#attemptsMax = _atLeast("attemptsMax", options.attemptsMax ?? 5, 1);
    this.#backoffBaseMs = _atLeast("backoffBaseMs", options.backoffBaseMs ?? 100, 0);
    this.#backoffMaxMs = _atLeast("backoffMaxMs", options.backoffMaxMs ?? 10_000, 0);
    this.#maxConcurrentUploads = _atLeast(
      "maxConcurrentUploads",
      options.maxConcurrentUploads ?? 10,
      1,
    );
    this.#uploadQueueMax = _atLeast("uploadQueueMax", options.uploadQueueMax ?? 1000, 0);
  }

  /** Puts currently talking to the store. */
  get uploadsInFlight(): number {
    return this.#uploadsInFlight;
  }

  /** Puts waiting for a slot. */
  get uploadsQueued(): number {
    return this.#uploadWaiters.length;
  }

  /**
   * Waits for an upload slot (or fails fast with `ObjectStoreOverloadedError` when the queue
   * is full), then puts with retries. The slot is held across retries, so a struggling store
   * sees no more than `maxConcurrentUploads` puts at once.
   */
  async put(key: string, bytes: ObjectBody, options: PutOptions = {}): Promise<ObjectMetadata> {
    await this.#acquireUploadSlot(key);
    try {
      return await this.#call(
        "put",
        key,
        options.signal,
        (signal) => this.#inner.put(key, bytes, { signal }),
      );
    } finally {
      this.#releaseUploadSlot();
    }
  }

  /** Gets with retries. */
  get(key: string, options: GetOptions = {}): Promise<Uint8Array> {
    return this.#call("get", key, options.signal, (signal) =>
      this.#inner.get(key, {
        signal,
        ...(options.range === undefined ? {} : { range: options.range }),
      }));
  }

  /** Heads with retries. */
  head(key: string, options: RequestOptions = {}): Promise<ObjectMetadata | null> {
    return this.#call("head", key, options.signal, (signal) => this.#inner.head(key, { signal }));
  }

  /** Lists one page with retries. */
  listPage(prefix: string, options: ListPageOptions = {}): Promise<ListPage> {
    return this.#call(
      "list",
      prefix,
      options.signal,
      (signal) => this.#inner.listPage(prefix, { ...options, signal }),
    );
  }

  /** All keys with `prefix`; each page is retried on its own, so a long listing survives. */
  list(prefix: string, options?: RequestOptions): AsyncIterable<ObjectSummary> {
    return listAllPages(this, prefix, options);
  }

  /** Deletes with retries (deletes are idempotent, so a retry after a lost answer is safe). */
  delete(key: string, options: RequestOptions = {}): Promise<void> {
    return this.#call(
      "delete",
      key,
      options.signal,
      (signal) => this.#inner.delete(key, { signal }),
    );
  }

  /** Closes the wrapped store. */
  close(): Promise<void> {
    return this.#inner.close();
  }

  async #call<T>(
    operation: ObjectStoreOperation,
    key: string,
    callerSignal: AbortSignal | undefined,
    attempt: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    for (let attemptNumber = 1;; attemptNumber += 1) {
      callerSignal?.throwIfAborted();
      this.stats.attempts += 1;
      try {
        return await this.#attemptWithTimeout(operation, key, callerSignal, attempt);
      } catch (error) {
        if (!_isRetriable(error) || callerSignal?.aborted) throw error;
        if (attemptNumber >= this.#attemptsMax) {
          this.stats.exhausted += 1;
          throw this.#exhaustedError(operation, key, attemptNumber, error);
        }
        this.stats.retries += 1;
        await sleep(this.#clock, this.#backoffMs(attemptNumber), callerSignal);
      }
    }
  }

  /** Runs one attempt, aborting it and failing with `ObjectStoreTimeoutError` at the timeout. */
  async #attemptWithTimeout<T>(
    operation: ObjectStoreOperation,
    key: string,
    callerSignal: AbortSignal | undefined,
    attempt: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const attemptAbort = new AbortController();
    const timerAbort = new AbortController();
    const signal = callerSignal === undefined
      ? attemptAbort.signal
      : AbortSignal.any([callerSignal, attemptAbort.signal]);
    const timeout = sleep(this.#clock, this.#attemptTimeoutMs, timerAbort.signal).then(
      () => {
        this.stats.timeouts += 1;
        const error = new ObjectStoreTimeoutError({
          backend: this.backend,
          location: this.location,
          operation,
          key,
          reason: `one attempt took longer than ${this.#attemptTimeoutMs} ms`,
        });
        attemptAbort.abort(error);
        throw error;
      },
      // The attempt finished first and cancelled the timer: this branch must never settle
      // the race, so it stays pending and is collected.
      () => new Promise<never>(() => {}),
    );
    try {
      return await Promise.race([attempt(signal), timeout]);
    } finally {
      timerAbort.abort();
    }
  }

  /** Full jitter: uniform in [0, min(backoffMaxMs, backoffBaseMs * 2^(attempt-1))). */
  #backoffMs(attemptNumber: number): number {
    const ceiling = Math.min(this.#backoffMaxMs, this.#backoffBaseMs * 2 ** (attemptNumber - 1));
    return Math.floor(this.#random.next() * ceiling);
  }

  #exhaustedError(
    operation: ObjectStoreOperation,
    key: string,
    attempts: number,
    last: unknown,
  ): ObjectStoreUnavailableError {
    const lastMessage = last instanceof Error ? last.message : String(last);
    return new ObjectStoreUnavailableError({
      backend: this.backend,
      location: this.location,
      operation,
      key,
      code: last instanceof ObjectStoreError ? last.code : "OBJECT_STORE_UNAVAILABLE",
      reason: `${attempts} attempts failed; the last with: ${lastMessage}`,
      cause: last,
      ...(last instanceof ObjectStoreError && last.status !== undefined
        ? { status: last.status }
        : {}),
    });
  }

  async #acquireUploadSlot(key: string): Promise<void> {
    if (this.#uploadsInFlight < this.#maxConcurrentUploads) {
      this.#uploadsInFlight += 1;
      this.stats.uploadsInFlightMax = Math.max(
        this.stats.uploadsInFlightMax,
        this.#uploadsInFlight,
      );
      return;
    }
    if (this.#uploadWaiters.length >= this.#uploadQueueMax) {
      throw new ObjectStoreOverloadedError({
        backend: this.backend,
        location: this.location,
        operation: "put",
        key,
        reason: `${this.#maxConcurrentUploads} uploads are in flight and ` +
          `${this.#uploadWaiters.length} are queued, the queue's maximum`,
      });
    }
    // The releasing put hands its slot straight to us, so the count never dips in between.
    await new Promise<void>((resolve) => this.#uploadWaiters.push(resolve));
  }

  #releaseUploadSlot(): void {
    const next = this.#uploadWaiters.shift();
    if (next === undefined) this.#uploadsInFlight -= 1;
    else next();
  }
}

/** Only typed, retriable store errors are retried; bugs and answers are not. */
function _isRetriable(error: unknown): boolean {
  if (error instanceof TypeError || error instanceof RangeError) return false;
  return error instanceof ObjectStoreError && error.retriable;
}

function _atLeast(name: string, value: number, minimum: number): number {
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new RangeError(
      `Cannot use ${name} ${value} as it must be an integer >= ${minimum}`,
    );
  }
  return value;
}
