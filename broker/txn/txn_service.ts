/**
 * The broker's transaction coordinator service: the driver around the sans-IO
 * {@linkcode TxnCoordinator} and {@linkcode TxnIndex}. It allocates producer ids, makes every
 * transition durable in the internal compacted topic `__transaction_state` before applying it,
 * writes the COMMIT/ABORT markers (control batches) to every partition of a transaction, applies
 * the transaction's consumer offsets on commit, aborts transactions that time out, and rebuilds
 * all of it from the topic at start-up.
 *
 * One service lives as long as its broker; handlers reach it as `ctx.broker.txns`.
 *
 * Scope: one broker. The coordinator writes markers through this broker's partition manager
 * and keeps every partition's last stable offset and aborted ranges itself, so a partition led
 * by another broker (now, or after a failover) could not be served correctly to read_committed
 * consumers. A broker that sees other brokers in the metadata therefore refuses transactions
 * with a non-retriable error and says why ({@linkcode TxnService.unavailableReason}), rather
 * than serve them with a guarantee it cannot keep. Lifting this needs WriteTxnMarkers and a
 * per-partition index on each leader and its followers.
 *
 * @module
 */

import { type Clock, systemClock, type TimerHandle } from "../../ops/clock.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import { buildBatch, decodeRecords } from "../../protocol/record/record_batch.ts";
import type { ClusterMetadata, TopicMeta } from "../../model/cluster_metadata.ts";
import type { PartitionManager } from "../partition_manager.ts";
import type { Logger } from "../../ops/logger.ts";
import type { FetchWaiter } from "../fetch/fetch_waiter.ts";
import { partitionKey } from "../log/log_cache.ts";
import { kafkaErrorCode } from "../broker_errors.ts";
import { offsetsPartitionFor } from "../group/offset_record.ts";
import type { GroupService } from "../group/group_service.ts";
import type { CoordinatorLocation } from "../group/group_service.ts";
import {
  TxnCoordinator,
  type TxnDecision,
  type TxnMetadata,
  type TxnOffset,
  type TxnProducer,
} from "./txn_coordinator.ts";
import { type AbortedTxn, TxnIndex } from "./txn_index.ts";
import {
  decodeAbortedValue,
  decodeTxnKey,
  decodeTxnValue,
  encodeAbortedKey,
  encodeAbortedValue,
  encodeTxnKey,
  encodeTxnValue,
} from "./txn_record.ts";

/** The internal topic that holds transaction state. */
export const TXN_STATE_TOPIC = "__transaction_state";

/** Tunables, with Kafka's names. */
export interface TxnServiceOptions {
  /** `transaction.state.log.num.partitions`. @default 50 */
  readonly stateTopicPartitions?: number;
  /** `transaction.max.timeout.ms`. @default 900000 */
  readonly timeoutMaxMs?: number;
  /** `transaction.abort.timed.out.transaction.cleanup.interval.ms`. @default 10000 */
  readonly abortCheckIntervalMs?: number;
  /** `transactional.id.expiration.ms`: idle ids are forgotten after this. @default 604800000 */
  readonly transactionalIdExpirationMs?: number;
  /** Bytes read per step when loading the internal topic. @default 1048576 */
  readonly loadReadBytesMax?: number;
}

/** What the service needs from its broker. */
export interface TxnServiceDeps {
  readonly nodeId: number;
  readonly metadata: ClusterMetadata;
  readonly partitions: PartitionManager;
  readonly groups: GroupService;
  readonly logger: Logger;
  readonly replicationFactor: number;
  /** Woken when a marker moves a partition's last stable offset, so parked read_committed fetches see it. */
  readonly waiter?: FetchWaiter;
  /** @default real time */
  readonly clock?: Clock;
}

/** The answer to InitProducerId. */
export type InitResult =
  | { readonly errorCode: number }
  | { readonly errorCode: 0; readonly producerId: number; readonly producerEpoch: number };

/** A partition named in AddPartitionsToTxn. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

const _CONTROL_ABORT = 0;
const _CONTROL_COMMIT = 1;

/** The transaction coordinator of one broker. */
export class TxnService {
  readonly coordinator: TxnCoordinator;
  readonly index = new TxnIndex();
  readonly #deps: TxnServiceDeps;
  readonly #clock: Clock;
  readonly #checkIntervalMs: number;
  readonly #expirationMs: number;
  readonly #topicPartitions: number;
  #timer: TimerHandle | null = null;
  #topicCreation: Promise<TopicMeta> | null = null;
  #closed = false;
  /** The latest record of each id seen while loading. */
  readonly #loaded = new Map<string, TxnMetadata>();
  /** Completions (markers, then CompleteCommit/Abort) in progress, by transactional id. */
  readonly #finishing = new Map<string, Promise<boolean>>();

  private constructor(deps: TxnServiceDeps, options: TxnServiceOptions, partitions: number) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#checkIntervalMs = _int("abortCheckIntervalMs", options.abortCheckIntervalMs, 10_000);
    this.#expirationMs = _int(
      "transactionalIdExpirationMs",
      options.transactionalIdExpirationMs,
      7 * 24 * 3600 * 1000,
    );
    this.#topicPartitions = partitions;
    this.coordinator = new TxnCoordinator({
      clock: this.#clock,
      timeoutMaxMs: options.timeoutMaxMs,
    });
  }

  /**
   * Starts the service: loads `__transaction_state` (if it exists), finishes transactions
   * that were between PrepareCommit/PrepareAbort and their markers, and arms the timeout check.
   * Call after the partition manager has recovered and the group service has started.
   */
  static async start(deps: TxnServiceDeps, options: TxnServiceOptions = {}): Promise<TxnService> {
    const configured = _int("stateTopicPartitions", options.stateTopicPartitions, 50);
    const existing = deps.metadata.topic(TXN_STATE_TOPIC);
    const svc = new TxnService(deps, options, existing?.partitions.length ?? configured);
    const readBytesMax = _int("loadReadBytesMax", options.loadReadBytesMax, 1 << 20);
    if (existing !== undefined) {
      for (let p = 0; p < existing.partitions.length; p++) {
        await svc.#loadPartition(p, readBytesMax);
      }
      await svc.#resume();
    }
    svc.#arm();
    return svc;
  }

  /** The `__transaction_state` partition of a transactional id (Kafka's hash). */
  partitionFor(transactionalId: string): number {
    return offsetsPartitionFor(transactionalId, this.#topicPartitions);
  }

  /** Why transactions cannot be served here now, or null when they can. */
  unavailableReason(): string | null {
    const n = this.#deps.metadata.brokers().length;
    if (n <= 1) return null;
    return `transactions are served by single-broker clusters only for now, and this cluster ` +
      `has ${n} brokers (the last stable offset is kept on the coordinator's broker)`;
  }

  /** Whether this broker coordinates `transactionalId`. */
  isCoordinatorFor(transactionalId: string): boolean {
    if (this.#closed) return false;
    const t = this.#deps.metadata.topic(TXN_STATE_TOPIC);
    if (t === undefined) return true;
    return t.partitions[this.partitionFor(transactionalId)]?.leader === this.#deps.nodeId;
  }

  /** The broker that coordinates `transactionalId`, creating the internal topic on first use. */
  async locate(transactionalId: string): Promise<CoordinatorLocation | number> {
    if (this.#closed) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    let topic: TopicMeta;
    try {
      topic = await this.#ensureTopic();
    } catch (err) {
      this.#deps.logger.warn("cannot create the transaction state topic", { err: err as Error });
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
    const leader = topic.partitions[this.partitionFor(transactionalId)]?.leader ?? -1;
    const b = this.#deps.metadata.brokers().find((x) => x.nodeId === leader);
    if (b === undefined) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    return { nodeId: b.nodeId, host: b.host, port: b.port };
  }

  /**
   * Loads one `__transaction_state` partition when this broker becomes its leader (a
   * failover), then finishes the transactions it left between Prepare and Complete.
   */
  async reloadPartition(partition: number, readBytesMax = 1 << 20): Promise<void> {
    await this.#loadPartition(partition, readBytesMax);
    await this.#resume();
  }

  /** InitProducerId for a transactional producer. */
  async initProducerId(transactionalId: string, timeoutMs: number): Promise<InitResult> {
    const c = this.coordinator;
    const cur = c.get(transactionalId);
    // A fresh id is needed for a new transactional id; allocating one for nothing otherwise
    // would only waste the id space.
    let fresh = -1;
    if (cur === undefined || cur.producerEpoch >= 32767) {
      try {
        fresh = Number(await this.#deps.metadata.allocateProducerId());
      } catch (err) {
        return { errorCode: kafkaErrorCode(err) };
      }
    }
    const d = c.initProducerId(transactionalId, timeoutMs, fresh);
    if (d.kind === "error" && d.code === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS) {
      // Retriable for the client; the operator is told why it keeps failing.
      this.#deps.logger.warn(
        "Cannot register a transactional id as the coordinator tracks its maximum " +
          "(transactional ids are not expired yet)",
        { transactionalId, tracked: c.list().length },
      );
    }
    if (d.kind === "error") return { errorCode: d.code };
    if (d.kind === "unchanged") return _init(d.current);
    const err = await this.#persist(d.next);
    if (err !== ErrorCode.NONE) return { errorCode: err };
    if (d.next.state === "PrepareAbort") {
      // The previous instance's open transaction is aborted first; the client retries.
      await this.#finish(d.next);
      return { errorCode: ErrorCode.CONCURRENT_TRANSACTIONS };
    }
    return _init(d.next);
  }

  /**
   * AddPartitionsToTxn: per partition, NONE or the reason it cannot join. Every partition must
   * be led here (see the module note); the log end offset each has now is where the
   * transaction's data in it begins.
   */
  async addPartitions(p: TxnProducer, wanted: readonly TopicPartition[]): Promise<number[]> {
    const codes = wanted.map((tp) => this.#joinable(tp));
    if (codes.some((c) => c !== ErrorCode.NONE)) {
      // Kafka answers the others with OPERATION_NOT_ATTEMPTED so the client retries them alone.
      return codes.map((c) => c === ErrorCode.NONE ? ErrorCode.OPERATION_NOT_ATTEMPTED : c);
    }
    const parts = wanted.map((tp) => ({
      ...tp,
      firstOffset: this.#deps.partitions.get(tp.topic, tp.partition)!.log.logEndOffset,
    }));
    const d = this.coordinator.addPartitions(p, parts);
    const code = await this.#apply(d);
    if (code === ErrorCode.NONE && d.kind === "transition") this.#openOnPartitions(d.next);
    return wanted.map(() => code);
  }

  /** AddOffsetsToTxn. */
  addOffsets(p: TxnProducer, groupId: string): Promise<number> {
    return this.#apply(this.coordinator.addOffsets(p, groupId));
  }

  /** TxnOffsetCommit: the offsets are committed with the transaction, or dropped on abort. */
  commitOffsets(p: TxnProducer, groupId: string, offsets: readonly TxnOffset[]): Promise<number> {
    return this.#apply(this.coordinator.commitOffsets(p, groupId, offsets));
  }

  /**
   * EndTxn: PrepareCommit or PrepareAbort is made durable (from then on the outcome is
   * decided), then the markers are written and the transaction completes. A marker that
   * cannot be written now is retried on every timeout check.
   */
  async endTxn(p: TxnProducer, commit: boolean): Promise<number> {
    const d = this.coordinator.endTxn(p, commit);
    const code = await this.#apply(d);
    if (code === ErrorCode.NONE && d.kind === "transition") await this.#finish(d.next);
    return code;
  }

  /** Aborts timed-out transactions and retries unfinished markers; returns how many it aborted. */
  async abortExpired(): Promise<number> {
    const due = this.coordinator.expired();
    for (const next of due) {
      this.#deps.logger.info("aborting a transaction that timed out", {
        transactionalId: next.transactionalId,
        timeoutMs: next.timeoutMs,
      });
      if (await this.#persist(next) === ErrorCode.NONE) await this.#finish(next);
    }
    await this.#resume();
    await this.#expireIds();
    // Aborted ranges below a partition's log start (DeleteRecords, retention) are never
    // fetched again.
    for (const p of this.#deps.partitions.partitions()) {
      this.index.trim(p.key, p.log.logStartOffset);
    }
    return due.length;
  }

  /**
   * Whether an unfinished transaction (Ongoing or PrepareCommit) holds an offset of `groupId`
   * for the partition: OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT then.
   */
  hasPendingOffset(groupId: string, topic: string, partition: number): boolean {
    for (const m of this.coordinator.list()) {
      if (m.state !== "Ongoing" && m.state !== "PrepareCommit") continue;
      if (
        m.offsets.some((o) =>
          o.groupId === groupId && o.topic === topic && o.partition === partition
        )
      ) {
        return true;
      }
    }
    return false;
  }

  /** Tombstones transactional ids idle longer than `transactional.id.expiration.ms`. */
  async #expireIds(): Promise<void> {
    const c = this.coordinator;
    for (const id of c.idle(this.#expirationMs)) {
      if (!this.isCoordinatorFor(id)) {
        c.abandon(id);
        continue;
      }
      try {
        await this.#append(id, [{ key: encodeTxnKey(id), value: null }]);
        c.forget(id);
        this.#deps.logger.info("expired an idle transactional id", { transactionalId: id });
      } catch (err) {
        c.abandon(id);
        this.#deps.logger.warn("cannot expire a transactional id", {
          transactionalId: id,
          err: err as Error,
        });
      }
    }
  }

  /** The last stable offset of a partition, given its high watermark. */
  lastStableOffset(topic: string, partition: number, highWatermark: number): number {
    return this.index.lastStableOffset(partitionKey(topic, partition), highWatermark);
  }

  /** Aborted transactions overlapping `[fromOffset, toOffset)` of a partition. */
  abortedIn(topic: string, partition: number, fromOffset: number, toOffset: number): AbortedTxn[] {
    return this.index.abortedIn(partitionKey(topic, partition), fromOffset, toOffset);
  }

  /** Stops the timeout check. In-flight transitions finish on their own. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    this.#timer = null;
  }

  #joinable(tp: TopicPartition): number {
    if (tp.topic === TXN_STATE_TOPIC || this.unavailableReason() !== null) {
      return ErrorCode.INVALID_TXN_STATE;
    }
    const hosted = this.#deps.partitions.get(tp.topic, tp.partition);
    if (hosted === undefined) {
      return this.#deps.metadata.topic(tp.topic) === undefined
        ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        : ErrorCode.INVALID_TXN_STATE;
    }
    if (hosted.role !== "leader") {
      this.#deps.logger.warn(
        "cannot add a partition to a transaction as another broker leads it: transactions " +
          "need every partition led by the coordinator's broker",
        { topic: tp.topic, partition: tp.partition, leader: hosted.leaderId },
      );
      return ErrorCode.INVALID_TXN_STATE;
    }
    return ErrorCode.NONE;
  }

  #openOnPartitions(m: TxnMetadata): void {
    for (const tp of m.partitions) {
      this.index.begin(partitionKey(tp.topic, tp.partition), m.producerId, tp.firstOffset);
    }
  }

  async #apply(d: TxnDecision): Promise<number> {
    if (d.kind === "error") return d.code;
    if (d.kind === "unchanged") return ErrorCode.NONE;
    return await this.#persist(d.next);
  }

  /** Writes the transition to `__transaction_state`, then applies it (or abandons it). */
  async #persist(next: TxnMetadata): Promise<number> {
    try {
      await this.#append(next.transactionalId, [{
        key: encodeTxnKey(next.transactionalId),
        value: encodeTxnValue(next),
      }]);
    } catch (err) {
      this.coordinator.abandon(next.transactionalId);
      this.#deps.logger.warn("cannot write transaction state", {
        transactionalId: next.transactionalId,
        err: err as Error,
      });
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
    this.coordinator.complete(next);
    return ErrorCode.NONE;
  }

  /**
   * Completes a durable PrepareCommit/PrepareAbort: markers to every partition, the offsets
   * applied on commit, the aborted ranges recorded, then CompleteCommit/CompleteAbort. Stops
   * at the first failure, leaving the Prepare state for the next retry (markers are idempotent
   * for readers: a second marker closes nothing).
   */
  #finish(m: TxnMetadata): Promise<boolean> {
    // One completion per id at a time: the timeout check's retry must not write a second set
    // of markers while EndTxn's own completion is still writing the first.
    const running = this.#finishing.get(m.transactionalId);
    if (running !== undefined) return running;
    const run = this.#finishOnce(m).finally(() => this.#finishing.delete(m.transactionalId));
    this.#finishing.set(m.transactionalId, run);
    return run;
  }

  async #finishOnce(m: TxnMetadata): Promise<boolean> {
    const commit = m.state === "PrepareCommit";
    try {
      if (commit) await this.#applyOffsets(m);
      for (const tp of m.partitions) await this.#mark(m, tp.topic, tp.partition, commit);
    } catch (err) {
      this.#deps.logger.warn("cannot complete a transaction yet; will retry", {
        transactionalId: m.transactionalId,
        err: err as Error,
      });
      return false;
    }
    const d = this.coordinator.completeNext(m.transactionalId);
    return await this.#apply(d) === ErrorCode.NONE;
  }

  async #mark(m: TxnMetadata, topic: string, partition: number, commit: boolean): Promise<void> {
    const key = partitionKey(topic, partition);
    if (this.#deps.partitions.get(topic, partition) === undefined) {
      // The topic was deleted while the transaction was open: nothing is left to mark.
      this.index.drop(key);
      return;
    }
    const batch = await _markerBatch(m, commit, this.#clock.nowMs());
    const r = await this.#deps.partitions.produce(topic, partition, batch, -1, { marker: true });
    const aborted = this.index.end(key, m.producerId, r.baseOffset, commit);
    // The append woke parked fetches before the LSO moved; wake them again now that it has.
    this.#deps.waiter?.notify(key);
    if (aborted !== null) {
      await this.#append(m.transactionalId, [{
        key: encodeAbortedKey(topic, partition, aborted.lastOffset),
        value: encodeAbortedValue(aborted),
      }]);
    }
  }

  async #applyOffsets(m: TxnMetadata): Promise<void> {
    const byGroup = new Map<string, TxnOffset[]>();
    for (const o of m.offsets) {
      let list = byGroup.get(o.groupId);
      if (list === undefined) byGroup.set(o.groupId, list = []);
      list.push(o);
    }
    for (const [groupId, offsets] of byGroup) {
      const out = await this.#deps.groups.offsets.commit(
        groupId,
        offsets.map((o) => ({ ...o, offset: BigInt(o.offset) })),
        this.#clock.nowMs(),
      );
      const failed = out.find((o) => o.errorCode !== ErrorCode.NONE);
      if (failed !== undefined) {
        throw new Error(`offset commit for group ${groupId} failed with code ${failed.errorCode}`);
      }
    }
  }

  /** Drives every durable Prepare state (after a restart, or a failed marker) to completion. */
  async #resume(): Promise<void> {
    for (const m of this.coordinator.list()) {
      if (this.coordinator.isPending(m.transactionalId)) continue;
      if (m.state === "PrepareCommit" || m.state === "PrepareAbort") await this.#finish(m);
    }
  }

  #arm(): void {
    this.#timer = this.#clock.setTimer(this.#checkIntervalMs, () => {
      this.#timer = null;
      if (this.#closed) return;
      this.abortExpired().catch((err) => {
        this.#deps.logger.error("transaction timeout check failed", { err: err as Error });
      }).finally(() => {
        if (!this.#closed) this.#arm();
      });
    });
  }

  #ensureTopic(): Promise<TopicMeta> {
    const existing = this.#deps.metadata.topic(TXN_STATE_TOPIC);
    if (existing !== undefined) return Promise.resolve(existing);
    this.#topicCreation ??= this.#createTopic().finally(() => (this.#topicCreation = null));
    return this.#topicCreation;
  }

  async #createTopic(): Promise<TopicMeta> {
    const d = this.#deps;
    try {
      // Compaction keeps each transactional id's latest state; time retention would lose it.
      const t = await d.metadata.createTopic(
        TXN_STATE_TOPIC,
        this.#topicPartitions,
        d.replicationFactor,
        {
          "cleanup.policy": "compact",
          "retention.ms": "-1",
        },
      );
      await d.partitions.syncWithMetadata();
      d.logger.info("created the transaction state topic", { partitions: t.partitions.length });
      return t;
    } catch (err) {
      const raced = d.metadata.topic(TXN_STATE_TOPIC);
      if (raced !== undefined) return raced;
      throw err;
    }
  }

  async #append(
    transactionalId: string,
    records: readonly { key: Uint8Array; value: Uint8Array | null }[],
  ): Promise<void> {
    await this.#ensureTopic();
    const now = this.#clock.nowMs();
    const batch = await buildBatch(records.map((r) => ({ ...r, timestamp: now })));
    await this.#deps.partitions.produce(TXN_STATE_TOPIC, this.partitionFor(transactionalId), batch);
  }

  async #loadPartition(partition: number, readBytesMax: number): Promise<void> {
    const pm = this.#deps.partitions;
    const hosted = pm.get(TXN_STATE_TOPIC, partition);
    if (hosted === undefined) return;
    let offset = hosted.log.logStartOffset;
    try {
      while (offset < hosted.log.highWatermark) {
        const read = await pm.read(TXN_STATE_TOPIC, partition, offset, readBytesMax);
        if (read.batches.length === 0) break;
        for (const bytes of read.batches) {
          const batch = await decodeRecords(bytes);
          for (const r of batch.records) this.#replay(r.key, r.value);
          offset = batch.header.lastOffset + 1;
        }
      }
    } catch (err) {
      this.#deps.logger.error("cannot load transaction state of a partition", {
        partition,
        err: err as Error,
      });
    }
  }

  #replay(key: Uint8Array | null, value: Uint8Array | null): void {
    if (key === null) return;
    try {
      const k = decodeTxnKey(key);
      if (k.kind === "aborted") {
        if (value === null) return;
        const pk = partitionKey(k.topic, k.partition);
        this.index.restoreAborted(pk, decodeAbortedValue(k.lastOffset, value));
        return;
      }
      const m = value === null ? null : decodeTxnValue(k.transactionalId, value);
      this.coordinator.replay(k.transactionalId, m);
      // The index follows the latest record of each id: what the previous record held open is
      // closed, and an unfinished transaction holds the LSO again from where it began.
      const prev = this.#loaded.get(k.transactionalId);
      for (const tp of prev?.partitions ?? []) {
        this.index.end(partitionKey(tp.topic, tp.partition), prev!.producerId, -1, true);
      }
      if (m === null) this.#loaded.delete(k.transactionalId);
      else this.#loaded.set(k.transactionalId, m);
      const open = m !== null && m.state !== "CompleteCommit" && m.state !== "CompleteAbort";
      if (open) this.#openOnPartitions(m);
    } catch (err) {
      this.#deps.logger.error("skipping an unreadable transaction state record", {
        err: err as Error,
      });
    }
  }
}

function _init(m: TxnMetadata): InitResult {
  return { errorCode: ErrorCode.NONE, producerId: m.producerId, producerEpoch: m.producerEpoch };
}

/**
 * A transaction marker: one control record whose key is `version:int16(0) type:int16` (0 abort,
 * 1 commit) and whose value is `version:int16(0) coordinator_epoch:int32`, in a transactional
 * control batch with the producer's id and epoch.
 */
async function _markerBatch(m: TxnMetadata, commit: boolean, nowMs: number): Promise<Uint8Array> {
  const key = new Uint8Array(4);
  new DataView(key.buffer).setInt16(2, commit ? _CONTROL_COMMIT : _CONTROL_ABORT);
  const value = new Uint8Array(6);
  return await buildBatch([{ key, value, timestamp: nowMs }], {
    producerId: m.producerId,
    producerEpoch: m.producerEpoch,
    transactional: true,
    control: true,
  });
}

function _int(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new RangeError(`Cannot start TxnService as ${name} is ${v}: it must be >= 1`);
  }
  return v;
}
