/**
 * `FaultyObjectStore`: a test wrapper that makes another `ObjectStore` misbehave the way real
 * object stores do, from a seed, so resilience tests are replayable:
 *
 * - **fail**: the request is refused before reaching the store (a 503 SlowDown),
 * - **stall**: the request hangs for `stallMs` (or until aborted) before going through, as a
 *   half-dead TCP connection does,
 * - **lose the answer**: the store does the work but the caller sees a failure (the
 *   connection dropped after the server committed), which makes retries of puts and deletes
 *   meet their own earlier success,
 * - **down**: every request fails until `setDown(false)`.
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
  type ObjectStoreOperation,
  ObjectStoreUnavailableError,
  type ObjectSummary,
  type PutOptions,
  type RequestOptions,
} from "./object_store.ts";

/** Options for {@linkcode FaultyObjectStore}. */
export interface FaultyObjectStoreOptions {
  /** Seeded source deciding which requests misbehave. */
  random: Random;
  /** Clock for stalls. */
  clock: Clock;
  /**
   * Share of requests refused before reaching the store, in [0, 1].
   * @default {0}
   */
  failureRate?: number;
  /**
   * Share of requests that stall for `stallMs` first, in [0, 1].
   * @default {0}
   */
  stallRate?: number;
  /**
   * Share of requests that succeed in the store but report failure, in [0, 1].
   * @default {0}
   */
  lostAnswerRate?: number;
  /**
   * How long a stall lasts; an abort (the caller's timeout) ends it early.
   * @default {60000}
   */
  stallMs?: number;
}

/** What the wrapper did, for assertions. */
export interface FaultCounts {
  /** Requests passed through untouched. */
  passed: number;
  /** Requests refused. */
  failed: number;
  /** Requests stalled. */
  stalled: number;
  /** Requests whose answer was lost. */
  lostAnswers: number;
  /** Requests refused while down. */
  refusedWhileDown: number;
}

/**
 * An `ObjectStore` that injects seeded failures, stalls and lost answers into another.
 *
 * @example
 * ```ts
 * import { FaultyObjectStore } from "./faulty_object_store.ts";
 * import { MemoryObjectStore } from "./memory_object_store.ts";
 * import { systemClock } from "../../ops/clock.ts";
 * import { SeededRandom } from "../../ops/random.ts";
 * const store = new FaultyObjectStore(new MemoryObjectStore(), {
 *   random: new SeededRandom(7),
 *   clock: systemClock,
 *   failureRate: 1,
 * });
 * await store.put("k", new Uint8Array(1)).catch((error) => console.assert(error.retriable));
 * ```
 */
export class FaultyObjectStore implements ObjectStore {
  /** The wrapped store's backend. */
  readonly backend: ObjectStore["backend"];
  /** The wrapped store's location. */
  readonly location: string;
  /** What happened so far. */
  readonly counts: FaultCounts = {
    passed: 0,
    failed: 0,
    stalled: 0,
    lostAnswers: 0,
    refusedWhileDown: 0,
  };
  readonly #inner: ObjectStore;
  readonly #random: Random;
  readonly #clock: Clock;
  readonly #failureRate: number;
  readonly #stallRate: number;
  readonly #lostAnswerRate: number;
  readonly #stallMs: number;
  #down = false;

  /** Validates that the rates are shares in [0, 1] that sum to at most 1. */
  constructor(inner: ObjectStore, options: FaultyObjectStoreOptions) {
    this.#inner = inner;
    this.backend = inner.backend;
    this.location = inner.location;
    this.#random = options.random;
    this.#clock = options.clock;
    this.#failureRate = _share("failureRate", options.failureRate ?? 0);
    this.#stallRate = _share("stallRate", options.stallRate ?? 0);
    this.#lostAnswerRate = _share("lostAnswerRate", options.lostAnswerRate ?? 0);
    if (this.#failureRate + this.#stallRate + this.#lostAnswerRate > 1) {
      throw new RangeError("Cannot inject faults as the rates add up to more than 1");
    }
    this.#stallMs = options.stallMs ?? 60_000;
    if (!Number.isSafeInteger(this.#stallMs) || this.#stallMs < 0) {
      throw new RangeError(`Cannot use stallMs ${this.#stallMs} as it must be an integer >= 0`);
    }
  }

  /** While down, every request fails with `ObjectStoreUnavailableError`. */
  setDown(down: boolean): void {
    this.#down = down;
  }

  /** Put, perhaps misbehaving. */
  put(key: string, bytes: ObjectBody, options: PutOptions = {}): Promise<ObjectMetadata> {
    return this.#run("put", key, options.signal, () => this.#inner.put(key, bytes, options));
  }

  /** Get, perhaps misbehaving. */
  get(key: string, options: GetOptions = {}): Promise<Uint8Array> {
    return this.#run("get", key, options.signal, () => this.#inner.get(key, options));
  }

  /** Head, perhaps misbehaving. */
  head(key: string, options: RequestOptions = {}): Promise<ObjectMetadata | null> {
    return this.#run("head", key, options.signal, () => this.#inner.head(key, options));
  }

  /** One list page, perhaps misbehaving. */
  listPage(prefix: string, options: ListPageOptions = {}): Promise<ListPage> {
    return this.#run("list", prefix, options.signal, () => this.#inner.listPage(prefix, options));
  }

  /** All keys with `prefix`, page by page (each page may misbehave). */
  list(prefix: string, options?: RequestOptions): AsyncIterable<ObjectSummary> {
    return listAllPages(this, prefix, options);
  }

  /** Delete, perhaps misbehaving. */
  delete(key: string, options: RequestOptions = {}): Promise<void> {
    return this.#run("delete", key, options.signal, () => this.#inner.delete(key, options));
  }

  /** Closes the wrapped store. */
  close(): Promise<void> {
    return this.#inner.close();
  }

  async #run<T>(
    operation: ObjectStoreOperation,
    key: string,
    signal: AbortSignal | undefined,
    call: () => Promise<T>,
  ): Promise<T> {
    // One draw per request, whatever happens, keeps the sequence aligned across runs.
    const draw = this.#random.next();
    if (this.#down) {
      this.counts.refusedWhileDown += 1;
      throw this.#fault(operation, key, "the store is down (injected)");
    }
    if (draw < this.#failureRate) {
      this.counts.failed += 1;
      throw this.#fault(operation, key, "the server answered 503: SlowDown (injected)");
    }
    if (draw < this.#failureRate + this.#stallRate) {
      this.counts.stalled += 1;
      await sleep(this.#clock, this.#stallMs, signal);
      return await call();
    }
    if (draw < this.#failureRate + this.#stallRate + this.#lostAnswerRate) {
      this.counts.lostAnswers += 1;
      await call().catch(() => {});
      throw this.#fault(operation, key, "the connection dropped before the answer (injected)");
    }
    this.counts.passed += 1;
    return await call();
  }

  #fault(operation: ObjectStoreOperation, key: string, reason: string) {
    return new ObjectStoreUnavailableError({
      backend: this.backend,
      location: this.location,
      operation,
      key,
      reason,
      status: 503,
    });
  }
}

function _share(name: string, value: number): number {
  if (!(value >= 0 && value <= 1)) {
    throw new RangeError(`Cannot use ${name} ${value} as it must be in [0, 1]`);
  }
  return value;
}
