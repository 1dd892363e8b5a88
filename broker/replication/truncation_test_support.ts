/**
 * Test helpers for replication: an in-memory reference model of a partition's log with the
 * truncation operations the broker must implement ({@linkcode MemoryReplicaLog}), a fake leader
 * broker that answers OffsetForLeaderEpoch, ListOffsets and Fetch frames from such a log
 * ({@linkcode FakeLeader}), a fake {@linkcode Transport} over it, and a manual clock.
 *
 * `MemoryReplicaLog` is also the executable specification of `PartitionLog.truncateTo`,
 * `LogCache.truncateTo` and the follower append path: the lead's implementation should pass
 * the same assertions.
 *
 * @module
 */

import { buildBatch, readBatchHeader } from "../../protocol/record/record_batch.ts";
import type { RequestOptions, Transport } from "../../protocol/transport/transport.ts";
import { ConnectionError } from "../../protocol/transport/errors.ts";
import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import {
  decodeRequestHeader,
  encodeResponseHeader,
  type RequestHeader,
} from "../../protocol/kafka/header.ts";
import { Reader, Writer } from "../../protocol/kafka/wire.ts";
import {
  createFetchResponse,
  decodeFetchRequest,
  decodeListOffsetsRequest,
  decodeOffsetForLeaderEpochRequest,
  encodeFetchResponse,
  encodeListOffsetsResponse,
  encodeOffsetForLeaderEpochResponse,
  type FetchRequest,
  type FetchResponsePartitionData,
  type ListOffsetsRequest,
  type ListOffsetsResponse,
  type OffsetForLeaderEpochRequest,
} from "../../protocol/kafka/messages/mod.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import { assignEpochsFromBatches, LeaderEpochCache } from "./leader_epoch_cache.ts";
import { answerOffsetForLeaderEpoch } from "./leader_epoch_lookup.ts";
import { validateReplicaFetch } from "./replica_fetch_validation.ts";
import type { FollowerSink } from "./replica_fetcher.ts";
import type { Clock, TimerHandle } from "../../ops/clock.ts";
import type { FollowerLogView } from "./follower_state.ts";

/** Builds a batch of `count` null-valued records at `baseOffset` written in `epoch`. */
export function batchAt(baseOffset: number, count: number, epoch: number): Promise<Uint8Array> {
  const records = Array.from({ length: count }, (_, i) => ({ value: null, timestamp: i }));
  return buildBatch(records, { baseOffset, partitionLeaderEpoch: epoch });
}

/**
 * A partition's log in memory: batches, offsets, HW and epoch cache, with the operations
 * replication needs. Reference semantics (Kafka's):
 * - `appendAssigned`: a batch must start at the LEO; its epoch enters the epoch cache.
 * - `truncateTo(o)`: drop every batch whose last offset is >= o (so the LEO may end below o
 *   when o falls inside a batch); HW = min(HW, LEO); epoch cache truncated from the new LEO;
 *   below the log start it becomes `resetTo(o)`.
 * - `resetTo(o)`: no batches; log start = LEO = HW = o; epoch cache cleared.
 */
export class MemoryReplicaLog implements FollowerLogView {
  readonly epochs = new LeaderEpochCache();
  batches: Uint8Array[] = [];
  logStartOffset = 0;
  logEndOffset = 0;
  highWatermark = 0;

  /** Appends batches whose offsets are already assigned. */
  appendAssigned(batches: readonly Uint8Array[]): void {
    for (const b of batches) {
      const h = readBatchHeader(b);
      if (h.baseOffset !== this.logEndOffset) {
        throw new Error(`gap: batch at ${h.baseOffset}, LEO ${this.logEndOffset}`);
      }
      this.batches.push(b);
      this.logEndOffset = h.lastOffset + 1;
    }
    assignEpochsFromBatches(this.epochs, batches);
  }

  /** Leader-side append: stamps offsets and `epoch` like PartitionLog.assign. */
  async appendAsLeader(count: number, epoch: number): Promise<void> {
    if (this.epochs.latestEpoch !== epoch) this.epochs.assign(epoch, this.logEndOffset);
    this.appendAssigned([await batchAt(this.logEndOffset, count, epoch)]);
  }

  /** See the class comment. */
  truncateTo(offset: number): void {
    if (offset < this.logStartOffset) return this.resetTo(offset);
    this.batches = this.batches.filter((b) => readBatchHeader(b).lastOffset < offset);
    const last = this.batches.at(-1);
    this.logEndOffset = last === undefined
      ? this.logStartOffset
      : readBatchHeader(last).lastOffset + 1;
    this.highWatermark = Math.min(this.highWatermark, this.logEndOffset);
    this.epochs.truncateFromEnd(this.logEndOffset);
  }

  /** See the class comment. */
  resetTo(offset: number): void {
    this.batches = [];
    this.logStartOffset = this.logEndOffset = this.highWatermark = offset;
    this.epochs.clear();
  }

  /** The follower's HW follows the leader's, bounded by its own LEO, never moving back. */
  adoptLeaderHighWatermark(leaderHw: number): void {
    this.highWatermark = Math.max(this.highWatermark, Math.min(leaderHw, this.logEndOffset));
  }

  /** Batches from `offset` (the first may start below it), at most `maxBytes` but one. */
  read(offset: number, maxBytes: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let size = 0;
    for (const b of this.batches) {
      if (readBatchHeader(b).lastOffset < offset) continue;
      if (out.length > 0 && size + b.length > maxBytes) break;
      out.push(b);
      size += b.length;
    }
    return out;
  }

  /** (epoch, offset range) of every batch, for assertions. */
  describe(): string[] {
    return this.batches.map((b) => {
      const h = readBatchHeader(b);
      return `e${h.partitionLeaderEpoch}:${h.baseOffset}-${h.lastOffset}`;
    });
  }
}

/** A {@linkcode FollowerSink} over named {@linkcode MemoryReplicaLog}s, recording calls. */
export class MemorySink implements FollowerSink {
  readonly logs = new Map<string, MemoryReplicaLog>();
  readonly calls: string[] = [];
  readonly refreshes: string[] = [];
  /** When set, the next sink call throws it (once). */
  failNext: Error | null = null;

  log(topic: string, partition: number): MemoryReplicaLog {
    const key = `${topic}/${partition}`;
    let log = this.logs.get(key);
    if (log === undefined) this.logs.set(key, log = new MemoryReplicaLog());
    return log;
  }
  view(topic: string, partition: number): FollowerLogView | undefined {
    return this.logs.get(`${topic}/${partition}`);
  }
  appendAsFollower(
    topic: string,
    partition: number,
    batches: readonly Uint8Array[],
    leaderHighWatermark: number,
  ): Promise<void> {
    this.#maybeFail();
    this.calls.push(`append ${topic}/${partition} ${batches.length}`);
    const log = this.log(topic, partition);
    log.appendAssigned(batches);
    log.adoptLeaderHighWatermark(leaderHighWatermark);
    return Promise.resolve();
  }
  truncateTo(topic: string, partition: number, offset: number): Promise<void> {
    this.#maybeFail();
    this.calls.push(`truncate ${topic}/${partition} ${offset}`);
    this.log(topic, partition).truncateTo(offset);
    return Promise.resolve();
  }
  resetTo(topic: string, partition: number, offset: number): Promise<void> {
    this.#maybeFail();
    this.calls.push(`reset ${topic}/${partition} ${offset}`);
    this.log(topic, partition).resetTo(offset);
    return Promise.resolve();
  }
  skipTo(topic: string, partition: number, offset: number, epoch: number): Promise<void> {
    this.#maybeFail();
    this.calls.push(`skip ${topic}/${partition} ${offset} e${epoch}`);
    const log = this.log(topic, partition);
    log.batches = [];
    log.logEndOffset = log.highWatermark = offset;
    if (epoch >= 0 && log.epochs.latestEpoch !== epoch) log.epochs.assign(epoch, offset);
    return Promise.resolve();
  }
  requestMetadataRefresh(reason: string): void {
    this.refreshes.push(reason);
  }
  #maybeFail(): void {
    const err = this.failNext;
    this.failNext = null;
    if (err !== null) throw err;
  }
}

/** A clock whose timers fire at once and advance time; records every delay (the fetcher's sleeps). */
export class ManualFetcherClock implements Clock {
  now = 0;
  readonly sleeps: number[] = [];
  #next = 1;
  nowMs(): number {
    return this.now;
  }
  monotonicMs(): number {
    return this.now;
  }
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    this.sleeps.push(delayMs);
    this.now += delayMs;
    queueMicrotask(fn);
    return this.#next++;
  }
  clearTimer(_handle: TimerHandle): void {}
}

/** A leader broker in memory: answers replication requests from its partitions' logs. */
export class FakeLeader {
  readonly logs = new Map<string, MemoryReplicaLog>();
  /** Leader epoch per partition key. */
  readonly epochs = new Map<string, number>();
  /** Fetch offsets each replica reported, in order ("topic/p@offset"). */
  readonly fetches: string[] = [];
  /** Requests seen, by API name, with their partition counts. */
  readonly requests: string[] = [];
  /** Per-partition error to answer Fetch with (then cleared). */
  readonly fetchErrors = new Map<string, number>();
  /** Answer Fetch v12 divergingEpoch like Kafka (KIP-595). @default false */
  divergingEpochs = false;
  /**
   * Per partition, the end of what is in object storage: a replica fetching below it is told
   * to skip there (snapshotId), as the broker does.
   */
  readonly storedEnd = new Map<string, number>();

  /** Hosts a partition led at `epoch`. */
  lead(topic: string, partition: number, epoch: number): MemoryReplicaLog {
    const log = new MemoryReplicaLog();
    this.logs.set(`${topic}/${partition}`, log);
    this.epochs.set(`${topic}/${partition}`, epoch);
    return log;
  }

  /** Answers one request frame. */
  handle(frame: Uint8Array): Uint8Array {
    const r = new Reader(frame);
    const header = decodeRequestHeader(r);
    const w = new Writer();
    encodeResponseHeader(w, header.apiKey, header.apiVersion, header.correlationId);
    if (header.apiKey === ApiKey.OffsetForLeaderEpoch) {
      this.#offsetForLeaderEpoch(
        w,
        header,
        decodeOffsetForLeaderEpochRequest(r, header.apiVersion),
      );
    } else if (header.apiKey === ApiKey.ListOffsets) {
      this.#listOffsets(w, header, decodeListOffsetsRequest(r, header.apiVersion));
    } else if (header.apiKey === ApiKey.Fetch) {
      this.#fetch(w, header, decodeFetchRequest(r, header.apiVersion));
    } else {
      throw new Error(`unexpected API ${header.apiKey}`);
    }
    return w.finish();
  }

  #offsetForLeaderEpoch(w: Writer, h: RequestHeader, req: OffsetForLeaderEpochRequest): void {
    this.requests.push(`OffsetForLeaderEpoch ${_count(req.topics)}`);
    const topics = req.topics.map((t) => ({
      topic: t.topic,
      partitions: t.partitions.map((p) => {
        const key = `${t.topic}/${p.partition}`;
        const log = this.logs.get(key);
        const found = log === undefined ? undefined : {
          leaderEpochCache: log.epochs,
          logEndOffset: log.logEndOffset,
          currentLeaderEpoch: this.epochs.get(key)!,
        };
        return answerOffsetForLeaderEpoch(found, p);
      }),
    }));
    encodeOffsetForLeaderEpochResponse(w, { throttleTimeMs: 0, topics }, h.apiVersion);
  }

  #listOffsets(w: Writer, h: RequestHeader, req: ListOffsetsRequest): void {
    this.requests.push(`ListOffsets ${req.topics.reduce((n, t) => n + t.partitions.length, 0)}`);
    const res: ListOffsetsResponse = {
      throttleTimeMs: 0,
      topics: req.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => {
          const log = this.logs.get(`${t.name}/${p.partitionIndex}`);
          const offset = log === undefined
            ? -1
            : p.timestamp === -2n
            ? log.logStartOffset
            : log.logEndOffset;
          return {
            partitionIndex: p.partitionIndex,
            errorCode: log === undefined ? ErrorCode.NOT_LEADER_OR_FOLLOWER : ErrorCode.NONE,
            oldStyleOffsets: [],
            timestamp: -1n,
            offset: BigInt(offset),
            leaderEpoch: -1,
          };
        }),
      })),
    };
    encodeListOffsetsResponse(w, res, h.apiVersion);
  }

  #fetch(w: Writer, h: RequestHeader, req: FetchRequest): void {
    this.requests.push(`Fetch ${_count(req.topics)} replica=${req.replicaId}`);
    const res = createFetchResponse();
    for (const t of req.topics) {
      const partitions = t.partitions.map((p) =>
        this.#fetchPartition(`${t.topic}/${p.partition}`, p)
      );
      res.responses.push({ topic: t.topic, topicId: t.topicId, partitions });
    }
    encodeFetchResponse(w, res, h.apiVersion);
  }

  #fetchPartition(
    key: string,
    p: FetchRequest["topics"][number]["partitions"][number],
  ): FetchResponsePartitionData {
    const data = _emptyPartition(p.partition);
    const log = this.logs.get(key);
    const offset = Number(p.fetchOffset);
    const injected = this.fetchErrors.get(key);
    this.fetchErrors.delete(key);
    if (log === undefined) data.errorCode = ErrorCode.NOT_LEADER_OR_FOLLOWER;
    else if (injected !== undefined) data.errorCode = injected;
    if (log === undefined || data.errorCode !== ErrorCode.NONE) return data;
    const verdict = validateReplicaFetch({
      currentLeaderEpoch: p.currentLeaderEpoch,
      fetchOffset: offset,
      // Only leaders that implement KIP-595 look at lastFetchedEpoch.
      lastFetchedEpoch: this.divergingEpochs ? p.lastFetchedEpoch : -1,
    }, {
      leaderEpoch: this.epochs.get(key)!,
      epochs: log.epochs,
      logStartOffset: log.logStartOffset,
      logEndOffset: log.logEndOffset,
    });
    if (verdict.kind === "error") {
      data.errorCode = ErrorCode[verdict.code];
      return data;
    }
    this.fetches.push(`${key}@${offset}`);
    data.highWatermark = BigInt(log.highWatermark);
    data.logStartOffset = BigInt(log.logStartOffset);
    if (verdict.kind === "diverging") {
      data.divergingEpoch = { epoch: verdict.epoch, endOffset: BigInt(verdict.endOffset) };
      return data;
    }
    const stored = this.storedEnd.get(key) ?? -1;
    if (offset < stored) {
      data.snapshotId = { endOffset: BigInt(stored), epoch: log.epochs.epochForOffset(stored - 1) };
      return data;
    }
    // A replica fetch reads up to the LEO, not the HW: the HW waits for followers.
    const batches = log.read(offset, p.partitionMaxBytes);
    const size = batches.reduce((n, b) => n + b.length, 0);
    const records = new Uint8Array(size);
    let at = 0;
    for (const b of batches) {
      records.set(b, at);
      at += b.length;
    }
    data.records = records;
    return data;
  }
}

/** A {@linkcode Transport} that hands frames to a {@linkcode FakeLeader}. */
export class FakeTransport implements Transport {
  readonly protocol = "tcp" as const;
  readonly closed: Promise<void>;
  #close!: () => void;
  #isClosed = false;
  /** Fails the next N requests with a connection error. */
  failRequests = 0;

  constructor(readonly leader: FakeLeader) {
    this.closed = new Promise((resolve) => this.#close = resolve);
  }
  request(frame: Uint8Array, _options: RequestOptions): Promise<Uint8Array | null> {
    if (this.#isClosed) return Promise.reject(new ConnectionError("CONNECTION_CLOSED", "closed"));
    if (this.failRequests > 0) {
      this.failRequests--;
      return Promise.reject(new ConnectionError("CONNECTION_CLOSED", "connection reset"));
    }
    return Promise.resolve(this.leader.handle(frame));
  }
  close(): void {
    this.#isClosed = true;
    this.#close();
  }
}

function _count(topics: readonly { partitions: readonly unknown[] }[]): number {
  return topics.reduce((n, t) => n + t.partitions.length, 0);
}

function _emptyPartition(index: number): FetchResponsePartitionData {
  return {
    partitionIndex: index,
    errorCode: ErrorCode.NONE,
    highWatermark: -1n,
    lastStableOffset: -1n,
    logStartOffset: -1n,
    divergingEpoch: { epoch: -1, endOffset: -1n },
    currentLeader: { leaderId: -1, leaderEpoch: -1 },
    snapshotId: { endOffset: -1n, epoch: -1 },
    abortedTransactions: [],
    preferredReadReplica: -1,
    records: null,
  };
}
