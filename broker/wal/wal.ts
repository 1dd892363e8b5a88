/**
 * The broker's write-ahead log: one per broker, every partition's batches interleaved, group
 * commit, direct I/O where the platform allows it, recovery on open, checkpoint-driven reclaim.
 *
 * This file is the thin driver: it owns the files, buffers, timers and promises, and leaves every
 * decision to the pure cores (`GroupCommitter` for batching and acknowledgement, `SegmentSpace`
 * for capacity and reclaim, `planRecovery` for what survives a crash).
 *
 * Partitions are identified by a u32 stream id that the broker assigns (topic/partition to id is
 * the broker's registry, kept with its partition metadata): 4 bytes per entry instead of a
 * topic name, and the WAL never needs to understand names.
 *
 * Durability: with `fsyncOnWrite` (the default) an append resolves only after its bytes, and
 * every byte before them, are durable. Without it, an append resolves once written to the OS
 * and data is synced every `flushIntervalMs`: a power cut (not a process crash) can lose up to
 * that much acknowledged data.
 *
 * @module
 */
import { crc32cBackend } from "../../protocol/crc32c.ts";
import { FfiBackend, type FfiBackendOptions } from "./wal_ffi_backend.ts";
import { GroupCommitter, type PlannedEntry, type PlannedWrite } from "./wal_committer.ts";
import {
  WalClosedError,
  WalDiskFullError,
  type WalError,
  WalFullError,
  WalIoError,
} from "./wal_errors.ts";
import {
  encodeEntryUnsealed,
  encodeSegmentHeader,
  parseSegmentFileName,
  sealEntry,
  SEGMENT_HEADER_BYTES,
  segmentFileName,
  WAL_BLOCK_BYTES,
} from "./wal_format.ts";
import { type Clock, systemClock } from "../../ops/clock.ts";

/** The part of the ops clock the WAL uses: monotonic time and timers. */
export type WalClock = Pick<Clock, "monotonicMs" | "setTimer" | "clearTimer">;
import {
  isDiskFull,
  type WalBuffer,
  type WalIoBackend,
  type WalLogger,
  type WalSegmentWriter,
} from "./wal_io.ts";
import { PortableBackend } from "./wal_portable_backend.ts";
import { planRecovery, type RecoveredEntry, type RecoverySegment } from "./wal_recovery.ts";
import { SegmentSpace } from "./wal_space.ts";

/** Options of {@linkcode Wal.open}; names follow broker.toml `[wal]` in camelCase. */
export interface WalOptions {
  /** Directory of the segment files (`wal.path`). */
  path: string;
  /** Bytes all segments may take (`wal.capacity_bytes`). @default 10737418240 */
  capacityBytes?: number;
  /** Size of one segment, a multiple of 4096 (`wal.segment_size_bytes`). @default 1073741824 */
  segmentSizeBytes?: number;
  /** Most bytes coalesced into one write; one larger entry goes alone (`wal.buffer_size`). @default 65536 */
  bufferSize?: number;
  /** Acknowledge only durable appends (`wal.fsync_on_write`). @default true */
  fsyncOnWrite?: boolean;
  /** Sync interval when `fsyncOnWrite` is false: the power-cut loss window (`wal.flush_interval_ms`). @default 1000 */
  flushIntervalMs?: number;
  /** I/O backend (`wal.io_backend`), or an injected one (tests). @default "auto" */
  backend?: "auto" | "ffi" | "portable" | WalIoBackend;
  /** Options of the direct-I/O backend. */
  ffi?: FfiBackendOptions;
  /** Writes in flight at once (capped by the backend). @default the backend's maximum */
  inflightMax?: number;
  /** How long an append waits for space when the WAL is full before `WalFullError`. @default 5000 */
  fullWaitMs?: number;
  /**
   * Keep one zero-filled spare segment ready (inside the capacity), so appends overwrite
   * allocated blocks instead of growing files. @default true when the capacity holds 3+ segments
   */
  spareSegment?: boolean;
  /** Time source. @default the system clock */
  clock?: WalClock;
  /** Receives log lines. @default discards them */
  logger?: WalLogger;
}

/** Result of a successful append. */
export interface WalAppendResult {
  /** The entry's position in the WAL (1, 2, ...). */
  seq: number;
}

/** Counters for metrics and benchmarks. */
export interface WalStats {
  /** Appends acknowledged. */
  appends: number;
  /** Group-commit writes completed. */
  writes: number;
  /** Bytes written, padding and headers included. */
  bytesWritten: number;
  /** Bytes of zero padding written to reach block boundaries. */
  paddingBytes: number;
  /** Explicit syncs (periodic flush mode). */
  syncs: number;
  /** Segments currently on disk. */
  segments: number;
  /** Bytes reserved by segments. */
  usedBytes: number;
  /** Highest acknowledged seq. */
  ackedSeq: number;
}

/** What {@linkcode Wal.open} returns. */
export interface WalOpenResult {
  /** The open WAL. */
  wal: Wal;
  /** Entries that survived, in order, for the broker to rebuild partition state. */
  recovered: RecoveredEntry[];
}

interface _Waiter {
  resolve(result: WalAppendResult): void;
  reject(error: unknown): void;
  enqueuedAtMs: number;
}

interface _Config {
  path: string;
  capacityBytes: number;
  segmentBytes: number;
  bufferBytes: number;
  fsyncOnWrite: boolean;
  flushIntervalMs: number;
  fullWaitMs: number;
  spareSegment: boolean;
  clock: WalClock;
  logger: WalLogger;
}

const SPARE_READY = "spare.ready";
/**
 * Single-entry commits at least this large are written in two parts (see `#submit`), so the
 * body's write overlaps computing the CRC. With the native CRC32C (about 29 GB/s) there is
 * nothing to overlap and the second submission only costs, so the split is off.
 */
const SPLIT_WRITE_BYTES_MIN = crc32cBackend() === "native" ? Infinity : 256 * 1024;
const SPARE_TEMP = "spare.tmp";
/**
 * Longest a spare-segment chunk waits for the appends to pause. Zero-filling at full speed
 * halved a single 1 MiB writer (0.73 ms per append alone, 1.7 ms beside it); paced, it uses
 * idle time, and under saturation still writes one 256 KiB chunk per 25 ms.
 */
const SPARE_PACE_MAX_MS = 25;

const _silent: WalLogger = { info() {} };

/**
 * The write-ahead log.
 *
 * @example
 * ```ts
 * import { Wal } from "./wal.ts";
 * const path = await Deno.makeTempDir();
 * const { wal } = await Wal.open({ path, backend: "portable", segmentSizeBytes: 1 << 20, capacityBytes: 4 << 20 });
 * const { seq } = await wal.append(1, 0n, new TextEncoder().encode("batch"));
 * await wal.close();
 * const again = await Wal.open({ path, backend: "portable", segmentSizeBytes: 1 << 20, capacityBytes: 4 << 20 });
 * console.assert(again.recovered.length === 1 && again.recovered[0]!.seq === seq);
 * await again.wal.close();
 * await Deno.remove(path, { recursive: true });
 * ```
 */
export class Wal {
  /** The backend in use, e.g. `"ffi-io_uring"`. */
  readonly backendName: string;
  #config: _Config;
  #backend: WalIoBackend;
  #space: SegmentSpace;
  #committer: GroupCommitter<_Waiter>;
  #writers = new Map<number, Promise<WalSegmentWriter>>();
  #dirty = new Set<number>();
  #stats: WalStats;
  #full = false;
  #cancelFullTimer: (() => void) | null = null;
  #cancelFlushTimer: (() => void) | null = null;
  #firstError: unknown = null;
  #fatal: WalError | null = null;
  /** A write failed and the repair has not finished: appends are rejected at once. */
  #repairing = false;
  /** Since when (clock ms) writes fail with ENOSPC (or EDQUOT); null once one succeeded. */
  #diskFullSinceMs: number | null = null;
  #closing = false;
  #pumpScheduled = false;
  #reclaimTask: Promise<void> | null = null;
  readonly #spaceWaiters = new Set<() => void>();
  #reclaimAgain = false;
  #idle: (() => void) | null = null;
  #spareReady = false;
  #spareTask: Promise<void> | null = null;
  /** Append writes submitted and not completed; the spare zero-fill waits for zero. */
  #writesInFlight = 0;
  #idleWaiters: (() => void)[] = [];

  private constructor(
    config: _Config,
    backend: WalIoBackend,
    space: SegmentSpace,
    committer: GroupCommitter<_Waiter>,
  ) {
    this.#config = config;
    this.#backend = backend;
    this.#space = space;
    this.#committer = committer;
    this.backendName = backend.name;
    this.#stats = {
      appends: 0,
      writes: 0,
      bytesWritten: 0,
      paddingBytes: 0,
      syncs: 0,
      segments: space.segmentCount,
      usedBytes: space.usedBytes,
      ackedSeq: committer.ackedSeq,
    };
    if (!config.fsyncOnWrite) this.#armFlush();
  }

  #start(spareReady: boolean): void {
    this.#spareReady = spareReady;
    if (!spareReady) this.#prepareSpare();
  }

  /**
   * Opens (or creates) the WAL in `options.path`: picks and logs the backend, recovers the
   * segments, cuts a torn tail, and returns the surviving entries.
   *
   * @throws {RangeError} on invalid options
   * @throws {WalCorruptionError} when acknowledged data is damaged
   */
  static async open(options: WalOptions): Promise<WalOpenResult> {
    const config = _validate(options);
    const backend = _selectBackend(options, config.logger);
    try {
      const spareReady = await _checkSpare(backend, config);
      const files = await _readSegments(backend, config.path);
      const plan = planRecovery(files);
      await _applyRecovery(backend, config, plan, files);
      const space = new SegmentSpace({
        capacityBytes: config.capacityBytes,
        segmentBytes: config.segmentBytes,
        spareSegments: config.spareSegment ? 1 : 0,
      });
      _registerRecovered(space, plan, files);
      const committer = new GroupCommitter<_Waiter>({
        bufferBytes: config.bufferBytes,
        inflightMax: Math.min(options.inflightMax ?? backend.inflightMax, backend.inflightMax),
        segmentBytes: config.segmentBytes,
        nextSeq: plan.nextSeq,
        nextSegmentId: plan.nextSegmentId,
        space,
      });
      config.logger.info("WAL opened", {
        path: config.path,
        backend: backend.name,
        recoveredEntries: plan.entries.length,
        segments: space.segmentCount,
        nextSeq: plan.nextSeq,
      });
      const wal = new Wal(config, backend, space, committer);
      wal.#start(spareReady);
      return { wal, recovered: plan.entries };
    } catch (error) {
      backend.close();
      throw error;
    }
  }

  /** Whether the last write failed as the disk is full (cleared by the next write that succeeds). */
  get diskFull(): boolean {
    return this.#diskFullSinceMs !== null;
  }

  /** When writes started failing as the disk is full (the WAL clock's ms), or null. */
  get diskFullSinceMs(): number | null {
    return this.#diskFullSinceMs;
  }

  /** Counters so far. */
  get stats(): WalStats {
    return {
      ...this.#stats,
      segments: this.#space.segmentCount,
      usedBytes: this.#space.usedBytes,
      ackedSeq: this.#committer.ackedSeq,
    };
  }

  /**
   * Appends one batch. Resolves once it (and everything before it) is written, durably with
   * `fsyncOnWrite`.
   *
   * @throws {RangeError} when the payload cannot fit a segment or the ids are out of range
   * @throws {WalFullError} (rejection) when no space freed within `fullWaitMs`
   * @throws {WalDiskFullError} (rejection) when the disk is full
   * @throws {WalClosedError} (rejection) after `close()` or a fatal I/O error
   */
  append(streamId: number, baseOffset: bigint, payload: Uint8Array): Promise<WalAppendResult> {
    _checkAppend(streamId, baseOffset, payload, this.#config.segmentBytes);
    if (this.#fatal !== null) return Promise.reject(this.#fatal);
    if (this.#closing) return Promise.reject(new WalClosedError());
    // Written after the failed write, this append would leave a hole behind the rejected ones.
    if (this.#repairing) return Promise.reject(this.#writeError(this.#firstError));
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject, enqueuedAtMs: this.#config.clock.monotonicMs() };
      this.#committer.enqueue({ streamId, baseOffset, payload }, waiter);
      this.#schedulePump();
    });
  }

  /**
   * Marks every entry of `streamId` with a base offset below `offset` as safe to drop (it is in
   * object storage). Segments holding nothing else are deleted in the background. Checkpoints
   * live in memory: after a restart the broker calls this again for what it knows is uploaded.
   */
  checkpoint(streamId: number, offset: bigint): void {
    this.#space.checkpoint(streamId, offset);
    this.#reclaim();
  }

  /**
   * Resolves the next time segments are reclaimed (space freed), when the WAL stops or closes,
   * or after `timeoutMs`, whichever comes first. Callers re-check `stats` afterwards: this is
   * how produce backpressure waits on an event instead of polling.
   */
  whenSpaceFreed(timeoutMs: number): Promise<void> {
    if (this.#closing || this.#fatal !== null) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        cancel();
        this.#spaceWaiters.delete(done);
        resolve();
      };
      const cancel = this.#after(timeoutMs, done);
      this.#spaceWaiters.add(done);
    });
  }

  #wakeSpaceWaiters(): void {
    for (const wake of [...this.#spaceWaiters]) wake();
  }

  /**
   * Stops accepting appends, rejects those still queued, waits for writes in flight, syncs,
   * and closes the files.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#wakeSpaceWaiters();
    for (const waiter of this.#committer.dropQueued(() => true)) {
      waiter.reject(new WalClosedError());
    }
    if (this.#committer.inflightCount > 0) {
      await new Promise<void>((resolve) => this.#idle = resolve);
    }
    this.#cancelFullTimer?.();
    this.#cancelFlushTimer?.();
    await this.#spareTask;
    while (this.#reclaimTask !== null) await this.#reclaimTask;
    if (!this.#config.fsyncOnWrite && this.#fatal === null) await this.#flush().catch(() => {});
    for (const writer of this.#writers.values()) await (await writer.catch(() => null))?.close();
    this.#writers.clear();
    this.#backend.close();
  }

  /**
   * Pumps once the current microtasks have run, so that appends made in one burst (writers
   * woken together by the last write's completion) share a write instead of the first going
   * out alone: with 64 closed-loop writers of 1 KiB, an idle WAL otherwise wrote 1 entry, then
   * 63. Appends arriving in separate events are not delayed by more than a microtask.
   */
  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#fatal !== null) return;
    for (;;) {
      const write = this.#committer.plan();
      if (write === null) break;
      if (write === "full") {
        this.#onFull();
        return;
      }
      this.#full = false;
      this.#issue(write);
    }
  }

  #issue(write: PlannedWrite<_Waiter>): void {
    const buffer = this.#backend.allocate(write.length);
    const bytes = buffer.bytes;
    let at = 0;
    if (write.createsSegment) {
      encodeSegmentHeader(bytes, write.segmentId, write.entries[0]!.record.seq);
      at = SEGMENT_HEADER_BYTES;
    }
    const starts: number[] = [];
    for (const { record } of write.entries) {
      starts.push(at);
      at = encodeEntryUnsealed(bytes, at, record);
    }
    // Pooled buffers hold old bytes; the padding must be zeros for recovery to recognise it.
    bytes.fill(0, at, write.length);
    this.#stats.paddingBytes += write.length - at;
    this.#stats.bytesWritten += write.length;
    const release = () => buffer.release();
    this.#writesInFlight += 1;
    this.#writerFor(write)
      .then((writer) => this.#submit(writer, buffer, write, starts))
      .then(() => this.#completed(write, release), (error) => this.#failed(write, release, error));
  }

  /**
   * Writes one commit. A large single-entry commit goes out as two writes: everything after the
   * block holding the entry header first, then that block once its checksum is computed, so
   * the disk is busy while the CPU checksums (about 1 ms per MiB here). The commit completes
   * when both did; a crash between them leaves a checksum mismatch, i.e. a torn tail.
   */
  async #submit(
    writer: WalSegmentWriter,
    buffer: WalBuffer,
    write: PlannedWrite<_Waiter>,
    starts: number[],
  ): Promise<void> {
    const head = starts[0]! + WAL_BLOCK_BYTES;
    if (write.entries.length !== 1 || write.length < SPLIT_WRITE_BYTES_MIN) {
      for (const start of starts) sealEntry(buffer.bytes, start);
      return writer.write(buffer, write.length, write.position);
    }
    const tail = writer.write(buffer, write.length - head, write.position + head, head);
    sealEntry(buffer.bytes, starts[0]!);
    const first = writer.write(buffer, head, write.position, 0);
    // Both must settle before the buffer can be reused, even if one fails early.
    const [a, b] = await Promise.allSettled([tail, first]);
    if (a.status === "rejected") throw a.reason;
    if (b.status === "rejected") throw b.reason;
  }

  #writerFor(write: PlannedWrite<_Waiter>): Promise<WalSegmentWriter> {
    let writer = this.#writers.get(write.segmentId);
    if (writer === undefined) {
      if (!write.createsSegment) throw new Error(`segment ${write.segmentId} has no writer`);
      const spare = this.#spareReady ? `${this.#config.path}/${SPARE_READY}` : undefined;
      this.#spareReady = false;
      writer = this.#backend.createSegment(this.#segmentPath(write.segmentId), {
        dsync: this.#config.fsyncOnWrite,
        sizeBytes: this.#config.segmentBytes,
        ...(spare === undefined ? {} : { spare }),
      });
      // The next spare is renamed into place only after this rename is done.
      if (spare !== undefined) writer.then(() => this.#prepareSpare(), () => this.#prepareSpare());
      writer.catch(() => {}); // Observed through the write chain; avoid an unhandled rejection.
      this.#writers.set(write.segmentId, writer);
    }
    return writer;
  }

  #writeSettled(): void {
    this.#writesInFlight -= 1;
    if (this.#writesInFlight === 0) { for (const wake of this.#idleWaiters.splice(0)) wake(); }
  }

  #completed(write: PlannedWrite<_Waiter>, release: () => void): void {
    release();
    this.#writeSettled();
    this.#stats.writes++;
    if (!this.#config.fsyncOnWrite) this.#dirty.add(write.segmentId);
    if (this.#diskFullSinceMs !== null) {
      this.#diskFullSinceMs = null;
      this.#config.logger.info?.("WAL disk has room again: appends resumed", {
        path: this.#config.path,
      });
    }
    const acked = this.#committer.complete(write.writeId, this.#config.fsyncOnWrite);
    this.#ack(acked);
    if (this.#committer.repairReady()) void this.#repair();
    this.#afterWrite();
  }

  #failed(write: PlannedWrite<_Waiter>, release: () => void, error: unknown): void {
    release();
    this.#writeSettled();
    this.#firstError ??= error;
    this.#repairing = true;
    this.#config.logger.warn?.("WAL write failed", { segment: write.segmentId, error: `${error}` });
    this.#committer.fail(write.writeId);
    if (this.#committer.repairReady()) void this.#repair();
    this.#afterWrite();
  }

  #ack(acked: PlannedEntry<_Waiter>[]): void {
    this.#stats.appends += acked.length;
    for (const { record, token } of acked) token.resolve({ seq: record.seq });
  }

  #afterWrite(): void {
    if (this.#committer.inflightCount === 0 && this.#idle !== null) {
      this.#idle();
      this.#idle = null;
    }
    this.#reclaim();
    this.#pump();
  }

  /** Undoes a failed write: rejects what was not acknowledged, cuts its bytes, resumes. */
  async #repair(): Promise<void> {
    const plan = this.#committer.repair();
    const error = this.#writeError(this.#firstError);
    // Appends queued behind the failed write go too: written after it, they would leave a
    // hole. So every stream's rejected appends are a suffix of what it appended.
    for (const waiter of plan.rejected) waiter.reject(error);
    for (const waiter of this.#committer.dropQueued(() => true)) waiter.reject(error);
    if (error instanceof WalDiskFullError && this.#diskFullSinceMs === null) {
      this.#diskFullSinceMs = this.#config.clock.monotonicMs();
      this.#config.logger.warn?.("WAL disk is full: appends fail until space is freed", {
        path: this.#config.path,
        error: `${this.#firstError}`,
      });
    }
    try {
      for (const segmentId of plan.remove) await this.#dropSegment(segmentId);
      for (const { segmentId, length } of plan.truncate) {
        await this.#backend.truncate(this.#segmentPath(segmentId), length);
      }
      await this.#backend.syncDir(this.#config.path);
    } catch (repairError) {
      this.#setFatal(new WalIoError(`repair the WAL after a failed write`, repairError));
      return;
    }
    this.#firstError = null;
    this.#repairing = false;
    // A full disk may clear; any other write error means the device cannot be trusted.
    if (!(error instanceof WalDiskFullError)) this.#setFatal(error);
    this.#pump();
  }

  #writeError(cause: unknown): WalError {
    return isDiskFull(cause)
      ? new WalDiskFullError(this.#config.path, cause)
      : new WalIoError(`write the WAL in ${this.#config.path}`, cause);
  }

  async #dropSegment(segmentId: number): Promise<void> {
    const writer = this.#writers.get(segmentId);
    this.#writers.delete(segmentId);
    this.#dirty.delete(segmentId);
    await (await writer?.catch(() => null))?.close();
    try {
      await this.#backend.remove(this.#segmentPath(segmentId));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    this.#space.release(segmentId);
  }

  #setFatal(error: WalError): void {
    this.#fatal = error;
    this.#wakeSpaceWaiters();
    this.#config.logger.warn?.("WAL stopped accepting appends", { error: error.message });
    for (const waiter of this.#committer.dropQueued(() => true)) waiter.reject(error);
  }

  #onFull(): void {
    this.#full = true;
    this.#reclaim();
    if (this.#cancelFullTimer !== null) return;
    const { clock, fullWaitMs } = this.#config;
    // The queue is FIFO, so its head waited longest.
    const oldest = this.#committer.peekQueued()?.enqueuedAtMs ?? clock.monotonicMs();
    const delay = Math.max(0, oldest + fullWaitMs - clock.monotonicMs());
    this.#cancelFullTimer = this.#after(delay, () => {
      this.#cancelFullTimer = null;
      this.#expireWaiting();
    });
  }

  #expireWaiting(): void {
    if (!this.#full) return;
    const { clock, fullWaitMs } = this.#config;
    const now = clock.monotonicMs();
    // The queue is FIFO: once its head expired, everything behind it goes too, or a later
    // append of the same stream would be written after a rejected one (a hole).
    const head = this.#committer.peekQueued();
    const expired = head !== undefined && now - head.enqueuedAtMs >= fullWaitMs
      ? this.#committer.dropQueued(() => true)
      : [];
    const error = new WalFullError(this.#space.usedBytes, this.#space.capacityBytes, fullWaitMs);
    for (const waiter of expired) waiter.reject(error);
    this.#pump();
  }

  /** Starts deleting reclaimable segments in the background; one pass runs at a time. */
  #reclaim(): void {
    if (this.#reclaimTask !== null) {
      this.#reclaimAgain = true;
      return;
    }
    const ids = this.#space.reclaimable();
    if (ids.length === 0) return;
    this.#reclaimTask = this.#reclaimSegments(ids).finally(() => {
      this.#reclaimTask = null;
      this.#wakeSpaceWaiters();
      if (this.#reclaimAgain) {
        this.#reclaimAgain = false;
        this.#reclaim();
      }
      if (!this.#closing) this.#pump();
    });
  }

  async #reclaimSegments(ids: number[]): Promise<void> {
    for (const id of ids) {
      try {
        await this.#dropSegment(id);
      } catch (error) {
        this.#space.reclaimFailed(id);
        this.#config.logger.warn?.("WAL segment reclaim failed", {
          segment: id,
          error: `${error}`,
        });
      }
    }
    await this.#backend.syncDir(this.#config.path).catch((error) => {
      // Not fatal (recovery tolerates a reclaimed segment coming back: its entries are
      // checkpointed), but the space may not stay freed across a power cut, so say so.
      this.#config.logger.warn?.("WAL directory sync after reclaim failed", {
        segments: ids,
        error: `${error}`,
      });
    });
    this.#config.logger.info("WAL segments reclaimed", { segments: ids });
  }

  /** Zero-fills the next spare segment in the background (one at a time). */
  #prepareSpare(): void {
    if (!this.#config.spareSegment || this.#spareTask !== null || this.#closing) return;
    const temp = `${this.#config.path}/${SPARE_TEMP}`;
    const ready = `${this.#config.path}/${SPARE_READY}`;
    const pace = () => this.#idleOrBound();
    this.#spareTask = this.#backend.prepareSpare(temp, this.#config.segmentBytes, pace)
      .then(() => this.#backend.rename(temp, ready))
      .then(
        () => {
          this.#spareReady = true;
        },
        (error) => {
          this.#config.logger.warn?.("WAL spare segment preparation failed", { error: `${error}` });
          return this.#backend.remove(temp).catch(() => {});
        },
      )
      .finally(() => {
        this.#spareTask = null;
      });
  }

  /**
   * Resolves once no append is being written, or after `SPARE_PACE_MAX_MS` at the latest, so
   * background zero-filling takes the disk's idle time and still progresses under load.
   */
  #idleOrBound(): Promise<void> {
    if (this.#writesInFlight === 0 || this.#closing) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        cancel();
        const at = this.#idleWaiters.indexOf(finish);
        if (at >= 0) this.#idleWaiters.splice(at, 1);
        resolve();
      };
      const cancel = this.#after(SPARE_PACE_MAX_MS, finish);
      this.#idleWaiters.push(finish);
    });
  }

  /** Arms a timer on the injected clock; returns the function that cancels it. */
  #after(delayMs: number, fn: () => void): () => void {
    const { clock } = this.#config;
    const handle = clock.setTimer(delayMs, fn);
    return () => clock.clearTimer(handle);
  }

  #armFlush(): void {
    this.#cancelFlushTimer = this.#after(this.#config.flushIntervalMs, () => {
      this.#flush().then(
        () => {
          if (!this.#closing) this.#armFlush();
        },
        (error) => this.#setFatal(new WalIoError("sync the WAL", error)),
      );
    });
  }

  /** Periodic-flush mode: syncs every segment written since the last flush. */
  async #flush(): Promise<void> {
    const target = this.#committer.ackedSeq;
    if (target <= this.#committer.durableSeq) return;
    const dirty = [...this.#dirty];
    this.#dirty.clear();
    for (const id of dirty) {
      const writer = await this.#writers.get(id);
      await writer?.sync();
      this.#stats.syncs++;
    }
    this.#committer.synced(target);
  }

  #segmentPath(id: number): string {
    return `${this.#config.path}/${segmentFileName(id)}`;
  }
}

function _checkAppend(
  streamId: number,
  baseOffset: bigint,
  payload: Uint8Array,
  segmentBytes: number,
) {
  if (!Number.isInteger(streamId) || streamId < 0 || streamId > 0xffffffff) {
    throw new RangeError(`Cannot append as streamId must be a u32: current value is ${streamId}`);
  }
  if (baseOffset < -(1n << 63n) || baseOffset >= 1n << 63n) {
    throw new RangeError(
      `Cannot append as baseOffset must be an int64: current value is ${baseOffset}`,
    );
  }
  const max = GroupCommitter.payloadBytesMax(segmentBytes);
  if (payload.length > max) {
    throw new RangeError(
      `Cannot append as the payload is larger than a segment can hold: current value is ` +
        `${payload.length} bytes, maximum ${max}`,
    );
  }
}

function _validate(options: WalOptions): _Config {
  const config: _Config = {
    path: options.path,
    capacityBytes: options.capacityBytes ?? 10 * 1024 ** 3,
    segmentBytes: options.segmentSizeBytes ?? 1024 ** 3,
    bufferBytes: options.bufferSize ?? 65536,
    fsyncOnWrite: options.fsyncOnWrite ?? true,
    flushIntervalMs: options.flushIntervalMs ?? 1000,
    fullWaitMs: options.fullWaitMs ?? 5000,
    spareSegment: options.spareSegment ??
      (Math.floor(
        (options.capacityBytes ?? 10 * 1024 ** 3) / (options.segmentSizeBytes ?? 1024 ** 3),
      ) >= 3),
    clock: options.clock ?? systemClock,
    logger: options.logger ?? _silent,
  };
  if (typeof config.path !== "string" || config.path === "") {
    throw new RangeError("Cannot open the WAL as path is empty");
  }
  const positive = (name: string, value: number, min: number) => {
    if (!Number.isSafeInteger(value) || value < min) {
      throw new RangeError(
        `Cannot open the WAL as ${name} must be an integer >= ${min}: current value is ${value}`,
      );
    }
  };
  positive("segmentSizeBytes", config.segmentBytes, 2 * SEGMENT_HEADER_BYTES);
  if (config.segmentBytes % SEGMENT_HEADER_BYTES !== 0) {
    throw new RangeError(
      `Cannot open the WAL as segmentSizeBytes must be a multiple of 4096: current value is ${config.segmentBytes}`,
    );
  }
  positive("capacityBytes", config.capacityBytes, 2 * config.segmentBytes);
  positive("bufferSize", config.bufferBytes, 1);
  positive("flushIntervalMs", config.flushIntervalMs, 1);
  positive("fullWaitMs", config.fullWaitMs, 0);
  return config;
}

function _selectBackend(options: WalOptions, logger: WalLogger): WalIoBackend {
  const choice = options.backend ?? "auto";
  if (typeof choice === "object") {
    logger.info("WAL backend selected", { backend: choice.name, reason: "injected" });
    return choice;
  }
  if (choice === "portable") {
    logger.info("WAL backend selected", { backend: "portable", reason: "configured" });
    return new PortableBackend();
  }
  const opened = FfiBackend.open(options.path, options.ffi ?? {});
  if ("backend" in opened) {
    logger.info("WAL backend selected", {
      backend: opened.backend.name,
      reason: `io_backend=${choice}`,
    });
    return opened.backend;
  }
  if (choice === "ffi") {
    throw new WalIoError(`open the WAL with io_backend=ffi (${opened.reason})`, null);
  }
  logger.info("WAL backend selected", { backend: "portable", reason: opened.reason });
  return new PortableBackend();
}

/** Keeps a fully prepared spare from the last run; drops a half-prepared one. */
async function _checkSpare(backend: WalIoBackend, config: _Config): Promise<boolean> {
  const names = await backend.list(config.path);
  if (names.includes(SPARE_TEMP)) await backend.remove(`${config.path}/${SPARE_TEMP}`);
  if (!names.includes(SPARE_READY)) return false;
  const path = `${config.path}/${SPARE_READY}`;
  const size = await backend.fileSize(path);
  if (config.spareSegment && size === config.segmentBytes) return true;
  await backend.remove(path);
  return false;
}

async function _readSegments(backend: WalIoBackend, dir: string): Promise<RecoverySegment[]> {
  const out: RecoverySegment[] = [];
  for (const name of await backend.list(dir)) {
    const id = parseSegmentFileName(name);
    if (id === null) continue;
    const path = `${dir}/${name}`;
    out.push({ id, path, bytes: await backend.readFile(path) });
  }
  return out.sort((a, b) => a.id - b.id);
}

async function _applyRecovery(
  backend: WalIoBackend,
  config: _Config,
  plan: ReturnType<typeof planRecovery>,
  files: RecoverySegment[],
): Promise<void> {
  if (plan.truncate !== null) await backend.truncate(plan.truncate.path, plan.truncate.length);
  for (const { path } of plan.remove) await backend.remove(path);
  // What recovery returns is treated as durable from now on, so make sure it is: with
  // fsync_on_write=false the last writes before a crash may still sit in the page cache.
  const removed = new Set(plan.remove.map((r) => r.segmentId));
  for (const file of files) if (!removed.has(file.id)) await backend.syncFile(file.path);
  await backend.syncDir(config.path);
  if (plan.droppedBytes > 0) {
    (config.logger.warn ?? config.logger.info).call(config.logger, "WAL torn tail truncated", {
      droppedBytes: plan.droppedBytes,
      reason: plan.tailReason,
      truncated: plan.truncate?.path ?? null,
      removed: plan.remove.map((r) => r.path),
    });
  }
}

function _registerRecovered(
  space: SegmentSpace,
  plan: ReturnType<typeof planRecovery>,
  files: RecoverySegment[],
) {
  const removed = new Set(plan.remove.map((r) => r.segmentId));
  for (const file of files) if (!removed.has(file.id)) space.open(file.id, { recovered: true });
  for (const entry of plan.entries) {
    space.recordEntry(entry.segmentId, entry.streamId, entry.baseOffset);
  }
}
