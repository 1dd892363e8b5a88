/**
 * The producer: it buffers messages per partition, seals them into RecordBatch v2 batches,
 * and sends each partition's batches one at a time to the partition's leader.
 *
 * Ordering and exactly-once delivery per partition come from two rules. First, a partition has
 * at most one batch in flight, so batches cannot overtake each other. Second, with
 * `idempotent: true` every batch carries the producer id and the partition's next sequence
 * number, fixed before the first attempt; a retry (after NOT_LEADER_OR_FOLLOWER, a timeout, or
 * a lost connection) resends the very same bytes, and the broker answers a batch it already
 * has with its original offset instead of writing it twice. The sequence only advances when a
 * batch is acknowledged, so a batch that fails for good leaves no gap.
 *
 * Records pile up while a batch is in flight and leave together in the next one, so batches
 * grow with load without any linger; `lingerMs` adds a wait before a partition's first batch.
 *
 * @module
 */

import { createProduceRequest } from "../protocol/kafka/messages/mod.ts";
import type { CompressionCodec } from "../protocol/record/compression.ts";
import {
  buildBatch,
  type RecordHeader,
  type RecordInput,
} from "../protocol/record/record_batch.ts";
import { type AckLevel, ackLevelToWire } from "./ack_level.ts";
import { INIT_PRODUCER_ID, PRODUCE } from "./api_specs.ts";
import type { TimerHandle } from "./clock.ts";
import type { Cluster } from "./cluster.ts";
import {
  BrokerError,
  brokerError,
  BufferFullError,
  ClosedError,
  MessageTooLargeError,
  UnknownTopicError,
} from "./errors.ts";
import { createDefaultPartitioner, type Partitioner } from "./partitioner.ts";
import {
  headerList,
  type MessageHeaders,
  payloadBytes,
  type ProducerMessage,
  type RecordMetadata,
  recordSizeBytes,
} from "./producer_message.ts";
import { _ProducerCounters, type ProducerMetrics } from "./producer_metrics.ts";
import { ErrorCode } from "../protocol/kafka/errors.ts";

/** Options of a {@linkcode Producer}. */
export interface ProducerOptions {
  /** Acknowledgement level (see `ack_level.ts` for the wire encoding). @default {"All"} */
  ackLevel?: AckLevel;
  /** Idempotent delivery with a producer id and sequence numbers (off for "None"). @default {true} */
  idempotent?: boolean;
  /** Most records in one batch. @default {10000} */
  batchSize?: number;
  /** Most record bytes in one batch (before compression). @default {1048576} */
  batchBytes?: number;
  /** Wait this long before sending a partition's first batch, to fill it. @default {0} */
  lingerMs?: number;
  /** Largest record accepted, checked before it is queued. @default {1048576} */
  maxMessageSize?: number;
  /** Batch compression. @default {"none"} */
  compression?: CompressionCodec;
  /** Headers put first on every record. @default {{}} */
  defaultHeaders?: MessageHeaders;
  /** Picks partitions. @default {murmur2 for keys, sticky for null keys} */
  partitioner?: Partitioner;
  /** A record fails once it has waited this long in total, retries included. @default {120000} */
  deliveryTimeoutMs?: number;
  /** Most records buffered or in flight; `send` waits and `sendAsync` throws beyond. @default {100000} */
  bufferRecordsMax?: number;
  /** Most record bytes buffered or in flight. @default {67108864} */
  bufferBytesMax?: number;
  /** Called for each record that `sendAsync` could not deliver. @default {none: see metrics()} */
  onError?: (error: unknown, message: ProducerMessage) => void;
}

interface _Pending {
  record: RecordInput;
  sizeBytes: number;
  resolve: (metadata: RecordMetadata) => void;
  reject: (error: unknown) => void;
}

interface _PartitionQueue {
  topic: string;
  partition: number;
  queue: _Pending[];
  queueBytes: number;
  inFlight: boolean;
  nextSequence: number;
  timer: TimerHandle | null;
  drainQueued: boolean;
}

interface _Identity {
  producerId: number;
  producerEpoch: number;
}

const _SEQUENCE_MODULUS = 2 ** 31;

function _positiveInt(name: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (!Number.isSafeInteger(resolved) || resolved < 0) {
    throw new RangeError(
      `Cannot create the producer as ${name} must be a non-negative integer: current value is ${resolved}`,
    );
  }
  return resolved;
}

/**
 * Sends messages to topics. Create one with `client.producer()`.
 *
 * @example
 * ```ts ignore
 * const producer = client.producer({ ackLevel: "All", compression: "zstd" });
 * const { partition, offset } = await producer.send({ topic: "orders", key: "42", value: "{}" });
 * producer.sendAsync({ topic: "orders", value: "fire and forget" });
 * await producer.close(); // flushes first
 * ```
 */
export class Producer {
  readonly #cluster: Cluster;
  readonly #acks: number;
  readonly #idempotent: boolean;
  readonly #batchSize: number;
  readonly #batchBytes: number;
  readonly #lingerMs: number;
  readonly #maxMessageSize: number;
  readonly #compression: CompressionCodec;
  readonly #defaultHeaders: RecordHeader[];
  readonly #partitioner: Partitioner;
  readonly #deliveryTimeoutMs: number;
  readonly #bufferRecordsMax: number;
  readonly #bufferBytesMax: number;
  readonly #onError: (error: unknown, message: ProducerMessage) => void;
  readonly #queues = new Map<string, _PartitionQueue>();
  readonly #counters = new _ProducerCounters();
  readonly #roomWaiters: (() => void)[] = [];
  readonly #idleWaiters: (() => void)[] = [];
  #identity: Promise<_Identity> | null = null;
  #ordered: Promise<unknown> = Promise.resolve();
  #orderedPending = 0;
  #buffered = 0;
  #bufferedBytes = 0;
  #flushing = 0;
  #closed = false;

  /** Use `client.producer()`; options are validated here. */
  constructor(cluster: Cluster, options: ProducerOptions = {}) {
    this.#cluster = cluster;
    this.#acks = ackLevelToWire(options.ackLevel ?? "All");
    this.#idempotent = (options.idempotent ?? true) && this.#acks !== 0;
    this.#batchSize = Math.max(1, _positiveInt("batchSize", options.batchSize, 10_000));
    this.#batchBytes = Math.max(1, _positiveInt("batchBytes", options.batchBytes, 1 << 20));
    this.#lingerMs = _positiveInt("lingerMs", options.lingerMs, 0);
    this.#maxMessageSize = _positiveInt("maxMessageSize", options.maxMessageSize, 1 << 20);
    this.#compression = options.compression ?? "none";
    this.#defaultHeaders = headerList(options.defaultHeaders);
    this.#partitioner = options.partitioner ??
      createDefaultPartitioner({ stickyRecords: this.#batchSize });
    this.#deliveryTimeoutMs = _positiveInt("deliveryTimeoutMs", options.deliveryTimeoutMs, 120_000);
    this.#bufferRecordsMax = Math.max(
      1,
      _positiveInt("bufferRecordsMax", options.bufferRecordsMax, 100_000),
    );
    this.#bufferBytesMax = Math.max(
      1,
      _positiveInt("bufferBytesMax", options.bufferBytesMax, 64 << 20),
    );
    this.#onError = options.onError ?? (() => {});
  }

  /**
   * Sends one message and resolves once the broker acknowledged it at the producer's ack
   * level. Waits for buffer room first. Rejects with a typed error (`MessageTooLargeError`,
   * `UnknownTopicError`, `BrokerError`, `TimeoutError`, `ClosedError`, ...).
   */
  async send(message: ProducerMessage): Promise<RecordMetadata> {
    if (this.#closed) throw new ClosedError("producer");
    await this.#waitForRoom();
    return await this.#accept(message);
  }

  /**
   * Queues a message and returns at once. Failures go to `onError` and `metrics()`; call
   * `flush()` to wait for delivery. Throws `BufferFullError` when the buffer is full.
   */
  sendAsync(message: ProducerMessage): void {
    if (this.#closed) throw new ClosedError("producer");
    if (this.#isFull()) {
      throw new BufferFullError(
        this.#buffered >= this.#bufferRecordsMax ? "bufferRecordsMax" : "bufferBytesMax",
        this.#buffered >= this.#bufferRecordsMax ? this.#bufferRecordsMax : this.#bufferBytesMax,
      );
    }
    this.#accept(message).catch((error) => this.#onError(error, message));
  }

  /** Sends several messages; resolves to their metadata in the same order. */
  async sendBatch(messages: readonly ProducerMessage[]): Promise<RecordMetadata[]> {
    return await Promise.all(messages.map((m) => this.send(m)));
  }

  /** Sends everything buffered now (ignoring `lingerMs`) and resolves once all of it settled. */
  async flush(): Promise<void> {
    this.#flushing += 1;
    try {
      for (const pq of this.#queues.values()) this.#drain(pq);
      if (this.#buffered > 0) await new Promise<void>((r) => this.#idleWaiters.push(r));
    } finally {
      this.#flushing -= 1;
    }
  }

  /** Flushes, then refuses further messages. The client stays open. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  /** Counters since the producer was created. */
  metrics(): ProducerMetrics {
    return this.#counters.snapshot(this.#buffered);
  }

  #isFull(): boolean {
    return this.#buffered >= this.#bufferRecordsMax || this.#bufferedBytes >= this.#bufferBytesMax;
  }

  async #waitForRoom(): Promise<void> {
    // FIFO: once someone waits, later senders wait behind them, which keeps call order.
    while (this.#isFull() || this.#roomWaiters.length > 0) {
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
      if (!this.#isFull()) return;
    }
  }

  #accept(message: ProducerMessage): Promise<RecordMetadata> {
    let record: RecordInput;
    try {
      record = this.#toRecord(message);
    } catch (error) {
      this.#counters.failedMessages += 1;
      return Promise.reject(error);
    }
    const sizeBytes = recordSizeBytes(record);
    this.#buffered += 1;
    this.#bufferedBytes += sizeBytes;
    return new Promise<RecordMetadata>((resolve, reject) => {
      const pending: _Pending = { record, sizeBytes, resolve, reject };
      let fast: number | null;
      try {
        fast = this.#orderedPending === 0 ? this.#partitionNow(message, record) : null;
      } catch (error) {
        return this.#settle([pending], error);
      }
      if (fast !== null) return this.#enqueue(message.topic, fast, pending);
      // The slow path looks up metadata; a chain keeps messages in call order meanwhile.
      this.#orderedPending += 1;
      this.#ordered = this.#ordered.then(async () => {
        try {
          const partition = await this.#partitionLater(message, record);
          this.#enqueue(message.topic, partition, pending);
        } catch (error) {
          this.#settle([pending], error);
        } finally {
          this.#orderedPending -= 1;
        }
      });
    });
  }

  #toRecord(message: ProducerMessage): RecordInput {
    const headers = [...this.#defaultHeaders, ...headerList(message.headers)];
    const record: RecordInput = {
      key: payloadBytes(message.key),
      value: payloadBytes(message.value),
      headers,
      timestamp: message.timestamp ?? this.#cluster.clock.nowMs(),
    };
    const size = recordSizeBytes(record);
    if (size > this.#maxMessageSize) {
      throw new MessageTooLargeError(ErrorCode.MESSAGE_TOO_LARGE, {
        topic: message.topic,
        sizeBytes: size,
        brokerMessage: `the record is ${size} bytes and maxMessageSize is ${this.#maxMessageSize}`,
      });
    }
    return record;
  }

  #partitionNow(message: ProducerMessage, record: RecordInput): number | null {
    const info = this.#cluster.metadata.topic(message.topic);
    if (info === undefined) return null;
    return this.#choose(message, record, info.partitions.length);
  }

  async #partitionLater(message: ProducerMessage, record: RecordInput): Promise<number> {
    // A topic being created may have no leader yet (LEADER_NOT_AVAILABLE): wait for it. A
    // topic that does not exist fails at once rather than after deliveryTimeoutMs.
    const info = await this.#cluster.retry(() => this.#cluster.topic(message.topic), {
      deadlineMs: this.#cluster.clock.nowMs() + this.#deliveryTimeoutMs,
      retryIf: (error) => !(error instanceof UnknownTopicError),
    });
    return this.#choose(message, record, info.partitions.length);
  }

  #choose(message: ProducerMessage, record: RecordInput, count: number): number {
    if (message.partition === undefined) {
      return this.#partitioner(message.topic, record.key ?? null, count);
    }
    if (
      !Number.isSafeInteger(message.partition) || message.partition < 0 ||
      message.partition >= count
    ) {
      throw brokerError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, {
        topic: message.topic,
        partition: message.partition,
      });
    }
    return message.partition;
  }

  #enqueue(topic: string, partition: number, pending: _Pending): void {
    const key = `${topic}\0${partition}`;
    let pq = this.#queues.get(key);
    if (pq === undefined) {
      pq = {
        topic,
        partition,
        queue: [],
        queueBytes: 0,
        inFlight: false,
        nextSequence: 0,
        timer: null,
        drainQueued: false,
      };
      this.#queues.set(key, pq);
    }
    pq.queue.push(pending);
    pq.queueBytes += pending.sizeBytes;
    this.#schedule(pq);
  }

  #schedule(pq: _PartitionQueue): void {
    if (pq.inFlight || pq.drainQueued) return;
    const full = pq.queue.length >= this.#batchSize || pq.queueBytes >= this.#batchBytes;
    if (full || this.#flushing > 0 || this.#lingerMs === 0) {
      // A microtask lets a synchronous burst of sends join the same batch.
      pq.drainQueued = true;
      queueMicrotask(() => {
        pq.drainQueued = false;
        this.#drain(pq);
      });
      return;
    }
    if (pq.timer !== null) return;
    pq.timer = this.#cluster.clock.setTimer(() => {
      pq.timer = null;
      this.#drain(pq);
    }, this.#lingerMs);
  }

  #drain(pq: _PartitionQueue): void {
    if (pq.inFlight || pq.queue.length === 0) return;
    if (pq.timer !== null) {
      this.#cluster.clock.clearTimer(pq.timer);
      pq.timer = null;
    }
    let count = 0;
    let bytes = 0;
    while (
      count < pq.queue.length && count < this.#batchSize &&
      (count === 0 || bytes + pq.queue[count]!.sizeBytes <= this.#batchBytes)
    ) {
      bytes += pq.queue[count]!.sizeBytes;
      count += 1;
    }
    const batch = pq.queue.splice(0, count);
    pq.queueBytes -= bytes;
    pq.inFlight = true;
    this.#deliver(pq, batch).finally(() => {
      pq.inFlight = false;
      // Records that arrived meanwhile have waited a round trip already: send them now.
      if (pq.queue.length > 0) this.#drain(pq);
    });
  }

  async #deliver(pq: _PartitionQueue, batch: _Pending[]): Promise<void> {
    const deadlineMs = this.#cluster.clock.nowMs() + this.#deliveryTimeoutMs;
    try {
      const identity = this.#idempotent ? await this.#producerIdentity(deadlineMs) : null;
      const bytes = await buildBatch(batch.map((p) => p.record), {
        producerId: identity?.producerId ?? -1,
        producerEpoch: identity?.producerEpoch ?? -1,
        baseSequence: identity === null ? -1 : pq.nextSequence,
        compression: this.#compression,
      });
      const baseOffset = await this.#cluster.retry(() => this.#produceOnce(pq, bytes), {
        deadlineMs,
        onRetry: () => {
          this.#counters.retries += 1;
          this.#cluster.metadata.invalidate(pq.topic);
        },
      });
      if (identity !== null) {
        pq.nextSequence = (pq.nextSequence + batch.length) % _SEQUENCE_MODULUS;
      }
      this.#counters.sentBatches += 1;
      this.#counters.sentMessages += batch.length;
      this.#counters.sentBytes += bytes.length;
      batch.forEach((p, i) =>
        p.resolve({
          topic: pq.topic,
          partition: pq.partition,
          offset: baseOffset < 0 ? -1 : baseOffset + i,
          timestamp: p.record.timestamp,
        })
      );
      this.#release(batch);
    } catch (error) {
      this.#counters.failedBatches += 1;
      this.#settle(batch, error);
    }
  }

  async #produceOnce(pq: _PartitionQueue, bytes: Uint8Array): Promise<number> {
    const conn = await this.#cluster.leaderConnection(pq.topic, pq.partition);
    const req = createProduceRequest();
    req.acks = this.#acks;
    req.timeoutMs = this.#cluster.settings.requestTimeoutMs;
    req.topicData = [{ name: pq.topic, partitionData: [{ index: pq.partition, records: bytes }] }];
    const res = await conn.request(PRODUCE, req, { expectResponse: this.#acks !== 0 });
    if (res === null) return -1;
    const p = res.responses[0]?.partitionResponses[0];
    if (p === undefined) {
      throw new BrokerError(ErrorCode.UNKNOWN_SERVER_ERROR, {
        topic: pq.topic,
        partition: pq.partition,
        brokerMessage: "the response names no partition",
      });
    }
    if (p.errorCode !== ErrorCode.NONE) {
      throw brokerError(p.errorCode, {
        topic: pq.topic,
        partition: pq.partition,
        brokerMessage: p.errorMessage,
        leaderId: p.currentLeader.leaderId,
      });
    }
    return Number(p.baseOffset);
  }

  #producerIdentity(deadlineMs: number): Promise<_Identity> {
    if (this.#identity !== null) return this.#identity;
    const identity = this.#cluster.retry(async () => {
      const conn = await this.#cluster.anyConnection();
      const res = await conn.request(INIT_PRODUCER_ID, {
        transactionalId: null,
        transactionTimeoutMs: 60_000,
        producerId: -1n,
        producerEpoch: -1,
      });
      if (res === null || res.errorCode !== ErrorCode.NONE) {
        throw brokerError(res?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR);
      }
      return { producerId: Number(res.producerId), producerEpoch: res.producerEpoch };
    }, { deadlineMs });
    this.#identity = identity;
    // A failed InitProducerId is asked again by the next batch.
    identity.catch(() => {
      if (this.#identity === identity) this.#identity = null;
    });
    return identity;
  }

  #settle(batch: _Pending[], error: unknown): void {
    this.#counters.failedMessages += batch.length;
    for (const p of batch) p.reject(error);
    this.#release(batch);
  }

  #release(batch: _Pending[]): void {
    for (const p of batch) {
      this.#buffered -= 1;
      this.#bufferedBytes -= p.sizeBytes;
    }
    while (this.#roomWaiters.length > 0 && !this.#isFull()) this.#roomWaiters.shift()!();
    if (this.#buffered === 0) { for (const wake of this.#idleWaiters.splice(0)) wake(); }
  }
}
