/**
 * The ETL pool: Workers that run module chains under the `[etl]` limits. At most
 * `maxConcurrentExecutions` batches run at once (one per Worker), records go in slices of
 * `batchSize`, a batch running past `executionTimeoutMs` has its Worker terminated and replaced,
 * and a memory-limit failure also replaces the Worker so its memory is released.
 *
 * @module
 */

import type { EtlRecordData } from "./abi_instance.ts";
import type { EtlOutcome, StageStats } from "./chain_runner.ts";
import { EtlExecutionError } from "./etl_error.ts";
import type {
  WorkerBatchRequest,
  WorkerModuleRef,
  WorkerReply,
  WorkerRequest,
} from "./worker_protocol.ts";
import type { BatchTransformResult } from "./batch_transform.ts";
import { CorruptRecordError } from "../protocol/record/record_errors.ts";
import { packRecords, unpackOutputs } from "./record_packing.ts";
import type { Logger } from "../ops/logger.ts";

/** A deployed module as the pool runs it. */
export interface EtlModule {
  readonly name: string;
  readonly sha256: string;
  readonly bytes: Uint8Array;
}

/** Options of {@linkcode EtlPool}; the first four are the `[etl]` config keys. */
export interface EtlPoolOptions {
  /** `etl.max_concurrent_executions`. */
  readonly maxConcurrentExecutions: number;
  /** `etl.execution_timeout_ms`, per batch. */
  readonly executionTimeoutMs: number;
  /** `etl.memory_limit_bytes`, per module instance. */
  readonly memoryLimitBytes: number;
  /** `etl.batch_size`, records per call into a Worker. */
  readonly batchSize: number;
  /** Receives `rustmq.log` lines at info level. @default lines are dropped */
  readonly logger?: Logger;
  /** Called after each batch a Worker ran with what each stage did (per-module metrics). */
  readonly onStageStats?: (stats: readonly StageStats[]) => void;
  /** `rustmq.log` lines per module per second; more are counted and dropped. @default 10 */
  readonly logLinesPerSecondMax?: number;
  /** Time source for the log rate limit. @default Date.now */
  readonly now?: () => number;
  /** Batches that may wait for a Worker; more fail at once with EtlPoolBusyError. @default 10000 */
  readonly queuedBatchesMax?: number;
}

/** The pool's wait queue is full: the caller should slow down and retry. */
export class EtlPoolBusyError extends Error {
  /** Stable code of this condition. */
  readonly code = "ETL_POOL_BUSY";
  /** The queue drains as batches finish. */
  readonly retriable = true;
  constructor(queuedBatchesMax: number) {
    super(
      `Cannot run an ETL batch as ${queuedBatchesMax} batches already wait for a Worker (etl.max_concurrent_executions are busy)`,
    );
    this.name = "EtlPoolBusyError";
  }
}

interface _Slot {
  worker: Worker;
  loaded: Set<string>;
  pending?:
    | { id: number; resolve: (r: WorkerReply) => void; reject: (e: Error) => void }
    | undefined;
}

/** Runs chains of modules over batches of records in a pool of Workers. */
export class EtlPool {
  readonly #options: EtlPoolOptions;
  readonly #idle: _Slot[] = [];
  readonly #all = new Set<_Slot>();
  readonly #waiters: { resolve: (slot: _Slot) => void; reject: (e: Error) => void }[] = [];
  readonly #logWindows = new Map<string, { startMs: number; count: number }>();
  /** Request buffers Workers handed back, for the next batches' copies. */
  readonly #buffers: ArrayBuffer[] = [];
  #nextId = 1;
  #closed = false;

  constructor(options: EtlPoolOptions) {
    for (
      const k of [
        "maxConcurrentExecutions",
        "executionTimeoutMs",
        "memoryLimitBytes",
        "batchSize",
      ] as const
    ) {
      if (!Number.isSafeInteger(options[k]) || options[k] < 1) {
        throw new RangeError(`Cannot create the ETL pool as ${k} must be a positive integer`);
      }
    }
    this.#options = options;
  }

  /** Number of Workers alive, at most `maxConcurrentExecutions`. */
  get workerCount(): number {
    return this.#all.size;
  }

  /**
   * Runs `records` through `chain`, one outcome per input. Output records keep every field of
   * their input (timestamp, headers) except `key` and `value`. Throws
   * {@linkcode EtlExecutionError} when a whole batch fails (timeout, memory).
   */
  async run<R extends EtlRecordData>(chain: EtlModule[], records: R[]): Promise<EtlOutcome<R>[]> {
    if (chain.length === 0) return records.map((r) => ({ records: [r] }));
    const out: EtlOutcome<R>[] = [];
    for (let i = 0; i < records.length; i += this.#options.batchSize) {
      const slice = records.slice(i, i + this.#options.batchSize);
      const outcomes = await this.#runBatch(
        chain,
        slice.map((r) => ({ key: r.key, value: r.value })),
      );
      outcomes.forEach((o, j) => {
        const input = slice[j]!;
        out.push("failure" in o ? o : { records: o.records.map((d) => ({ ...input, ...d })) });
      });
    }
    return out;
  }

  /** Terminates every Worker; pending batches fail. */
  close(): void {
    this.#closed = true;
    for (const slot of [...this.#all]) this.#discard(slot, new Error("ETL pool closed"));
    for (const w of this.#waiters.splice(0)) {
      w.reject(new Error("Cannot run ETL as the pool is closed"));
    }
  }

  /** `etl.batch_size`: the most records one call into a Worker carries. */
  get batchSize(): number {
    return this.#options.batchSize;
  }

  /**
   * Runs one whole v2 record batch of at most `batchSize` records through `chain` in a
   * Worker, which decodes, transforms and re-encodes it. Throws
   * {@linkcode EtlExecutionError} when the batch fails as a whole (timeout, memory) and
   * `CorruptRecordError` when its records do not decode.
   */
  async runRecordBatch(
    chain: EtlModule[],
    batch: Uint8Array,
    options: { buildOnFailure: boolean },
  ): Promise<BatchTransformResult> {
    const reply = await this.#call(chain, (id, refs) => {
      const copy = this.#bufferFor(batch.length);
      new Uint8Array(copy, 0, batch.length).set(batch);
      return {
        req: {
          id,
          kind: "batch",
          chain: refs,
          batch: copy,
          batchBytes: batch.length,
          memoryLimitBytes: this.#options.memoryLimitBytes,
          buildOnFailure: options.buildOnFailure,
        },
        transfer: [copy],
      };
    });
    if ("corrupt" in reply) throw new CorruptRecordError(`Cannot decode records: ${reply.corrupt}`);
    if (!("kind" in reply)) throw new Error("assertion: a batch reply of the wrong kind");
    this.#keepBuffer(reply.returned);
    this.#options.onStageStats?.(reply.stats);
    return {
      batch: reply.batch === null ? null : new Uint8Array(reply.batch, 0, reply.batchBytes),
      recordsIn: reply.recordsIn,
      recordsOut: reply.recordsOut,
      failures: reply.failures,
    };
  }

  /**
   * A buffer of at least `bytes` to copy a batch into for a Worker: one a Worker handed back
   * when there is one, as a fresh buffer costs a page fault per 4 KiB on first write (about
   * 0.3 ms of this thread per 512 KiB batch, 14% of its time in a 1 KiB profile). The batch
   * the Worker sends back is new memory, which the log cache keeps.
   */
  #bufferFor(bytes: number): ArrayBuffer {
    const i = this.#buffers.findIndex((b) => b.byteLength >= bytes);
    if (i < 0) return new ArrayBuffer(bytes);
    return this.#buffers.splice(i, 1)[0]!;
  }

  /** Keeps `buffer` for {@linkcode EtlPool.#bufferFor}, at most one per Worker plus one. */
  #keepBuffer(buffer: ArrayBuffer): void {
    if (this.#buffers.length > this.#options.maxConcurrentExecutions) this.#buffers.shift();
    this.#buffers.push(buffer);
  }

  async #runBatch(chain: EtlModule[], records: EtlRecordData[]): Promise<EtlOutcome[]> {
    const packed = packRecords(records);
    const reply = await this.#call(chain, (id, refs) => ({
      req: {
        id,
        records: packed,
        count: records.length,
        memoryLimitBytes: this.#options.memoryLimitBytes,
        chain: refs,
      },
      transfer: [packed],
    }));
    if (!("outputs" in reply)) throw new Error("assertion: a batch reply without outputs");
    this.#options.onStageStats?.(reply.stats);
    return unpackOutputs(reply.outputs, records.length).map((o, i) =>
      o ? { records: o } : { failure: reply.failures[i]! }
    );
  }

  /**
   * One request to a Worker under the timeout: the Worker is replaced after a timeout or a
   * module failure, and kept otherwise.
   */
  async #call(
    chain: EtlModule[],
    make: (
      id: number,
      refs: WorkerModuleRef[],
    ) => { req: WorkerRequest | WorkerBatchRequest; transfer: Transferable[] },
  ): Promise<WorkerReply> {
    const slot = await this.#acquire();
    const id = this.#nextId++;
    const { req, transfer } = make(
      id,
      chain.map((m) =>
        slot.loaded.has(m.sha256)
          ? { name: m.name, sha256: m.sha256 }
          : { name: m.name, sha256: m.sha256, bytes: m.bytes }
      ),
    );
    const names = chain.map((m) => m.name).join(",");
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const reply = await new Promise<WorkerReply>((resolve, reject) => {
        slot.pending = { id, resolve, reject };
        timer = setTimeout(() => {
          this.#discard(
            slot,
            new EtlExecutionError(
              "timeout",
              names,
              `batch ran past etl.execution_timeout_ms (${this.#options.executionTimeoutMs})`,
            ),
          );
        }, this.#options.executionTimeoutMs);
        slot.worker.postMessage(req, transfer);
      });
      for (const m of chain) slot.loaded.add(m.sha256);
      if ("error" in reply) {
        this.#discard(slot, null);
        throw new EtlExecutionError(reply.error.kind, reply.error.module, reply.error.message);
      }
      this.#release(slot);
      return reply;
    } finally {
      clearTimeout(timer);
    }
  }

  #acquire(): Promise<_Slot> {
    if (this.#closed) return Promise.reject(new Error("Cannot run ETL as the pool is closed"));
    const idle = this.#idle.pop();
    if (idle) return Promise.resolve(idle);
    if (this.#all.size < this.#options.maxConcurrentExecutions) {
      return Promise.resolve(this.#spawn());
    }
    const max = this.#options.queuedBatchesMax ?? 10_000;
    if (this.#waiters.length >= max) return Promise.reject(new EtlPoolBusyError(max));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  #release(slot: _Slot): void {
    slot.pending = undefined;
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(slot);
    else this.#idle.push(slot);
  }

  #spawn(): _Slot {
    // A literal URL next to import.meta.url lets `deno compile` embed the Worker script.
    const worker = new Worker(new URL("./etl_worker.ts", import.meta.url).href, {
      type: "module",
    });
    const slot: _Slot = { worker, loaded: new Set() };
    worker.onmessage = (ev: MessageEvent<WorkerReply>) => this.#onReply(slot, ev.data);
    worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      this.#discard(slot, new EtlExecutionError("abi", "?", `ETL Worker failed: ${ev.message}`));
    };
    this.#all.add(slot);
    return slot;
  }

  #onReply(slot: _Slot, reply: WorkerReply): void {
    if ("log" in reply) return this.#log(reply.log.module, reply.log.line);
    if (slot.pending?.id === reply.id) slot.pending.resolve(reply);
  }

  /** Terminates `slot`'s Worker, fails its batch with `error`, and frees its place. */
  #discard(slot: _Slot, error: Error | null): void {
    if (!this.#all.delete(slot)) return;
    slot.worker.terminate();
    const idx = this.#idle.indexOf(slot);
    if (idx >= 0) this.#idle.splice(idx, 1);
    if (error) slot.pending?.reject(error);
    slot.pending = undefined;
    // A waiter gets a fresh Worker in the freed place.
    if (this.#closed) return;
    this.#waiters.shift()?.resolve(this.#spawn());
  }

  #log(module: string, line: string): void {
    const now = (this.#options.now ?? Date.now)();
    const max = this.#options.logLinesPerSecondMax ?? 10;
    let w = this.#logWindows.get(module);
    if (!w || now - w.startMs >= 1000) {
      if (w && w.count > max) {
        this.#options.logger?.warn("ETL module log lines dropped", {
          module,
          dropped: w.count - max,
        });
      }
      w = { startMs: now, count: 0 };
      this.#logWindows.set(module, w);
    }
    if (++w.count <= max) this.#options.logger?.info(line, { module });
  }
}
