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

import {
  type BatchHeader,
  readBatchHeader,
  validateBatch,
} from "../protocol/record/record_batch.ts";
import type { ProduceTransform } from "./produce/transform_stage.ts";
import { type AssignedOffsets, PartitionLog } from "./log/partition_log.ts";
import { type LogCache, partitionKey } from "./log/log_cache.ts";
import type { Wal } from "./wal/wal.ts";
import type { RecoveredEntry } from "./wal/wal_recovery.ts";
import { ProducerStateTable } from "./produce/producer_state.ts";
import type { FetchWaiter } from "./fetch/fetch_waiter.ts";
import type { StreamRegistry } from "./stream_registry.ts";
import type { ClusterMetadata, TopicMeta } from "../model/cluster_metadata.ts";
import { KafkaProtocolError } from "./broker_errors.ts";
import { AppendRollbacks, spaceErrorMessage } from "./append_rollback.ts";
import type { Logger } from "../ops/logger.ts";
import type { ObjectManifest } from "../model/object_manifest.ts";
import type { TieredReader } from "./tiering/tiered_reader.ts";
import type { ObjectRange } from "./tiering/stream_object.ts";
import type { TimestampOffset } from "./log/partition_log.ts";
import type { PartitionMeta } from "../model/cluster_metadata.ts";
import {
  assignEpochsFromBatches,
  LeaderEpochCheckpoint,
} from "./replication/leader_epoch_cache.ts";
import { LeaderReplication, type ReplicationClock } from "./replication/leader_replication.ts";
import { ackLevelFromWire } from "./replication/replica_tracker.ts";
import type { ReplicaFetcherManager } from "./replication/replica_fetcher_manager.ts";
import type { FollowerSink } from "./replication/replica_fetcher.ts";
import type { FollowerLogView } from "./replication/follower_state.ts";
import { validateReplicaFetch } from "./replication/replica_fetch_validation.ts";
import {
  applyTruncations,
  encodeTruncationMarker,
  markerWalBaseOffset,
} from "./replication/wal_truncation.ts";
import { fileMetadataPersistence, type MetadataPersistence } from "./metadata/local_metadata.ts";
import type { HostedPartition } from "./hosted_partition.ts";

export type { HostedPartition, ReplicaRole } from "./hosted_partition.ts";

/** How this broker takes part in replication. */
export interface ReplicationSettings {
  /** This broker's node id. */
  readonly nodeId: number;
  /** `replication.max_replication_lag`: a follower further behind leaves the ISR. */
  readonly maxLagMessages: number;
  /** `replication.heartbeat_timeout_ms`: a follower not caught up for this long leaves the ISR. */
  readonly maxLagTimeMs: number;
  /** `replication.ack_timeout_ms`: acks=all waits this long, then REQUEST_TIMED_OUT. */
  readonly ackTimeoutMs: number;
  readonly clock: ReplicationClock;
  /** Where leader-epoch checkpoints live, one file per stream. @default none: kept in memory */
  readonly epochDir?: string;
}

/** The object-storage half of a partition's log, when tiering is on. */
export interface Tiering {
  readonly manifest: ObjectManifest;
  readonly reader: TieredReader;
  /** Forgets a deleted partition's objects. */
  removePartition(key: string): Promise<void>;
  /** Uploads what is pending now (one object's worth); DeleteRecords waits on it. */
  uploadNow?(): Promise<unknown>;
  /** Deletes objects the manifest no longer references. */
  deleteObjects?(keys: readonly string[]): Promise<void>;
}

/** The result of a produce to one partition. */
export interface ProduceResult extends AssignedOffsets {
  readonly logStartOffset: number;
  /** True when the batch was a retry of one already appended. */
  readonly duplicate: boolean;
}

/** What a replica fetch returns: batches, or where the follower's log diverged. */
export type ReplicaRead =
  | {
    readonly kind: "read";
    readonly batches: Uint8Array[];
    readonly sizeBytes: number;
    readonly highWatermark: number;
    readonly logStartOffset: number;
  }
  | {
    readonly kind: "diverging";
    readonly epoch: number;
    readonly endOffset: number;
    readonly highWatermark: number;
    readonly logStartOffset: number;
  }
  | {
    /** Everything below `endOffset` is in object storage: the follower skips, not copies. */
    readonly kind: "skip";
    readonly endOffset: number;
    /** The epoch of the leader that wrote `endOffset - 1`. */
    readonly epoch: number;
    readonly highWatermark: number;
    readonly logStartOffset: number;
  };

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
  /** Why the WAL is full, for the producer's error (e.g. the object store is down). */
  readonly walFullReason?: () => string | null;
  /** How long an append waits for the WAL to drop below its high-water mark. @default 2000 */
  readonly walFullWaitMs?: number;
  /** Object storage for data that left the log cache. @default none: the cache holds all */
  readonly tiering?: Tiering;
  readonly replication: ReplicationSettings;
  /**
   * The produce pipeline's transform stage (ETL), run by the leader after the batch is checked
   * and before its sequence is checked and offsets are assigned; null means no chain.
   */
  readonly transform?: ProduceTransform;
}

/** Hosts partitions and runs produce and fetch against them. */
export class PartitionManager {
  readonly #o: PartitionManagerOptions;
  readonly #partitions = new Map<string, HostedPartition>();
  #fatal: Error | null = null;
  #syncChain: Promise<void> = Promise.resolve();
  #fetchers: ReplicaFetcherManager | null = null;
  readonly #leadershipListeners: ((p: HostedPartition) => void)[] = [];

  readonly #rollbacks: AppendRollbacks;

  constructor(options: PartitionManagerOptions) {
    this.#o = options;
    this.#rollbacks = new AppendRollbacks(options.cache, options.logger, (e) => this.#fail(e));
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
    // Host first (without roles: leading needs the recovered log end), then replay.
    await this.#sync(false);
    const storedEnd = (streamId: number) => {
      const key = this.#o.streams.keyOf(streamId);
      return key === undefined
        ? undefined
        : this.#o.tiering?.manifest.partition(key)?.uploadedEndOffset;
    };
    // Follower truncations are marker entries in the WAL; applying them drops the suffixes they
    // cancelled, so a divergent, never-committed tail cannot come back after a crash.
    const { entries: kept, resets } = applyTruncations(entries, { storedEndOffset: storedEnd });
    const byStream = new Map<number, Uint8Array[]>();
    for (const e of kept) {
      let list = byStream.get(e.streamId);
      if (list === undefined) byStream.set(e.streamId, list = []);
      list.push(e.payload);
    }
    for (const [streamId, start] of resets) {
      const key = this.#o.streams.keyOf(streamId);
      const p = key === undefined ? undefined : this.#partitions.get(key);
      if (p !== undefined && start > p.log.logEndOffset) p.log.resetTo(start);
    }
    for (const [streamId, batches] of byStream) {
      const key = this.#o.streams.keyOf(streamId);
      const p = key === undefined ? undefined : this.#partitions.get(key);
      if (p === undefined) {
        this.#o.logger.info("skipping WAL entries of a partition not hosted here", {
          streamId,
          entries: batches.length,
        });
        continue;
      }
      await this.#recoverPartition(p, batches);
    }
    for (const p of this.#partitions.values()) {
      // A crash between a truncation marker and the epoch checkpoint leaves stale epochs.
      if (p.epochs.truncateFromEnd(p.log.logEndOffset)) await p.epochCheckpoint.save(p.epochs);
    }
    await this.syncWithMetadata();
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
    if (assignEpochsFromBatches(p.epochs, applied)) await p.epochCheckpoint.save(p.epochs);
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
      if (h.isControl) {
        p.producers.fence(h.producerId, h.producerEpoch);
        continue;
      }
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
    const run = this.#syncChain.then(() => this.#sync(true));
    this.#syncChain = run.catch((err) => {
      this.#o.logger.error("applying metadata failed", { err: err as Error });
    });
    return run;
  }

  /** Calls `listener` each time this broker becomes the leader of a partition. */
  onLeadership(listener: (p: HostedPartition) => void): void {
    this.#leadershipListeners.push(listener);
  }

  /** The follower fetchers of a cluster broker (standalone has none). */
  attachFetchers(fetchers: ReplicaFetcherManager): void {
    this.#fetchers = fetchers;
  }

  /** Hosts the partitions that name this broker as a replica; with `roles`, leads or follows. */
  async #sync(roles: boolean): Promise<void> {
    const me = this.#o.replication.nodeId;
    const wanted = new Set<string>();
    for (const t of this.#o.metadata.topics()) {
      for (const pm of t.partitions) {
        if (!pm.replicas.includes(me)) continue;
        const key = partitionKey(t.name, pm.partition);
        wanted.add(key);
        let p = this.#partitions.get(key);
        if (p === undefined) p = await this.#host(t, pm.partition, key);
        p.config = t.config;
        p.log.setTimestampType(t.config["message.timestamp.type"]);
        if (roles) await this.#applyRole(p, pm);
      }
    }
    for (const key of [...this.#partitions.keys()]) {
      if (!wanted.has(key)) await this.#unhost(this.#partitions.get(key)!);
    }
  }

  async #unhost(p: HostedPartition): Promise<void> {
    this.#partitions.delete(p.key);
    p.leader?.close();
    this.#fetchers?.unfollow(p.topic, p.partition);
    this.#o.cache.drop(p.key);
    this.#o.wal.checkpoint(p.streamId, BigInt(Number.MAX_SAFE_INTEGER));
    await this.#o.streams.remove(p.key);
    // Only a deleted topic's objects go; a partition that merely moved away keeps them.
    const topic = this.#o.metadata.topic(p.topic);
    if (topic === undefined || topic.partitions.length <= p.partition) {
      await this.#o.tiering?.removePartition(p.key);
    }
    this.#o.waiter.notify(p.key);
  }

  async #host(t: TopicMeta, partition: number, key: string): Promise<HostedPartition> {
    const streamId = await this.#o.streams.ensure(key);
    // What object storage already holds: the log continues after it, and the WAL may drop it
    // (checkpoints live in memory, so they are re-established on every start).
    const stored = this.#o.tiering?.manifest.partition(key);
    if (stored !== undefined) this.#o.wal.checkpoint(streamId, BigInt(stored.uploadedEndOffset));
    const epochCheckpoint = new LeaderEpochCheckpoint(this.#epochPersistence(streamId));
    const p: HostedPartition = {
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
      role: "offline",
      leaderId: -1,
      leaderEpoch: -1,
      replicas: [],
      isr: [],
      epochs: await epochCheckpoint.load(),
      epochCheckpoint,
      leader: null,
    };
    this.#partitions.set(key, p);
    return p;
  }

  #epochPersistence(streamId: number): MetadataPersistence {
    const dir = this.#o.replication.epochDir;
    if (dir !== undefined) return fileMetadataPersistence(`${dir}/${streamId}.epochs`);
    let text: string | null = null;
    return { load: () => Promise.resolve(text), save: (t) => Promise.resolve(void (text = t)) };
  }

  /** Leads, follows or idles the partition as the metadata says. */
  async #applyRole(p: HostedPartition, pm: PartitionMeta): Promise<void> {
    const me = this.#o.replication.nodeId;
    const isrChanged = !_sameSet(p.isr, pm.isr);
    const replicasChanged = !_sameSet(p.replicas, pm.replicas);
    p.replicas = pm.replicas;
    p.isr = pm.isr;
    if (pm.leader === me) {
      // A reassignment changes the replica set under the same leader: the leader's tracker is
      // rebuilt so it follows the new replicas (in-flight acks are retried by producers).
      if (p.role !== "leader" || p.leaderEpoch !== pm.leaderEpoch || replicasChanged) {
        await this.#becomeLeader(p, pm);
      } else if (isrChanged) p.leader?.isrCommitted(pm.isr);
      return;
    }
    if (pm.leader < 0) {
      this.#stopLeading(p);
      this.#fetchers?.unfollow(p.topic, p.partition);
      p.role = "offline";
      p.leaderId = -1;
      p.leaderEpoch = pm.leaderEpoch;
      return;
    }
    if (p.role !== "follower" || p.leaderId !== pm.leader || p.leaderEpoch !== pm.leaderEpoch) {
      this.#becomeFollower(p, pm);
    }
  }

  async #becomeLeader(p: HostedPartition, pm: PartitionMeta): Promise<void> {
    this.#fetchers?.unfollow(p.topic, p.partition);
    this.#stopLeading(p);
    const leo = p.log.logEndOffset;
    if (p.epochs.assign(pm.leaderEpoch, leo)) await p.epochCheckpoint.save(p.epochs);
    if (pm.leaderEpoch > p.log.leaderEpoch) p.log.setLeaderEpoch(pm.leaderEpoch);
    const r = this.#o.replication;
    p.leader = new LeaderReplication({
      leaderId: r.nodeId,
      replicas: pm.replicas,
      isr: pm.isr,
      leaderEpoch: pm.leaderEpoch,
      leaderEpochStartOffset: leo,
      logEndOffset: leo,
      highWatermark: p.log.highWatermark,
      maxLagMessages: r.maxLagMessages,
      maxLagTimeMs: r.maxLagTimeMs,
      minInSyncReplicas: Math.min(p.config["min.insync.replicas"], pm.replicas.length),
      ackTimeoutMs: r.ackTimeoutMs,
      clock: r.clock,
      onAlterIsr: (isr, epoch) => this.#alterIsr(p, isr, epoch),
      onHighWatermark: (hw) => this.#advanceHighWatermark(p, hw),
    });
    p.role = "leader";
    p.leaderId = r.nodeId;
    p.leaderEpoch = pm.leaderEpoch;
    // Everything in the log is durable here (followers append durably), which may already move
    // the high watermark, at once on a single replica.
    p.leader.leaderDurable(leo);
    for (const listener of this.#leadershipListeners) listener(p);
    this.#o.logger.info("leading partition", {
      partition: p.key,
      epoch: pm.leaderEpoch,
      logEndOffset: leo,
    });
  }

  #becomeFollower(p: HostedPartition, pm: PartitionMeta): void {
    this.#stopLeading(p);
    p.role = "follower";
    p.leaderId = pm.leader;
    p.leaderEpoch = pm.leaderEpoch;
    const endpoint = this.#o.metadata.replicationEndpoint?.(pm.leader);
    if (this.#fetchers === null || endpoint === undefined) {
      this.#o.logger.warn("cannot follow: no replication endpoint for the leader", {
        partition: p.key,
        leader: pm.leader,
      });
      return;
    }
    this.#fetchers.follow(p.topic, p.partition, {
      leaderId: pm.leader,
      url: `tcp://${endpoint.host}:${endpoint.port}`,
      leaderEpoch: pm.leaderEpoch,
    });
    this.#o.logger.info("following partition", {
      partition: p.key,
      leader: pm.leader,
      epoch: pm.leaderEpoch,
    });
  }

  #stopLeading(p: HostedPartition): void {
    p.leader?.close();
    p.leader = null;
  }

  #advanceHighWatermark(p: HostedPartition, hw: number): void {
    const to = Math.min(hw, p.log.logEndOffset);
    if (to > p.log.highWatermark) p.log.advanceHighWatermark(to);
    this.#o.waiter.notify(p.key);
  }

  #alterIsr(p: HostedPartition, isr: readonly number[], leaderEpoch: number): void {
    const alter = this.#o.metadata.proposeIsr;
    if (alter === undefined) {
      p.leader?.isrChangeFailed();
      return;
    }
    alter.call(this.#o.metadata, p.topic, p.partition, leaderEpoch, isr).then(
      () => {
        if (p.leader !== null && p.leaderEpoch === leaderEpoch) {
          p.isr = isr;
          p.leader.isrCommitted(isr);
        }
      },
      (err: unknown) => {
        this.#o.logger.warn("ISR change refused", { partition: p.key, isr, err: err as Error });
        p.leader?.isrChangeFailed();
      },
    );
  }

  /**
   * Appends one RecordBatch to a partition; resolves once it is durable in the WAL.
   *
   * @throws {KafkaProtocolError} UNKNOWN_TOPIC_OR_PARTITION, KAFKA_STORAGE_ERROR,
   *   OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH
   * @throws {CorruptRecordError | RecordTooLargeError} for a bad batch
   */
  async produce(
    topic: string,
    partition: number,
    records: Uint8Array,
    acks = -1,
    options: { readonly marker?: boolean } = {},
  ): Promise<ProduceResult> {
    const p = this.#hosted(topic, partition);
    const leader = p.leader;
    if (p.role !== "leader" || leader === null) {
      throw new KafkaProtocolError(
        "NOT_LEADER_OR_FOLLOWER",
        `Cannot append to ${p.key} as broker ${this.#o.replication.nodeId} does not lead it: the leader is ${p.leaderId}`,
        { retriable: true },
      );
    }
    const level = ackLevelFromWire(acks);
    if (level === null) {
      throw new KafkaProtocolError("INVALID_REQUIRED_ACKS", `Cannot append with acks=${acks}`);
    }
    // min.insync.replicas is checked before anything is appended (NOT_ENOUGH_REPLICAS).
    if (acks !== 0) leader.checkProduce(level);
    const header = validateBatch(records, { maxBytes: p.config["max.message.bytes"] });
    // Only the transaction coordinator writes control batches (markers); a client's is refused.
    if (header.isControl !== (options.marker === true)) {
      throw new KafkaProtocolError(
        "INVALID_RECORD",
        `Cannot append to ${p.key} as ${
          header.isControl
            ? "control batches are written by the broker only"
            : "a marker must be a control batch"
        }`,
      );
    }
    // Markers are the broker's own and never pass through a topic's ETL chain.
    const staged = options.marker === true
      ? null
      : await this.#o.transform?.(topic, partition, p.config, records) ?? null;
    // A chain may run for up to etl.execution_timeout_ms: leadership may have moved meanwhile.
    if (staged !== null && (this.#partitions.get(p.key) !== p || p.leader !== leader)) {
      throw new KafkaProtocolError(
        "NOT_LEADER_OR_FOLLOWER",
        `Cannot append to ${p.key} as its leadership changed while its ETL chain ran`,
        { retriable: true },
      );
    }
    if (staged?.batch === null) return this.#producedNothing(p, header);
    await this.#awaitWalSpace();
    // Own copy: the request frame's buffer must not be pinned by the cache, nor mutated later.
    const batch = staged?.batch ?? records.slice();
    await this.#o.cache.reserve(batch.length);
    try {
      this.#checkWritable();
      this.#rollbacks.checkAppendable(p);
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
    const check = header.isControl
      ? p.producers.fence(seq.producerId, seq.producerEpoch)
      : p.producers.check(seq);
    if (check.kind !== "append") {
      this.#o.cache.cancelReservation(batch.length);
      if (check.kind === "error") throw new KafkaProtocolError(check.code, check.message);
      // A retry: answer only once the original is as safe as these acks ask.
      await p.durable;
      // A chain may have stored fewer records than the producer sent: never wait past the log.
      const end = Math.min(check.baseOffset + seq.lastOffsetDelta + 1, p.log.logEndOffset);
      if (acks !== 0 && acks !== 1) await leader.awaitAck(end, level);
      return {
        ..._dup(check.baseOffset, seq.lastOffsetDelta),
        logStartOffset: p.log.logStartOffset,
        duplicate: true,
      };
    }
    const assigned = p.log.assign(batch);
    this.#rollbacks.issued(p);
    if (!header.isControl) p.producers.record(seq, assigned.baseOffset);
    this.#o.cache.appendReserved(p.key, batch);
    // A synchronous throw must settle too, or the partition's count of appends in flight leaks.
    const appended = (() => {
      try {
        return this.#o.wal.append(p.streamId, BigInt(assigned.baseOffset), batch);
      } catch (err) {
        return Promise.reject(err);
      }
    })();
    p.durable = appended.then(() => {}, () => {});
    try {
      await appended;
      this.#rollbacks.settled(p, assigned.baseOffset, null);
    } catch (err) {
      if (this.#rollbacks.settled(p, assigned.baseOffset, err)) {
        throw new KafkaProtocolError("KAFKA_STORAGE_ERROR", spaceErrorMessage(p.key, err), {
          retriable: true,
          cause: err,
        });
      }
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
    const end = assigned.lastOffset + 1;
    // The WAL acknowledges in order, so everything up to `end` is durable on the leader now;
    // the tracker moves the high watermark once the ISR has it too.
    leader.leaderDurable(end);
    this.#o.waiter.notify(p.key);
    if (acks !== 0 && acks !== 1) await leader.awaitAck(end, level);
    return { ...assigned, logStartOffset: p.log.logStartOffset, duplicate: false };
  }

  /**
   * The answer to a batch the transform stage dropped entirely: nothing is appended, but its
   * sequence range is recorded, so the producer's next batch is in order and a retry of this
   * one is a duplicate.
   */
  async #producedNothing(p: HostedPartition, header: BatchHeader): Promise<ProduceResult> {
    const seq = {
      producerId: header.producerId,
      producerEpoch: header.producerEpoch,
      baseSequence: header.baseSequence,
      lastOffsetDelta: header.lastOffsetDelta,
    };
    const check = p.producers.check(seq);
    if (check.kind === "error") throw new KafkaProtocolError(check.code, check.message);
    const at = check.kind === "duplicate" ? check.baseOffset : p.log.logEndOffset;
    if (check.kind === "append") p.producers.record(seq, at);
    // Answered after the appends before it, as a stored batch would be.
    await p.durable;
    return {
      ..._dup(at, -1),
      logStartOffset: p.log.logStartOffset,
      duplicate: check.kind === "duplicate",
    };
  }

  /**
   * Reads whole batches from `offset`, at most `maxBytes` (but at least one batch), below the
   * high watermark (or below `stableOffset`, a read_committed consumer's last stable offset):
   * from the log cache, or from object storage for older offsets.
   *
   * @throws {KafkaProtocolError} UNKNOWN_TOPIC_OR_PARTITION, OFFSET_OUT_OF_RANGE
   */
  async read(
    topic: string,
    partition: number,
    offset: number,
    maxBytes: number,
    stableOffset: (highWatermark: number) => number = (hw) => hw,
  ): Promise<FetchRead> {
    const p = this.#hosted(topic, partition);
    if (p.role !== "leader") {
      throw new KafkaProtocolError("NOT_LEADER_OR_FOLLOWER", `${p.key} is led by ${p.leaderId}`, {
        retriable: true,
      });
    }
    const start = p.log.logStartOffset;
    if (offset < start || offset > p.log.logEndOffset) {
      throw new KafkaProtocolError(
        "OFFSET_OUT_OF_RANGE",
        `Cannot fetch ${p.key} at offset ${offset} as the log spans ${start} to ${p.log.logEndOffset}`,
      );
    }
    const hw = p.log.highWatermark;
    const empty = { batches: [], sizeBytes: 0, highWatermark: hw, logStartOffset: start };
    const end = Math.min(hw, stableOffset(hw));
    if (offset >= end) return empty;
    let hit = this.#o.cache.read(p.key, offset, maxBytes) ??
      await this.#o.tiering?.reader.read(p.key, offset, maxBytes) ?? null;
    // Key compaction emptied the stored tail from `offset` on: the log goes on in the cache.
    if (hit !== null && hit.batches.length === 0 && hit.nextOffset < end) {
      hit = this.#o.cache.read(p.key, hit.nextOffset, maxBytes);
    }
    if (hit === null) {
      throw new KafkaProtocolError(
        "OFFSET_OUT_OF_RANGE",
        `Cannot fetch ${p.key} at offset ${offset} as no cached or stored batch holds it`,
      );
    }
    const batches: Uint8Array[] = [];
    let sizeBytes = 0;
    for (const b of hit.batches) {
      if (readBatchHeader(b).baseOffset >= end) break;
      batches.push(b);
      sizeBytes += b.length;
    }
    return { batches, sizeBytes, highWatermark: hw, logStartOffset: p.log.logStartOffset };
  }

  /**
   * A follower's Fetch from this leader: whole batches from `fetchOffset` up to the log end
   * (not the high watermark, which can only advance once followers have the data), after the
   * epoch checks of KIP-320. Records the follower's progress for the ISR and acks.
   *
   * @throws {KafkaProtocolError} NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH,
   *   UNKNOWN_LEADER_EPOCH, OFFSET_OUT_OF_RANGE
   */
  async readForReplica(
    topic: string,
    partition: number,
    replicaId: number,
    fetch: { fetchOffset: number; currentLeaderEpoch: number; lastFetchedEpoch: number },
    maxBytes: number,
  ): Promise<ReplicaRead> {
    const p = this.#hosted(topic, partition);
    if (p.role !== "leader" || p.leader === null) {
      throw new KafkaProtocolError("NOT_LEADER_OR_FOLLOWER", `${p.key} is not led here`, {
        retriable: true,
      });
    }
    const verdict = validateReplicaFetch(fetch, {
      leaderEpoch: p.leaderEpoch,
      epochs: p.epochs,
      logStartOffset: p.log.logStartOffset,
      logEndOffset: p.log.logEndOffset,
    });
    const positions = { highWatermark: p.log.highWatermark, logStartOffset: p.log.logStartOffset };
    if (verdict.kind === "error") {
      throw new KafkaProtocolError(
        verdict.code,
        `Replica fetch of ${p.key} refused: ${verdict.code}`,
        {
          retriable: true,
        },
      );
    }
    if (verdict.kind === "diverging") {
      return {
        kind: "diverging",
        epoch: verdict.epoch,
        endOffset: verdict.endOffset,
        ...positions,
      };
    }
    p.leader.followerFetched(replicaId, fetch.fetchOffset);
    const empty = {
      kind: "read" as const,
      batches: [],
      sizeBytes: 0,
      ...positions,
      highWatermark: p.log.highWatermark,
    };
    if (fetch.fetchOffset >= p.log.logEndOffset) return empty;
    this.#rollbacks.served(p, p.log.logEndOffset);
    const cached = this.#o.cache.read(p.key, fetch.fetchOffset, maxBytes);
    const stored = this.#o.tiering?.manifest.partition(p.key)?.uploadedEndOffset ?? -1;
    if (cached === null && fetch.fetchOffset < stored) {
      // Object storage already holds these offsets for every replica: the follower skips to
      // the stored end instead of copying them (key compaction's gaps never reach its log).
      return {
        kind: "skip",
        endOffset: stored,
        epoch: p.epochs.epochForOffset(stored - 1),
        ...positions,
        highWatermark: p.log.highWatermark,
      };
    }
    const hit = cached ??
      await this.#o.tiering?.reader.read(p.key, fetch.fetchOffset, maxBytes) ?? null;
    if (hit === null) {
      throw new KafkaProtocolError(
        "OFFSET_OUT_OF_RANGE",
        `Cannot serve ${p.key} at ${fetch.fetchOffset} to replica ${replicaId}: no cached or stored batch holds it`,
      );
    }
    return {
      ...empty,
      batches: hit.batches,
      sizeBytes: hit.sizeBytes,
      highWatermark: p.log.highWatermark,
    };
  }

  /** What the replica fetchers call to apply what they fetched. */
  followerSink(): FollowerSink {
    return {
      view: (t, i) => this.#followerView(t, i),
      appendAsFollower: (t, i, batches, hw, start) =>
        this.#appendAsFollower(t, i, batches, hw, start),
      truncateTo: (t, i, offset) => this.#truncateFollower(t, i, offset),
      resetTo: (t, i, offset) => this.#resetFollower(t, i, offset),
      skipTo: (t, i, offset, epoch) => this.#skipFollower(t, i, offset, epoch),
      requestMetadataRefresh: (reason) => {
        this.#o.logger.debug("replica fetcher asked for fresh metadata", { reason });
        void this.syncWithMetadata();
      },
    };
  }

  #followerView(topic: string, partition: number): FollowerLogView | undefined {
    const p = this.#partitions.get(partitionKey(topic, partition));
    if (p === undefined) return undefined;
    // The fetcher keeps this view for as long as it follows: getters, so it always sees the
    // log as it is now, not as it was when following started.
    return {
      get logStartOffset() {
        return p.log.logStartOffset;
      },
      get logEndOffset() {
        return p.log.logEndOffset;
      },
      get highWatermark() {
        return p.log.highWatermark;
      },
      epochs: p.epochs,
    };
  }

  /** Appends fetched batches durably, then moves the follower's high watermark. */
  async #appendAsFollower(
    topic: string,
    partition: number,
    batches: readonly Uint8Array[],
    leaderHighWatermark: number,
    leaderLogStartOffset: number,
  ): Promise<void> {
    const p = this.#hosted(topic, partition);
    if (p.role !== "follower") return;
    const appends: Promise<unknown>[] = [];
    const own: Uint8Array[] = [];
    // After a rejection the log was cut back: appending the next batch would leave a gap.
    let rejected = false;
    for (const fetched of batches) {
      if (rejected) break;
      validateBatch(fetched, { maxBytes: Number.MAX_SAFE_INTEGER, strictCount: false });
      const batch = fetched.slice();
      const h = readBatchHeader(batch);
      if (h.lastOffset < p.log.logEndOffset) continue; // already have it
      await this.#o.cache.reserve(batch.length);
      p.log.appendAssigned(batch);
      this.#o.cache.appendReserved(p.key, batch);
      const base = h.baseOffset;
      appends.push(
        this.#o.wal.append(p.streamId, BigInt(base), batch).catch((err) => {
          rejected = true;
          if (!this.#rollbacks.rollBackFollower(p, base, err)) throw err;
          throw new KafkaProtocolError("KAFKA_STORAGE_ERROR", spaceErrorMessage(p.key, err), {
            retriable: true,
            cause: err,
          });
        }),
      );
      own.push(batch);
      // A transaction marker carries no sequence: it only moves the producer's epoch, as on
      // the leader, so a follower that takes over does not see the next batch as out of order.
      if (h.producerId >= 0 && h.isControl) p.producers.fence(h.producerId, h.producerEpoch);
      else if (h.producerId >= 0) {
        p.producers.record({
          producerId: h.producerId,
          producerEpoch: h.producerEpoch,
          baseSequence: h.baseSequence,
          lastOffsetDelta: h.lastOffsetDelta,
        }, h.baseOffset);
      }
    }
    // The next fetch tells the leader this follower has the data: it must be durable by then.
    // Rejected appends are a suffix: each cuts the log back to itself, the first one wins.
    const settled = await Promise.allSettled(appends);
    const failed = settled.find((r) => r.status === "rejected");
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    if (assignEpochsFromBatches(p.epochs, own)) await p.epochCheckpoint.save(p.epochs);
    const hw = Math.min(leaderHighWatermark, p.log.logEndOffset);
    if (hw > p.log.highWatermark) p.log.advanceHighWatermark(hw);
    if (
      leaderLogStartOffset > p.log.logStartOffset && leaderLogStartOffset <= p.log.highWatermark
    ) {
      p.log.advanceLogStartOffset(leaderLogStartOffset);
    }
    this.#o.waiter.notify(p.key);
  }

  /** Removes a divergent suffix: a durable WAL marker first, so a crash cannot resurrect it. */
  async #truncateFollower(topic: string, partition: number, offset: number): Promise<void> {
    const p = this.#hosted(topic, partition);
    if (offset >= p.log.logEndOffset) return;
    const marker = encodeTruncationMarker({ kind: "truncate", offset, leaderEpoch: p.leaderEpoch });
    await this.#o.wal.append(p.streamId, markerWalBaseOffset(offset, p.log.logEndOffset), marker);
    // Batches are never split: a batch straddling `offset` goes too.
    const { endOffset } = this.#o.cache.truncateTo(p.key, offset);
    p.log.truncateTo(Math.max(p.log.logStartOffset, endOffset));
    p.producers.clear();
    if (p.epochs.truncateFromEnd(p.log.logEndOffset)) await p.epochCheckpoint.save(p.epochs);
    this.#o.logger.warn("truncated a divergent suffix", {
      partition: p.key,
      logEndOffset: p.log.logEndOffset,
    });
  }

  /**
   * The leader's data below `offset` is in object storage: move the log end there without
   * copying. No WAL marker is needed: on restart a partition's log starts at the manifest's
   * stored end, which is at least `offset`.
   */
  async #skipFollower(
    topic: string,
    partition: number,
    offset: number,
    epoch: number,
  ): Promise<void> {
    const p = this.#hosted(topic, partition);
    if (offset <= p.log.logEndOffset) return;
    const from = p.log.logEndOffset;
    this.#o.cache.drop(p.key);
    this.#o.wal.checkpoint(p.streamId, BigInt(offset));
    p.log.skipTo(offset);
    // The next fetch names this epoch as the last one fetched, so the leader does not see a
    // divergence at the stored end (epochs above it here were never committed).
    if (epoch >= 0 && p.epochs.latestEpoch !== epoch && p.epochs.assign(epoch, offset)) {
      await p.epochCheckpoint.save(p.epochs);
    }
    this.#o.waiter.notify(p.key);
    this.#o.logger.info("follower skipped offsets held in object storage", {
      partition: p.key,
      from,
      to: offset,
      epoch,
    });
  }

  /** The leader's log starts past ours: start over at `offset` (older data is in storage). */
  async #resetFollower(topic: string, partition: number, offset: number): Promise<void> {
    const p = this.#hosted(topic, partition);
    const marker = encodeTruncationMarker({ kind: "reset", offset, leaderEpoch: p.leaderEpoch });
    await this.#o.wal.append(p.streamId, markerWalBaseOffset(offset, p.log.logEndOffset), marker);
    this.#o.cache.drop(p.key);
    p.log.resetTo(offset);
    p.producers.clear();
    p.epochs.clear();
    await p.epochCheckpoint.save(p.epochs);
    this.#o.logger.info("reset a follower log", { partition: p.key, logStartOffset: offset });
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

  /**
   * DeleteRecords: moves the log start of a partition this broker leads up to `offset` (-1: the
   * high watermark) and returns the new log start. Offsets below it are refused from then on;
   * whole objects below it are deleted. The log start lives in the object manifest, so the
   * offsets below are uploaded first (within `timeoutMs`): a restart must not bring back
   * records the WAL still holds. Followers learn the new start from their next fetch.
   */
  async deleteRecords(
    topic: string,
    partition: number,
    offset: number,
    timeoutMs: number,
  ): Promise<number> {
    const p = this.#hosted(topic, partition);
    if (p.role !== "leader") {
      throw new KafkaProtocolError("NOT_LEADER_OR_FOLLOWER", `${p.key} is led by ${p.leaderId}`, {
        retriable: true,
      });
    }
    const target = offset === -1 ? p.log.highWatermark : offset;
    if (!Number.isSafeInteger(target) || target < 0 || target > p.log.highWatermark) {
      throw new KafkaProtocolError(
        "OFFSET_OUT_OF_RANGE",
        `Cannot delete records of ${p.key} below ${offset}: the high watermark is ${p.log.highWatermark}`,
      );
    }
    if (target <= p.log.logStartOffset) return p.log.logStartOffset;
    const tiering = this.#o.tiering;
    if (tiering === undefined) {
      throw new KafkaProtocolError("INVALID_REQUEST", "Deleting records needs object storage");
    }
    const deadline = this.#o.nowMs() + Math.max(0, timeoutMs);
    while ((tiering.manifest.partition(p.key)?.uploadedEndOffset ?? -1) < target) {
      if (this.#o.nowMs() > deadline || tiering.uploadNow === undefined) {
        throw new KafkaProtocolError(
          "REQUEST_TIMED_OUT",
          `Cannot delete records of ${p.key} below ${target} yet: they are not all in object storage`,
          { retriable: true },
        );
      }
      await tiering.uploadNow();
    }
    const dropped = await tiering.manifest.advanceLogStart(p.key, target);
    if (target > p.log.logStartOffset) p.log.advanceLogStartOffset(target);
    if (p.epochs.truncateFromStart(target)) await p.epochCheckpoint.save(p.epochs);
    await tiering.deleteObjects?.(dropped);
    this.#o.logger.info("deleted records", {
      partition: p.key,
      logStartOffset: target,
      deletedObjects: dropped.length,
    });
    return p.log.logStartOffset;
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
   * It wakes when the WAL reclaims segments, not on a polling timer.
   */
  async #awaitWalSpace(): Promise<void> {
    const deadline = this.#o.nowMs() + (this.#o.walFullWaitMs ?? 2000);
    while (this.#fatal === null && this.#o.wal.stats.usedBytes > this.#o.walHighWaterBytes) {
      const leftMs = deadline - this.#o.nowMs();
      if (leftMs <= 0) break;
      await this.#o.wal.whenSpaceFreed(leftMs);
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
      const why = this.#o.walFullReason?.();
      throw new KafkaProtocolError(
        "KAFKA_STORAGE_ERROR",
        `Cannot append as the WAL is nearly full: ${used} bytes used of ${this.#o.walHighWaterBytes} allowed` +
          (why ? `, ${why}` : ""),
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

function _sameSet(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function _dup(baseOffset: number, lastOffsetDelta: number): AssignedOffsets {
  return { baseOffset, lastOffset: baseOffset + lastOffsetDelta, logAppendTimeMs: -1 };
}
