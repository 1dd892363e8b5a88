/**
 * The partitions this broker hosts, and the produce and fetch paths through them.
 *
 * Produce: validate the batch (header and CRC only), reserve log-cache space, check the
 * producer's sequence, assign offsets in place, cache the batch, append it to the WAL, and once
 * the WAL says it is durable advance the high watermark and wake parked fetches. Assignment and
 * WAL submission happen in one synchronous step per batch, so each partition's batches enter the
 * WAL in offset order, and the WAL acknowledges in order.
 *
 * Fetch: serve whole batches from the log cache, never past the high watermark.
 *
 * @module
 */

import { readBatchHeader, validateBatch } from "../protocol/record/record_batch.ts";
import { type AssignedOffsets, PartitionLog } from "./log/partition_log.ts";
import { type LogCache, partitionKey } from "./log/log_cache.ts";
import type { Wal } from "./wal/wal.ts";
import type { RecoveredEntry } from "./wal/wal_recovery.ts";
import { ProducerStateTable } from "./produce/producer_state.ts";
import type { FetchWaiter } from "./fetch/fetch_waiter.ts";
import type { StreamRegistry } from "./stream_registry.ts";
import type { ClusterMetadata, TopicMeta } from "./metadata/cluster_metadata.ts";
import type { TopicConfig } from "./metadata/topic_config.ts";
import { KafkaProtocolError } from "./broker_errors.ts";
import type { Logger } from "../ops/logger.ts";
import type { ObjectManifest } from "./tiering/object_manifest.ts";
import type { TieredReader } from "./tiering/tiered_reader.ts";
import type { ObjectRange } from "./tiering/stream_object.ts";
import type { TimestampOffset } from "./log/partition_log.ts";

/** The object-storage half of a partition's log, when tiering is on. */
export interface Tiering {
  readonly manifest: ObjectManifest;
  readonly reader: TieredReader;
  /** Forgets a deleted partition's objects. */
  removePartition(key: string): Promise<void>;
}

/** One hosted partition. */
export interface HostedPartition {
  readonly key: string;
  readonly topic: string;
  readonly partition: number;
  readonly streamId: number;
  readonly log: PartitionLog;
  readonly producers: ProducerStateTable;
  config: Readonly<TopicConfig>;
  /** Resolves when every append submitted so far is durable (or failed). */
  durable: Promise<void>;
}

/** The result of a produce to one partition. */
export interface ProduceResult extends AssignedOffsets {
  readonly logStartOffset: number;
  /** True when the batch was a retry of one already appended. */
  readonly duplicate: boolean;
}

/** The result of a fetch read from one partition. */
export interface FetchRead {
  readonly batches: Uint8Array[];
  readonly sizeBytes: number;
  readonly highWatermark: number;
  readonly logStartOffset: number;
}

/** Options of {@linkcode PartitionManager}. */
export interface PartitionManagerOptions {
  readonly wal: Wal;
  readonly cache: LogCache;
  readonly streams: StreamRegistry;
  readonly metadata: ClusterMetadata;
  readonly waiter: FetchWaiter;
  readonly logger: Logger;
  readonly nowMs: () => number;
  /** Appends are refused (before offsets are assigned) when the WAL uses more than this. */
  readonly walHighWaterBytes: number;
  /** How long an append waits for the WAL to drop below its high-water mark. @default 2000 */
  readonly walFullWaitMs?: number;
  /** Object storage for data that left the log cache. @default none: the cache holds all */
  readonly tiering?: Tiering;
}

/** Hosts partitions and runs produce and fetch against them. */
export class PartitionManager {
  readonly #o: PartitionManagerOptions;
  readonly #partitions = new Map<string, HostedPartition>();
  #fatal: Error | null = null;
  #syncChain: Promise<void> = Promise.resolve();

  constructor(options: PartitionManagerOptions) {
    this.#o = options;
  }

  /** The fatal storage error that stopped appends, if any. */
  get fatalError(): Error | null {
    return this.#fatal;
  }

  /** Every hosted partition. */
  partitions(): IterableIterator<HostedPartition> {
    return this.#partitions.values();
  }

  /** The hosted partition, or undefined. */
  get(topic: string, partition: number): HostedPartition | undefined {
    return this.#partitions.get(partitionKey(topic, partition));
  }

  /**
   * Rebuilds partitions from recovered WAL entries, then hosts every partition the metadata
   * lists. Entries of streams no longer registered (deleted topics) are skipped.
   */
  async recover(entries: readonly RecoveredEntry[]): Promise<void> {
    const byStream = new Map<number, Uint8Array[]>();
    for (const e of entries) {
      let list = byStream.get(e.streamId);
      if (list === undefined) byStream.set(e.streamId, list = []);
      list.push(e.payload);
    }
    await this.syncWithMetadata();
    for (const [streamId, batches] of byStream) {
      const key = this.#o.streams.keyOf(streamId);
      const p = key === undefined ? undefined : this.#partitions.get(key);
      if (p === undefined) {
        this.#o.logger.info("skipping WAL entries of a deleted partition", {
          streamId,
          entries: batches.length,
        });
        continue;
      }
      await this.#recoverPartition(p, batches);
    }
  }

  async #recoverPartition(p: HostedPartition, batches: Uint8Array[]): Promise<void> {
    // WAL space is reclaimed per segment, not per stream prefix, so batches already in object
    // storage may survive with gaps between them (a middle segment reclaimed while an older one
    // is kept for another stream). They are history, not log: only what continues from the
    // stored end is replayed, and that must be gapless.
    const storedEnd = p.log.logEndOffset;
    const applied = p.log.recover(
      batches.filter((b) => readBatchHeader(b).lastOffset >= storedEnd),
    );
    for (const batch of applied) {
      // Not yet uploaded, so the cache must hold it; one that cannot fit fails start-up with
      // StorageFullError rather than being silently unreadable.
      await this.#o.cache.reserve(batch.length);
      this.#o.cache.appendReserved(p.key, batch);
    }
    // Producer state learns from every surviving batch, stored ones included, so a producer
    // retrying across a restart is still recognised.
    for (const batch of batches) {
      const h = readBatchHeader(batch);
      if (h.producerId < 0) continue;
      p.producers.record({
        producerId: h.producerId,
        producerEpoch: h.producerEpoch,
        baseSequence: h.baseSequence,
        lastOffsetDelta: h.lastOffsetDelta,
      }, h.baseOffset);
    }
    this.#o.logger.info("recovered partition", {
      partition: p.key,
      batches: applied.length,
      logEndOffset: p.log.logEndOffset,
    });
  }

  /**
   * Hosts new partitions and drops deleted ones, following the metadata. Calls are serialized:
   * two overlapping syncs would otherwise both host the same new partition, and the second
   * would replace the first after it had already taken appends.
   */
  syncWithMetadata(): Promise<void> {
    const run = this.#syncChain.then(() => this.#sync());
    this.#syncChain = run.catch(() => {});
    return run;
  }

  async #sync(): Promise<void> {
    const wanted = new Set<string>();
    for (const t of this.#o.metadata.topics()) {
      for (const pm of t.partitions) {
        const key = partitionKey(t.name, pm.partition);
        wanted.add(key);
        const existing = this.#partitions.get(key);
        if (existing) {
          existing.config = t.config;
          existing.log.setTimestampType(t.config["message.timestamp.type"]);
          continue;
        }
        await this.#host(t, pm.partition, key);
      }
    }
    for (const key of [...this.#partitions.keys()]) {
      if (wanted.has(key)) continue;
      const p = this.#partitions.get(key)!;
      this.#partitions.delete(key);
      this.#o.cache.drop(key);
      this.#o.wal.checkpoint(p.streamId, BigInt(Number.MAX_SAFE_INTEGER));
      await this.#o.streams.remove(key);
      await this.#o.tiering?.removePartition(key);
      this.#o.waiter.notify(key);
    }
  }

  async #host(t: TopicMeta, partition: number, key: string): Promise<void> {
    const streamId = await this.#o.streams.ensure(key);
    // What object storage already holds: the log continues after it, and the WAL may drop it
    // (checkpoints live in memory, so they are re-established on every start).
    const stored = this.#o.tiering?.manifest.partition(key);
    if (stored !== undefined) this.#o.wal.checkpoint(streamId, BigInt(stored.uploadedEndOffset));
    this.#partitions.set(key, {
      key,
      topic: t.name,
      partition,
      streamId,
      log: new PartitionLog({
        nowMs: this.#o.nowMs,
        timestampType: t.config["message.timestamp.type"],
        logStartOffset: stored?.logStartOffset ?? 0,
        logEndOffset: stored?.uploadedEndOffset ?? 0,
      }),
      producers: new ProducerStateTable(),
      config: t.config,
      durable: Promise.resolve(),
    });
  }

  /**
   * Appends one RecordBatch to a partition; resolves once it is durable in the WAL.
   *
   * @throws {KafkaProtocolError} UNKNOWN_TOPIC_OR_PARTITION, KAFKA_STORAGE_ERROR,
   *   OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH
   * @throws {CorruptRecordError | RecordTooLargeError} for a bad batch
   */
  async produce(topic: string, partition: number, records: Uint8Array): Promise<ProduceResult> {
    const p = this.#hosted(topic, partition);
    const header = validateBatch(records, { maxBytes: p.config["max.message.bytes"] });
    await this.#awaitWalSpace();
    // Own copy: the request frame's buffer must not be pinned by the cache, nor mutated later.
    const batch = records.slice();
    await this.#o.cache.reserve(batch.length);
    try {
      this.#checkWritable();
    } catch (err) {
      this.#o.cache.cancelReservation(batch.length);
      throw err;
    }
    const seq = {
      producerId: header.producerId,
      producerEpoch: header.producerEpoch,
      baseSequence: header.baseSequence,
      lastOffsetDelta: header.lastOffsetDelta,
    };
    const check = p.producers.check(seq);
    if (check.kind !== "append") {
      this.#o.cache.cancelReservation(batch.length);
      if (check.kind === "error") throw new KafkaProtocolError(check.code, check.message);
      // A retry: answer only once the original is durable, which acks promise.
      await p.durable;
      return {
        ..._dup(check.baseOffset, seq.lastOffsetDelta),
        logStartOffset: p.log.logStartOffset,
        duplicate: true,
      };
    }
    const assigned = p.log.assign(batch);
    p.producers.record(seq, assigned.baseOffset);
    this.#o.cache.appendReserved(p.key, batch);
    const appended = this.#o.wal.append(p.streamId, BigInt(assigned.baseOffset), batch);
    p.durable = appended.then(() => {}, () => {});
    try {
      await appended;
    } catch (err) {
      this.#fail(err);
      throw new KafkaProtocolError(
        "KAFKA_STORAGE_ERROR",
        `Cannot append to ${p.key}: ${(err as Error).message}`,
        {
          retriable: true,
          cause: err,
        },
      );
    }
    p.log.advanceHighWatermark(Math.max(p.log.highWatermark, assigned.lastOffset + 1));
    this.#o.waiter.notify(p.key);
    return { ...assigned, logStartOffset: p.log.logStartOffset, duplicate: false };
  }

  /**
   * Reads whole batches from `offset`, at most `maxBytes` (but at least one batch), below the
   * high watermark: from the log cache, or from object storage for older offsets.
   *
   * @throws {KafkaProtocolError} UNKNOWN_TOPIC_OR_PARTITION, OFFSET_OUT_OF_RANGE
   */
  async read(
    topic: string,
    partition: number,
    offset: number,
    maxBytes: number,
  ): Promise<FetchRead> {
    const p = this.#hosted(topic, partition);
    const start = p.log.logStartOffset;
    if (offset < start || offset > p.log.logEndOffset) {
      throw new KafkaProtocolError(
        "OFFSET_OUT_OF_RANGE",
        `Cannot fetch ${p.key} at offset ${offset} as the log spans ${start} to ${p.log.logEndOffset}`,
      );
    }
    const hw = p.log.highWatermark;
    const empty = { batches: [], sizeBytes: 0, highWatermark: hw, logStartOffset: start };
    if (offset >= hw) return empty;
    const hit = this.#o.cache.read(p.key, offset, maxBytes) ??
      await this.#o.tiering?.reader.read(p.key, offset, maxBytes) ?? null;
    if (hit === null) {
      throw new KafkaProtocolError(
        "OFFSET_OUT_OF_RANGE",
        `Cannot fetch ${p.key} at offset ${offset} as no cached or stored batch holds it`,
      );
    }
    const batches: Uint8Array[] = [];
    let sizeBytes = 0;
    for (const b of hit.batches) {
      if (readBatchHeader(b).baseOffset >= hw) break;
      batches.push(b);
      sizeBytes += b.length;
    }
    return { batches, sizeBytes, highWatermark: hw, logStartOffset: p.log.logStartOffset };
  }

  /**
   * The first offset at or after `timestampMs` (ListOffsets by time), looking in object storage
   * first (older data), then in the cache. Null when no record is that new.
   */
  async offsetForTimestamp(
    p: HostedPartition,
    timestampMs: number,
  ): Promise<TimestampOffset | null> {
    const hw = p.log.highWatermark;
    const below = (bs: Iterable<Uint8Array>) =>
      [...bs].filter((b) => readBatchHeader(b).baseOffset < hw);
    for (const { range } of this.#o.tiering?.manifest.ranges(p.key) ?? []) {
      if (range.maxTimestamp < timestampMs) continue;
      const from = Math.max(range.baseOffset, p.log.logStartOffset);
      const read = await this.#o.tiering!.reader.read(p.key, from, range.length);
      const found = read && await p.log.offsetForTimestamp(timestampMs, below(read.batches));
      if (found) return found;
    }
    return await p.log.offsetForTimestamp(timestampMs, below(this.#o.cache.batches(p.key)));
  }

  /** The partition's ranges in object storage, in offset order. */
  storedRanges(p: HostedPartition): ObjectRange[] {
    return (this.#o.tiering?.manifest.ranges(p.key) ?? []).map((r) => r.range);
  }

  /** The partition's cached batches in offset order (for timestamp lookups). */
  cachedBatches(p: HostedPartition): Iterable<Uint8Array> {
    return this.#o.cache.batches(p.key);
  }

  /** The hosted partition, or UNKNOWN_TOPIC_OR_PARTITION. */
  #hosted(topic: string, partition: number): HostedPartition {
    const p = this.#partitions.get(partitionKey(topic, partition));
    if (p === undefined) {
      throw new KafkaProtocolError(
        "UNKNOWN_TOPIC_OR_PARTITION",
        `Partition ${topic}/${partition} is not hosted by this broker`,
        { retriable: true },
      );
    }
    return p;
  }

  /**
   * Waits (bounded by `walFullWaitMs`) while the WAL is above its high-water mark, since an
   * upload in progress usually frees space within moments; then fails with a retriable error.
   */
  async #awaitWalSpace(): Promise<void> {
    const deadline = this.#o.nowMs() + (this.#o.walFullWaitMs ?? 2000);
    while (this.#fatal === null && this.#o.wal.stats.usedBytes > this.#o.walHighWaterBytes) {
      if (this.#o.nowMs() >= deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    this.#checkWritable();
  }

  #checkWritable(): void {
    if (this.#fatal !== null) {
      throw new KafkaProtocolError(
        "KAFKA_STORAGE_ERROR",
        `Cannot append as the WAL failed: ${this.#fatal.message}`,
        {
          retriable: true,
          cause: this.#fatal,
        },
      );
    }
    const used = this.#o.wal.stats.usedBytes;
    if (used > this.#o.walHighWaterBytes) {
      throw new KafkaProtocolError(
        "KAFKA_STORAGE_ERROR",
        `Cannot append as the WAL is nearly full: ${used} bytes used of ${this.#o.walHighWaterBytes} allowed`,
        { retriable: true },
      );
    }
  }

  /**
   * A WAL append failed after offsets were assigned. The partition now has a hole that later
   * appends must not paper over, so the broker stops taking appends: nothing acknowledged is
   * lost, and a restart recovers the WAL's durable prefix.
   */
  #fail(err: unknown): void {
    if (this.#fatal !== null) return;
    this.#fatal = err instanceof Error ? err : new Error(String(err));
    this.#o.logger.error(
      "WAL append failed after offsets were assigned; refusing further appends",
      {
        err: this.#fatal,
      },
    );
  }
}

function _dup(baseOffset: number, lastOffsetDelta: number): AssignedOffsets {
  return { baseOffset, lastOffset: baseOffset + lastOffsetDelta, logAppendTimeMs: -1 };
}
