/**
 * Each hosted partition's last stable offset (LSO) and aborted-transaction index, derived from
 * the partition's own log, on the leader and on every follower alike (as Kafka's producer state
 * and `.txnindex` are).
 *
 * The tailer reads each partition's committed batches (below the high watermark) in offset
 * order, through the log cache or object storage, and looks only at batch headers:
 * - a transactional data batch of producer P opens P's transaction at its base offset, unless
 *   one is open already;
 * - a control batch (a COMMIT or ABORT marker) of P closes it; an ABORT leaves
 *   `{P, firstOffset, markerOffset}` in the aborted index.
 *
 * Why derive it from the data instead of persisting it:
 * - object storage is the system of record, so data that left the WAL is still read back
 *   after a restart or a leader change, and the index is rebuilt from it, the same on every
 *   replica;
 * - only committed data is read, and committed data is never truncated, so a follower's
 *   truncation never has to roll the index back;
 * - there is no second durable structure that could disagree with the log.
 *
 * The price: after a restart or a leader change a partition is read once from its log start
 * (it starts on the partition's first append, high-watermark move or read_committed query).
 * While it catches up, the LSO is held at the position read so far, which is always safe:
 * read_committed consumers see less, never an aborted record. A persisted snapshot (Kafka's
 * `.snapshot`) would shorten that first read; it is not built yet.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../../ops/clock.ts";
import { decodeRecords, readBatchHeader } from "../../protocol/record/record_batch.ts";
import type { Logger } from "../../ops/logger.ts";
import type { HostedPartition } from "../hosted_partition.ts";
import { type AbortedTxn, TxnIndex } from "./txn_index.ts";

/** What the tailer reads partitions through (the broker's partition manager). */
export interface TailedLog {
  get(topic: string, partition: number): HostedPartition | undefined;
  partitions(): IterableIterator<HostedPartition>;
  readCommitted(
    p: HostedPartition,
    offset: number,
    maxBytes: number,
  ): Promise<{ batches: Uint8Array[]; nextOffset: number } | null>;
}

/** Options of {@linkcode TxnIndexTailer}. */
export interface TxnIndexTailerOptions {
  readonly log: TailedLog;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Called when a partition's LSO may have moved, so parked read_committed fetches re-read. */
  readonly moved: (key: string) => void;
  /** Bytes per read while catching up. @default 1048576 */
  readonly readBytesMax?: number;
  /** Wait before reading again after a failed read. @default 200 */
  readonly retryMs?: number;
}

/** Someone waiting for a partition's tail to reach an offset ({@linkcode TxnIndexTailer.settle}). */
interface _Settler {
  readonly until: number;
  readonly resolve: () => void;
}

interface _Tail {
  /** The hosted partition this position belongs to (a new hosting starts over). */
  readonly hosted: HostedPartition;
  /** Every batch below this offset has been applied. */
  next: number;
  running: boolean;
  /** A kick arrived while running: read again before stopping. */
  again: boolean;
  retry: TimerHandle | null;
  /** Waiting for `next` to reach an offset. */
  settlers: _Settler[];
}

/** The transaction index of every partition hosted here, kept up to date from the logs. */
export class TxnIndexTailer {
  readonly #o: TxnIndexTailerOptions;
  readonly #index = new TxnIndex();
  readonly #tails = new Map<string, _Tail>();
  readonly #readBytesMax: number;
  readonly #retryMs: number;
  #closed = false;

  constructor(options: TxnIndexTailerOptions) {
    this.#o = options;
    this.#readBytesMax = options.readBytesMax ?? 1 << 20;
    this.#retryMs = options.retryMs ?? 200;
    if (!Number.isSafeInteger(this.#readBytesMax) || this.#readBytesMax < 1) {
      throw new RangeError(`Cannot tail with readBytesMax ${this.#readBytesMax}: it must be >= 1`);
    }
  }

  /**
   * The first offset read_committed consumers may not read yet: the first offset of the oldest
   * open transaction, or the high watermark, and never past what has been read so far.
   */
  lastStableOffset(topic: string, partition: number, highWatermark: number): number {
    const t = this.#tail(topic, partition);
    if (t === null) return highWatermark;
    if (t.next < highWatermark) this.#kick(t);
    return Math.min(this.#index.lastStableOffset(t.hosted.key, highWatermark), t.next);
  }

  /**
   * Waits, at most `timeoutMs`, until the partition's log has been read up to `highWatermark`,
   * so that {@linkcode TxnIndexTailer.lastStableOffset} answers the true LSO rather than the
   * position of a read still catching up after a restart or a leader change. True when it has
   * (or the partition is not hosted here, so there is nothing to wait for).
   */
  async settle(
    topic: string,
    partition: number,
    highWatermark: number,
    timeoutMs: number,
  ): Promise<boolean> {
    const t = this.#tail(topic, partition);
    if (t === null || t.next >= highWatermark) return true;
    this.#kick(t);
    let timer: TimerHandle | null = null;
    await new Promise<void>((resolve) => {
      const settler = { until: highWatermark, resolve };
      t.settlers.push(settler);
      timer = this.#o.clock.setTimer(Math.max(0, timeoutMs), () => {
        t.settlers = t.settlers.filter((s) => s !== settler);
        resolve();
      });
    });
    if (timer !== null) this.#o.clock.clearTimer(timer);
    return this.#tails.get(t.hosted.key) !== t || t.next >= highWatermark;
  }

  /** Aborted transactions overlapping `[fromOffset, toOffset)` of a partition, oldest first. */
  abortedIn(topic: string, partition: number, fromOffset: number, toOffset: number): AbortedTxn[] {
    const t = this.#tail(topic, partition);
    if (t === null) return [];
    return this.#index.abortedIn(t.hosted.key, fromOffset, toOffset);
  }

  /**
   * How far the partition's log has been read (every batch below it is in the index), or -1
   * when the partition is not hosted here. Asking starts a read when it lags.
   */
  readTo(topic: string, partition: number): number {
    const t = this.#tail(topic, partition);
    if (t === null) return -1;
    if (t.next < t.hosted.log.highWatermark) this.#kick(t);
    return t.next;
  }

  /** Open transactions of a partition: producer id to first offset. */
  openOn(topic: string, partition: number): ReadonlyMap<number, number> {
    const t = this.#tail(topic, partition);
    return t === null ? new Map() : this.#index.openOn(t.hosted.key);
  }

  /** A partition's high watermark (or log) moved: read what is new. */
  notify(key: string): void {
    if (this.#closed) return;
    const slash = key.lastIndexOf("/");
    const t = this.#tail(key.slice(0, slash), Number(key.slice(slash + 1)));
    if (t !== null && t.next < t.hosted.log.highWatermark) this.#kick(t);
  }

  /** Drops aborted ranges below each log start, and partitions no longer hosted. */
  trim(): void {
    for (const [key, t] of this.#tails) {
      const hosted = this.#o.log.get(t.hosted.topic, t.hosted.partition);
      if (hosted !== t.hosted) {
        this.#forget(key, t);
        continue;
      }
      this.#index.trim(key, hosted.log.logStartOffset);
    }
  }

  /** Stops reading. */
  close(): void {
    this.#closed = true;
    for (const t of this.#tails.values()) {
      if (t.retry !== null) this.#o.clock.clearTimer(t.retry);
      this.#wake(t, true);
    }
  }

  #tail(topic: string, partition: number): _Tail | null {
    const hosted = this.#o.log.get(topic, partition);
    if (hosted === undefined) return null;
    let t = this.#tails.get(hosted.key);
    if (t !== undefined && t.hosted !== hosted) {
      // Hosted anew (deleted and re-created, or moved away and back): start over.
      this.#forget(hosted.key, t);
      t = undefined;
    }
    if (t === undefined) {
      t = {
        hosted,
        next: hosted.log.logStartOffset,
        running: false,
        again: false,
        retry: null,
        settlers: [],
      };
      this.#tails.set(hosted.key, t);
    }
    return t;
  }

  #forget(key: string, t: _Tail): void {
    if (t.retry !== null) this.#o.clock.clearTimer(t.retry);
    this.#tails.delete(key);
    this.#index.drop(key);
    this.#wake(t, true);
  }

  /** Resolves the settlers `next` has reached (all of them when the tail ends). */
  #wake(t: _Tail, all = false): void {
    if (t.settlers.length === 0) return;
    const done = t.settlers.filter((s) => all || t.next >= s.until);
    if (done.length === 0) return;
    t.settlers = t.settlers.filter((s) => !done.includes(s));
    for (const s of done) s.resolve();
  }

  #kick(t: _Tail): void {
    if (this.#closed || t.retry !== null) return;
    if (t.running) {
      t.again = true;
      return;
    }
    t.running = true;
    this.#run(t).catch((err) => {
      this.#o.logger.error("transaction index tailer stopped on a partition", {
        partition: t.hosted.key,
        err: err as Error,
      });
    }).finally(() => (t.running = false));
  }

  async #run(t: _Tail): Promise<void> {
    const start = t.next;
    do {
      t.again = false;
      while (!this.#closed && this.#tails.get(t.hosted.key) === t) {
        const log = t.hosted.log;
        if (t.next < log.logStartOffset) t.next = log.logStartOffset;
        if (t.next > log.logEndOffset) this.#restart(t);
        if (t.next >= log.highWatermark) break;
        if (!await this.#step(t)) return this.#retryLater(t);
      }
    } while (t.again && !this.#closed);
    this.#wake(t);
    if (t.next !== start) this.#o.moved(t.hosted.key);
  }

  /** Reads and applies one chunk; false when nothing could be read. */
  async #step(t: _Tail): Promise<boolean> {
    let read;
    try {
      read = await this.#o.log.readCommitted(t.hosted, t.next, this.#readBytesMax);
    } catch (err) {
      this.#o.logger.debug("transaction index cannot read a partition yet", {
        partition: t.hosted.key,
        offset: t.next,
        err: err as Error,
      });
      return false;
    }
    if (read === null || read.nextOffset <= t.next) return false;
    for (const b of read.batches) {
      const h = readBatchHeader(b);
      if (h.lastOffset < t.next) continue;
      if (h.isTransactional) await this.#apply(t.hosted.key, b);
    }
    t.next = read.nextOffset;
    this.#wake(t);
    return true;
  }

  async #apply(key: string, batch: Uint8Array): Promise<void> {
    const h = readBatchHeader(batch);
    if (!h.isControl) {
      this.#index.begin(key, h.producerId, h.baseOffset);
      return;
    }
    // A control record's key is `version:int16 type:int16`: 0 is ABORT, 1 is COMMIT.
    const records = (await decodeRecords(batch)).records;
    const k = records[0]?.key;
    if (k === null || k === undefined || k.length < 4) return;
    const type = new DataView(k.buffer, k.byteOffset, k.byteLength).getInt16(2);
    if (type === 0 || type === 1) this.#index.end(key, h.producerId, h.baseOffset, type === 1);
  }

  /** The log ends below what was read (an unclean truncation): read it again from the start. */
  #restart(t: _Tail): void {
    this.#o.logger.warn("transaction index rereads a partition whose log was truncated", {
      partition: t.hosted.key,
      read: t.next,
      logEndOffset: t.hosted.log.logEndOffset,
    });
    this.#index.drop(t.hosted.key);
    t.next = t.hosted.log.logStartOffset;
  }

  #retryLater(t: _Tail): void {
    if (this.#closed) return;
    t.retry = this.#o.clock.setTimer(this.#retryMs, () => {
      t.retry = null;
      this.#kick(t);
    });
  }
}
