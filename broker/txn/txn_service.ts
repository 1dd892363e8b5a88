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
 * In a cluster:
 * - Markers go to each partition's current leader: written here when this broker leads the
 *   partition, else sent as WriteTxnMarkers (API 27) to the leader's broker-to-broker listener.
 *   NOT_LEADER_OR_FOLLOWER, a lost connection and the like are retried against the leader the
 *   metadata names next; the transaction completes only once every marker is written.
 * - The last stable offset and the aborted index are not the coordinator's: every broker keeps
 *   them for the partitions it hosts, leader or follower, from the partitions' own logs
 *   ({@linkcode TxnIndexTailer}). This service owns this broker's tailer.
 *
 * @module
 */

import { type Clock, sleep, systemClock, type TimerHandle } from "../../ops/clock.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import { buildBatch, decodeRecords } from "../../protocol/record/record_batch.ts";
import type { ClusterMetadata, TopicMeta } from "../../model/cluster_metadata.ts";
import type { PartitionManager } from "../partition_manager.ts";
import type { Logger } from "../../ops/logger.ts";
import type { FetchWaiter } from "../fetch/fetch_waiter.ts";
import { partitionKey } from "../log/log_cache.ts";
import { kafkaErrorCode } from "../broker_errors.ts";
import { offsetsPartitionFor } from "../group/offset_record.ts";
import { type GroupService, OFFSETS_TOPIC } from "../group/group_service.ts";
import type { CoordinatorLocation } from "../group/group_service.ts";
import {
  TxnCoordinator,
  type TxnDecision,
  type TxnMetadata,
  type TxnOffset,
  type TxnProducer,
} from "./txn_coordinator.ts";
import type { AbortedTxn } from "./txn_index.ts";
import { decodeTxnKey, decodeTxnValue, encodeTxnKey, encodeTxnValue } from "./txn_record.ts";
import { TxnIndexTailer } from "./txn_index_tailer.ts";
import { type TxnMarker, writeMarkerHere } from "./txn_marker.ts";
import { type MarkedPartition, TxnBrokerClient } from "./txn_broker_client.ts";
import type { Transport } from "../../protocol/transport/transport.ts";
import type {
  TxnOffsetCommitRequest,
  TxnOffsetCommitResponse,
} from "../../protocol/kafka/messages/mod.ts";

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
  /** Attempts at a round of markers before the completion waits for the next check. @default 20 */
  readonly markerAttemptsMax?: number;
  /** First wait between marker attempts; it doubles up to 1 s. @default 50 */
  readonly markerBackoffMs?: number;
}

/** What the service needs from its broker. */
export interface TxnServiceDeps {
  readonly nodeId: number;
  readonly metadata: ClusterMetadata;
  readonly partitions: PartitionManager;
  readonly groups: GroupService;
  readonly logger: Logger;
  readonly replicationFactor: number;
  /** Woken when a partition's last stable offset moves, so parked read_committed fetches see it. */
  readonly waiter?: FetchWaiter;
  /** Opens a broker-to-broker connection for WriteTxnMarkers (`connect` from protocol/transport). */
  readonly connect?: (url: string) => Promise<Transport>;
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

/** Marker errors worth another attempt, after looking the leader up again. */
const _MARKER_RETRIABLE: ReadonlySet<number> = new Set([
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.NOT_ENOUGH_REPLICAS,
  ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
  ErrorCode.REQUEST_TIMED_OUT,
  ErrorCode.KAFKA_STORAGE_ERROR,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_SERVER_ERROR,
]);

/** The transaction coordinator of one broker. */
export class TxnService {
  readonly coordinator: TxnCoordinator;
  /** This broker's last stable offsets and aborted indexes, from its partitions' logs. */
  readonly index: TxnIndexTailer;
  readonly #markers: TxnBrokerClient | null;
  readonly #markerAttemptsMax: number;
  readonly #markerBackoffMs: number;
  readonly #deps: TxnServiceDeps;
  readonly #clock: Clock;
  readonly #checkIntervalMs: number;
  readonly #expirationMs: number;
  readonly #topicPartitions: number;
  #timer: TimerHandle | null = null;
  #topicCreation: Promise<TopicMeta> | null = null;
  #closed = false;
  /** Completions (markers, then CompleteCommit/Abort) in progress, by transactional id. */
  readonly #finishing = new Map<string, Promise<boolean>>();
  /**
   * The `__transaction_state` partitions whose ids this broker serves, each with the leader
   * epoch it was loaded at (the coordinator epoch its markers carry). A partition led here at
   * another epoch is stale or still loading: its ids get COORDINATOR_LOAD_IN_PROGRESS, and no
   * marker or transition is written for them.
   */
  readonly #loaded = new Map<number, number>();
  /** Loads in progress, by `__transaction_state` partition. */
  readonly #loading = new Map<number, Promise<void>>();

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
    this.#markerAttemptsMax = _int("markerAttemptsMax", options.markerAttemptsMax, 20);
    this.#markerBackoffMs = _int("markerBackoffMs", options.markerBackoffMs, 50);
    this.index = new TxnIndexTailer({
      log: deps.partitions,
      logger: deps.logger,
      clock: this.#clock,
      moved: (key) => deps.waiter?.notify(key),
    });
    deps.waiter?.onNotify((key) => this.index.notify(key));
    const replication = deps.metadata.replicationEndpoint?.bind(deps.metadata);
    this.#markers = deps.connect === undefined || replication === undefined
      ? null
      : new TxnBrokerClient({ nodeId: deps.nodeId, endpoint: replication, connect: deps.connect });
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
        const log = deps.partitions.get(TXN_STATE_TOPIC, p)?.log;
        // A partition whose high watermark lags its log end waits for followers, which may
        // need this broker serving first: that load goes on in the background.
        if (log !== undefined && log.highWatermark >= log.logEndOffset) {
          await svc.#load(p, readBytesMax);
        } else svc.#loadInBackground(p);
      }
      // Not awaited: in a cluster the markers may need other brokers (or this one's ISR), and a
      // broker that waited for them before serving could hold a restarting cluster up for good.
      // Until then the ids stay in Prepare* and clients get CONCURRENT_TRANSACTIONS.
      svc.#resume().catch((err) => {
        deps.logger.error("cannot resume unfinished transactions", { err: err as Error });
      });
    }
    svc.#arm();
    return svc;
  }

  /** The `__transaction_state` partition of a transactional id (Kafka's hash). */
  partitionFor(transactionalId: string): number {
    return offsetsPartitionFor(transactionalId, this.#topicPartitions);
  }

  /** Whether this broker coordinates `transactionalId`. */
  isCoordinatorFor(transactionalId: string): boolean {
    if (this.#closed) return false;
    const t = this.#deps.metadata.topic(TXN_STATE_TOPIC);
    if (t === undefined) return true;
    return t.partitions[this.partitionFor(transactionalId)]?.leader === this.#deps.nodeId;
  }

  /**
   * Whether requests for `transactionalId` may be served here: NONE, NOT_COORDINATOR (another
   * broker leads its `__transaction_state` partition), or COORDINATOR_LOAD_IN_PROGRESS (led
   * here, but not yet read back at the current leader epoch). Serving before the read-back
   * would answer from a previous tenure's state, or none: a fresh producer id for a known id.
   */
  coordinatorError(transactionalId: string): number {
    if (!this.isCoordinatorFor(transactionalId)) return ErrorCode.NOT_COORDINATOR;
    if (this.#deps.metadata.topic(TXN_STATE_TOPIC) === undefined) return ErrorCode.NONE;
    return this.#owns(transactionalId) ? ErrorCode.NONE : ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
  }

  /**
   * The coordinator epoch this broker serves `transactionalId` at, or -1 when it must not act
   * for it: its state partition is not led here at the epoch it was loaded at. A broker that
   * lost the lead (a lapsed lease, a failover) keeps its memory; acting on it would write
   * markers of a finished transaction into the producer's next one.
   */
  #servingEpoch(transactionalId: string): number {
    if (this.#closed) return -1;
    if (this.#deps.metadata.topic(TXN_STATE_TOPIC) === undefined) return 0;
    const p = this.partitionFor(transactionalId);
    const hosted = this.#deps.partitions.get(TXN_STATE_TOPIC, p);
    const loaded = this.#loaded.get(p);
    if (hosted === undefined || hosted.role !== "leader" || loaded !== hosted.leaderEpoch) {
      return -1;
    }
    if (!this.isCoordinatorFor(transactionalId)) return -1;
    return loaded;
  }

  #owns(transactionalId: string): boolean {
    return this.#servingEpoch(transactionalId) >= 0;
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
    await this.#load(partition, readBytesMax);
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
   * AddPartitionsToTxn: per partition, NONE or the reason it cannot join. The partitions may be
   * led anywhere; each leader finds where the transaction begins in its own log.
   */
  async addPartitions(p: TxnProducer, wanted: readonly TopicPartition[]): Promise<number[]> {
    const codes = wanted.map((tp) => this.#joinable(tp));
    if (codes.some((c) => c !== ErrorCode.NONE)) {
      // Kafka answers the others with OPERATION_NOT_ATTEMPTED so the client retries them alone.
      return codes.map((c) => c === ErrorCode.NONE ? ErrorCode.OPERATION_NOT_ATTEMPTED : c);
    }
    // -1: the leaders' logs say where the data begins (see TxnIndexTailer).
    const parts = wanted.map((tp) => ({ ...tp, firstOffset: -1 }));
    const code = await this.#apply(this.coordinator.addPartitions(p, parts));
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
   *
   * The answer is NONE only once the transaction has completed: its offsets are applied at
   * the group's coordinator and every marker is written. Until then it is the retriable
   * CONCURRENT_TRANSACTIONS, which the client's retry keeps getting while the state is
   * PrepareCommit/PrepareAbort. Kafka answers once the Prepare state is durable; answering
   * earlier here let a kafkajs consume-transform-produce worker (which has no require_stable
   * OffsetFetch) read its group's old offsets after a rebalance while the offsets were still
   * unapplied, and process a committed batch a second time.
   */
  async endTxn(p: TxnProducer, commit: boolean): Promise<number> {
    const d = this.coordinator.endTxn(p, commit);
    const code = await this.#apply(d);
    if (code === ErrorCode.NONE && d.kind === "transition" && !await this.#finish(d.next)) {
      return ErrorCode.CONCURRENT_TRANSACTIONS;
    }
    return code;
  }

  /** Aborts timed-out transactions and retries unfinished markers; returns how many it aborted. */
  async abortExpired(): Promise<number> {
    // Ids whose state partition moved away are forgotten (reloaded if it comes back).
    this.coordinator.unload((id) => this.#owns(id) || this.#loading.has(this.partitionFor(id)));
    this.#loadLed();
    const due = this.coordinator.expired().filter((next) => {
      if (this.#owns(next.transactionalId)) return true;
      this.coordinator.abandon(next.transactionalId);
      return false;
    });
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
    this.index.trim();
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
    return this.index.lastStableOffset(topic, partition, highWatermark);
  }

  /**
   * Waits, at most `timeoutMs`, until the partition's LSO is known (its log read up to
   * `highWatermark`); false when it is not yet. See {@linkcode TxnIndexTailer.settle}.
   */
  settle(topic: string, partition: number, highWatermark: number, timeoutMs: number) {
    return this.index.settle(topic, partition, highWatermark, timeoutMs);
  }

  /** Aborted transactions overlapping `[fromOffset, toOffset)` of a partition. */
  abortedIn(topic: string, partition: number, fromOffset: number, toOffset: number): AbortedTxn[] {
    return this.index.abortedIn(topic, partition, fromOffset, toOffset);
  }

  /** Stops the timeout check. In-flight transitions finish on their own. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    this.#timer = null;
    this.index.close();
    this.#markers?.close();
  }

  #joinable(tp: TopicPartition): number {
    if (tp.topic === TXN_STATE_TOPIC) return ErrorCode.INVALID_TXN_STATE;
    const t = this.#deps.metadata.topic(tp.topic);
    if (t === undefined || t.partitions[tp.partition] === undefined) {
      return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    }
    return ErrorCode.NONE;
  }

  async #apply(d: TxnDecision): Promise<number> {
    if (d.kind === "error") return d.code;
    if (d.kind === "unchanged") return ErrorCode.NONE;
    return await this.#persist(d.next);
  }

  /** Writes the transition to `__transaction_state`, then applies it (or abandons it). */
  async #persist(next: TxnMetadata): Promise<number> {
    if (!this.#owns(next.transactionalId)) {
      // Led elsewhere now, or being read back: the transition would rest on stale state.
      this.coordinator.abandon(next.transactionalId);
      return ErrorCode.NOT_COORDINATOR;
    }
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
    const epoch = this.#servingEpoch(m.transactionalId);
    if (epoch < 0) return false;
    try {
      if (commit) await this.#applyOffsets(m);
      await this.#markAll(m, commit, epoch);
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

  /**
   * Writes the marker to every partition of the transaction, each at its current leader, and
   * retries what failed against the leader the metadata names next, with a growing backoff.
   *
   * @throws {Error} when partitions are still unmarked after the last attempt
   */
  async #markAll(m: TxnMetadata, commit: boolean, coordinatorEpoch: number): Promise<void> {
    const marker: TxnMarker = {
      producerId: m.producerId,
      producerEpoch: m.producerEpoch,
      commit,
      coordinatorEpoch,
    };
    let pending: readonly MarkedPartition[] = m.partitions;
    let failed = new Map<string, number>();
    for (let attempt = 0; attempt < this.#markerAttemptsMax && !this.#closed; attempt++) {
      if (attempt > 0) {
        await sleep(this.#clock, Math.min(1000, this.#markerBackoffMs * 2 ** (attempt - 1)));
      }
      // Each round asks again: a coordinator that lost the lead while retrying stops here.
      if (this.#servingEpoch(m.transactionalId) !== coordinatorEpoch) {
        throw new Error(
          `no longer the coordinator of ${m.transactionalId} at epoch ${coordinatorEpoch}`,
        );
      }
      failed = await this.#markRound(marker, pending);
      if ([...failed.values()].includes(ErrorCode.TRANSACTION_COORDINATOR_FENCED)) {
        // A newer coordinator of the id wrote there already: this one's tenure is over.
        throw new Error(
          `a newer coordinator of ${m.transactionalId} fenced epoch ${coordinatorEpoch}`,
        );
      }
      pending = pending.filter((tp) => failed.has(partitionKey(tp.topic, tp.partition)));
      if (pending.length === 0) return;
    }
    throw new Error(
      `markers not written to ${[...failed].map(([k, c]) => `${k} (error ${c})`).join(", ")}`,
    );
  }

  /** One attempt at each partition's current leader; answers the partitions that failed. */
  async #markRound(
    marker: TxnMarker,
    partitions: readonly MarkedPartition[],
  ): Promise<Map<string, number>> {
    const failed = new Map<string, number>();
    const byLeader = new Map<number, MarkedPartition[]>();
    for (const tp of partitions) {
      const t = this.#deps.metadata.topic(tp.topic);
      // The topic was deleted while the transaction was open: nothing is left to mark.
      if (t === undefined || t.partitions[tp.partition] === undefined) continue;
      const leader = t.partitions[tp.partition]!.leader;
      let list = byLeader.get(leader);
      if (list === undefined) byLeader.set(leader, list = []);
      list.push(tp);
    }
    await Promise.all([...byLeader].map(async ([leader, tps]) => {
      const codes = await this.#markAt(leader, marker, tps);
      for (const tp of tps) {
        const key = partitionKey(tp.topic, tp.partition);
        const code = codes.get(key) ?? ErrorCode.UNKNOWN_SERVER_ERROR;
        if (code === ErrorCode.NONE) continue;
        if (!_MARKER_RETRIABLE.has(code) && code !== ErrorCode.TRANSACTION_COORDINATOR_FENCED) {
          // Not worth retrying, but the transaction cannot complete without it: say so loudly.
          this.#deps.logger.error("a partition refused a transaction marker", {
            partition: key,
            errorCode: code,
          });
        }
        failed.set(key, code);
      }
    }));
    return failed;
  }

  /** Markers to partitions that broker `leader` leads: here directly, else WriteTxnMarkers. */
  async #markAt(
    leader: number,
    marker: TxnMarker,
    tps: readonly MarkedPartition[],
  ): Promise<Map<string, number>> {
    const now = this.#clock.nowMs();
    const codes = new Map<string, number>();
    if (leader === this.#deps.nodeId || this.#markers === null) {
      await Promise.all(tps.map(async (tp) => {
        const code = await writeMarkerHere(
          this.#deps.partitions,
          tp.topic,
          tp.partition,
          marker,
          now,
        );
        codes.set(partitionKey(tp.topic, tp.partition), code);
      }));
      return codes;
    }
    if (leader < 0) return codes;
    try {
      return await this.#markers.writeMarkers(leader, marker, tps);
    } catch (err) {
      this.#deps.logger.warn("cannot send transaction markers to a partition leader; will retry", {
        leader,
        err: err as Error,
      });
      return codes;
    }
  }

  /**
   * Applies a committing transaction's offsets at each group's coordinator: here when this
   * broker coordinates the group, else as an OffsetCommit to the group coordinator's
   * broker-to-broker listener. Retried like markers; committing an offset twice is harmless.
   *
   * @throws {Error} when a group's offsets are still not applied after the last attempt
   */
  async #applyOffsets(m: TxnMetadata): Promise<void> {
    const byGroup = new Map<string, TxnOffset[]>();
    for (const o of m.offsets) {
      let list = byGroup.get(o.groupId);
      if (list === undefined) byGroup.set(o.groupId, list = []);
      list.push(o);
    }
    for (const [groupId, offsets] of byGroup) {
      let code: number = ErrorCode.NONE;
      for (let attempt = 0; attempt < this.#markerAttemptsMax && !this.#closed; attempt++) {
        if (attempt > 0) {
          await sleep(this.#clock, Math.min(1000, this.#markerBackoffMs * 2 ** (attempt - 1)));
        }
        code = await this.#applyGroupOffsets(groupId, offsets);
        if (code === ErrorCode.NONE) break;
      }
      if (code !== ErrorCode.NONE) {
        throw new Error(`offset commit for group ${groupId} failed with code ${code}`);
      }
    }
  }

  async #applyGroupOffsets(groupId: string, offsets: readonly TxnOffset[]): Promise<number> {
    const groups = this.#deps.groups;
    if (groups.isCoordinatorFor(groupId) || this.#markers === null) {
      const out = await groups.offsets.commit(
        groupId,
        offsets.map((o) => ({ ...o, offset: BigInt(o.offset) })),
        this.#clock.nowMs(),
      );
      return out.find((o) => o.errorCode !== ErrorCode.NONE)?.errorCode ?? ErrorCode.NONE;
    }
    const t = this.#deps.metadata.topic(OFFSETS_TOPIC);
    const leader = t?.partitions[groups.offsets.partitionFor(groupId)]?.leader ?? -1;
    if (leader < 0) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    try {
      return await this.#markers.commitOffsets(leader, groupId, offsets);
    } catch (err) {
      this.#deps.logger.warn("cannot apply a transaction's offsets at the group coordinator", {
        groupId,
        leader,
        err: err as Error,
      });
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
  }

  /**
   * A client's TxnOffsetCommit reached the group's coordinator (this broker), which is not the
   * transaction's: it is handed to the transaction coordinator, and its answer returned.
   */
  async forwardOffsets(req: TxnOffsetCommitRequest): Promise<TxnOffsetCommitResponse | number> {
    if (this.#markers === null) return ErrorCode.NOT_COORDINATOR;
    const at = await this.locate(req.transactionalId);
    if (typeof at === "number") return at;
    if (at.nodeId === this.#deps.nodeId) return ErrorCode.NOT_COORDINATOR;
    try {
      return await this.#markers.forwardTxnOffsetCommit(at.nodeId, req);
    } catch (err) {
      this.#deps.logger.warn("cannot hand offsets to the transaction coordinator", {
        transactionalId: req.transactionalId,
        coordinator: at.nodeId,
        err: err as Error,
      });
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
  }

  /** Drives every durable Prepare state (after a restart, or a failed marker) to completion. */
  async #resume(): Promise<void> {
    for (const m of this.coordinator.list()) {
      if (this.coordinator.isPending(m.transactionalId) || !this.#owns(m.transactionalId)) continue;
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

  /** Loads a partition, then finishes what it left in Prepare, without holding the caller. */
  #loadInBackground(partition: number): void {
    this.reloadPartition(partition).catch((err) => {
      this.#deps.logger.error("cannot load transaction state of a partition", {
        partition,
        err: err as Error,
      });
    });
  }

  /** Loads the state partitions led here but not served yet (a leadership news missed). */
  #loadLed(): void {
    const t = this.#deps.metadata.topic(TXN_STATE_TOPIC);
    if (t === undefined) return;
    for (let p = 0; p < t.partitions.length; p++) {
      const hosted = this.#deps.partitions.get(TXN_STATE_TOPIC, p);
      if (hosted === undefined || hosted.role !== "leader" || this.#loading.has(p)) continue;
      if (this.#loaded.get(p) !== hosted.leaderEpoch) this.#loadInBackground(p);
    }
  }

  /**
   * Reads a `__transaction_state` partition back when this broker leads it, and from then on
   * serves its ids at that leader epoch. One load per partition at a time.
   */
  async #load(partition: number, readBytesMax: number): Promise<void> {
    for (let running = this.#loading.get(partition); running !== undefined;) {
      await running;
      running = this.#loading.get(partition);
    }
    const run = this.#loadAtEpoch(partition, readBytesMax)
      .finally(() => this.#loading.delete(partition));
    this.#loading.set(partition, run);
    await run;
  }

  async #loadAtEpoch(partition: number, readBytesMax: number): Promise<void> {
    const pm = this.#deps.partitions;
    const hosted = pm.get(TXN_STATE_TOPIC, partition);
    if (hosted === undefined || hosted.role !== "leader") return;
    const epoch = hosted.leaderEpoch;
    if (this.#loaded.get(partition) === epoch) return;
    this.#loaded.delete(partition);
    const leading = () =>
      !this.#closed && pm.get(TXN_STATE_TOPIC, partition) === hosted &&
      hosted.role === "leader" && hosted.leaderEpoch === epoch;
    // What a previous tenure left in memory is not trusted; the log is.
    this.coordinator.unload((id) => this.partitionFor(id) !== partition);
    // A new leader's high watermark lags its log end until its followers fetch again. The
    // records in between were acknowledged by the old leader (a CompleteCommit, the next
    // transaction's partitions); loading without them would finish a finished transaction
    // again, and its markers would land in the producer's next one.
    const end = hosted.log.logEndOffset;
    while (leading() && hosted.log.highWatermark < end) await sleep(this.#clock, 20);
    if (!leading() || !await this.#loadPartition(partition, readBytesMax)) return;
    if (leading()) this.#loaded.set(partition, epoch);
  }

  /** Replays a partition below its high watermark; false when it could not be read whole. */
  async #loadPartition(partition: number, readBytesMax: number): Promise<boolean> {
    const pm = this.#deps.partitions;
    const hosted = pm.get(TXN_STATE_TOPIC, partition);
    if (hosted === undefined) return false;
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
      return false;
    }
    return true;
  }

  #replay(key: Uint8Array | null, value: Uint8Array | null): void {
    if (key === null) return;
    try {
      const k = decodeTxnKey(key);
      // Aborted-range records (written by earlier versions, when the coordinator kept the
      // index) are ignored: each partition's leader derives its index from its own log now.
      if (k.kind === "aborted") return;
      const m = value === null ? null : decodeTxnValue(k.transactionalId, value);
      this.coordinator.replay(k.transactionalId, m);
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

function _int(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new RangeError(`Cannot start TxnService as ${name} is ${v}: it must be >= 1`);
  }
  return v;
}
