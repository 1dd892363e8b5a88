/**
 * The registry of the partitions this broker hosts: hosting and unhosting them as the metadata
 * says, recovering them from the WAL, and changing their roles (leader, follower, offline). The
 * work each role does lives beside it, on the hosted partition it is given:
 * - the leader's writes, in the produce pipeline (`produce/produce_pipeline.ts`);
 * - the leader's reads (fetch, replica fetch, timestamps, DeleteRecords), in `leader_role.ts`;
 * - the follower's appends, truncations and skips, in `follower_role.ts`.
 * This class finds the partition (UNKNOWN_TOPIC_OR_PARTITION when it is not hosted) and hands it on.
 *
 * @module
 */

import { readBatchHeader } from "../protocol/record/record_batch.ts";
import type { ProduceTransform } from "./produce/transform_stage.ts";
import { PartitionLog } from "./log/partition_log.ts";
import { type LogCache, partitionKey } from "./log/log_cache.ts";
import type { Wal } from "./wal/wal.ts";
import type { RecoveredEntry } from "./wal/wal_recovery.ts";
import { ProducerStateTable } from "./produce/producer_state.ts";
import { ProducePipeline, type ProduceResult } from "./produce/produce_pipeline.ts";
import { AppendGate } from "./produce/wal_append_stage.ts";
import type { FetchWaiter } from "./fetch/fetch_waiter.ts";
import type { StreamRegistry } from "./stream_registry.ts";
import type { ClusterMetadata, TopicMeta } from "../model/cluster_metadata.ts";
import { KafkaProtocolError } from "./broker_errors.ts";
import { AppendRollbacks } from "./append_rollback.ts";
import type { Logger } from "../ops/logger.ts";
import type { ObjectRange } from "./tiering/stream_object.ts";
import type { TimestampOffset } from "./log/partition_log.ts";
import type { PartitionMeta } from "../model/cluster_metadata.ts";
import {
  assignEpochsFromBatches,
  LeaderEpochCheckpoint,
} from "./replication/leader_epoch_cache.ts";
import { LeaderReplication, type ReplicationClock } from "./replication/leader_replication.ts";
import type { ReplicaFetcherManager } from "./replication/replica_fetcher_manager.ts";
import type { FollowerSink } from "./replication/replica_fetcher.ts";
import { applyTruncations } from "./replication/wal_truncation.ts";
import { fileMetadataPersistence, type MetadataPersistence } from "./metadata/local_metadata.ts";
import { HostedPartition } from "./hosted_partition.ts";
import { type FetchRead, LeaderRole, type ReplicaRead, type Tiering } from "./leader_role.ts";
import { FollowerRole, learnProducerState } from "./follower_role.ts";

export type { FetchRead, ReplicaRead, Tiering };

export { HostedPartition } from "./hosted_partition.ts";
export type { PartitionRole, ReplicaRole } from "./hosted_partition.ts";

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

export type { ProduceResult };

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
  #syncChain: Promise<void> = Promise.resolve();
  #fetchers: ReplicaFetcherManager | null = null;
  readonly #leadershipListeners: ((p: HostedPartition) => void)[] = [];

  readonly #rollbacks: AppendRollbacks;
  readonly #gate: AppendGate;
  readonly #pipeline: ProducePipeline;
  readonly #leading: LeaderRole;
  readonly #following: FollowerRole;

  constructor(options: PartitionManagerOptions) {
    this.#o = options;
    this.#gate = new AppendGate({
      wal: options.wal,
      highWaterBytes: options.walHighWaterBytes,
      ...(options.walFullReason === undefined ? {} : { fullReason: options.walFullReason }),
      ...(options.walFullWaitMs === undefined ? {} : { fullWaitMs: options.walFullWaitMs }),
      nowMs: options.nowMs,
      logger: options.logger,
    });
    this.#rollbacks = new AppendRollbacks(options.cache, options.logger, (e) => this.#gate.fail(e));
    this.#pipeline = new ProducePipeline({
      nodeId: options.replication.nodeId,
      wal: options.wal,
      cache: options.cache,
      waiter: options.waiter,
      gate: this.#gate,
      rollbacks: this.#rollbacks,
      ...(options.transform === undefined ? {} : { transform: options.transform }),
      stillHosted: (p) => this.#partitions.get(p.key) === p,
    });
    this.#leading = new LeaderRole({
      cache: options.cache,
      ...(options.tiering === undefined ? {} : { tiering: options.tiering }),
      rollbacks: this.#rollbacks,
      logger: options.logger,
      nowMs: options.nowMs,
    });
    this.#following = new FollowerRole({
      wal: options.wal,
      cache: options.cache,
      waiter: options.waiter,
      rollbacks: this.#rollbacks,
      logger: options.logger,
    });
  }

  /** The fatal storage error that stopped appends, if any. */
  get fatalError(): Error | null {
    return this.#gate.fatalError;
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
    for (const batch of batches) learnProducerState(p, batch);
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
    await this.#fetchers?.unfollow(p.topic, p.partition);
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
    const p = new HostedPartition({
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
      epochs: await epochCheckpoint.load(),
      epochCheckpoint,
    });
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
    if (pm.leader === me) {
      // A reassignment changes the replica set under the same leader: the leader's tracker is
      // rebuilt so it follows the new replicas (in-flight acks are retried by producers).
      if (p.role !== "leader" || p.leaderEpoch !== pm.leaderEpoch || replicasChanged) {
        await this.#becomeLeader(p, pm);
      } else if (isrChanged) {
        this.#o.logger.info("ISR changed in the metadata", {
          partition: p.key,
          epoch: pm.leaderEpoch,
          from: p.isr,
          isr: pm.isr,
        });
        p.leader?.isrCommitted(pm.isr);
      }
      return;
    }
    const membership = { leaderEpoch: pm.leaderEpoch, replicas: pm.replicas, isr: pm.isr };
    if (pm.leader < 0) {
      p.become({ kind: "offline", leaderId: -1, ...membership });
      await this.#fetchers?.unfollow(p.topic, p.partition);
      return;
    }
    if (p.role !== "follower" || p.leaderId !== pm.leader || p.leaderEpoch !== pm.leaderEpoch) {
      // Another leader's fetcher may still be applying its last fetch to this partition: it
      // finishes before the new leader's fetcher looks at the log.
      if (p.role === "follower" && p.leaderId !== pm.leader) {
        await this.#fetchers?.unfollow(p.topic, p.partition);
      }
      this.#becomeFollower(p, pm);
    } else {
      // The same leader and epoch: only the replica set or the ISR the metadata gives changed.
      p.become({ kind: "follower", leaderId: pm.leader, ...membership });
    }
  }

  async #becomeLeader(p: HostedPartition, pm: PartitionMeta): Promise<void> {
    // The follower's last fetch may still be being applied (an append waiting for the WAL):
    // it must land before the epoch starts. Finishing later, it would append below the new
    // epoch's start offset and assign its batches' older epoch in the epoch cache, which
    // erases the new epoch (entries above a re-assigned epoch are dropped as truncated); the
    // leader then answered every follower fetch of the new epoch with an undefined divergence,
    // never counted them, and the ISR shrank to the leader alone for good.
    await this.#fetchers?.unfollow(p.topic, p.partition);
    // A leader taking a new epoch stops serving while the epoch is recorded: an append under the
    // old epoch would land past the new epoch's start offset.
    if (p.role === "leader") {
      p.become({
        kind: "offline",
        leaderId: -1,
        leaderEpoch: p.leaderEpoch,
        replicas: p.replicas,
        isr: p.isr,
      });
    }
    const leo = p.log.logEndOffset;
    if (p.epochs.assign(pm.leaderEpoch, leo)) await p.epochCheckpoint.save(p.epochs);
    if (pm.leaderEpoch > p.log.leaderEpoch) p.log.setLeaderEpoch(pm.leaderEpoch);
    const r = this.#o.replication;
    const replication = new LeaderReplication({
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
    p.become({
      kind: "leader",
      leaderId: r.nodeId,
      leaderEpoch: pm.leaderEpoch,
      replicas: pm.replicas,
      replication,
    });
    // Everything in the log is durable here (followers append durably), which may already move
    // the high watermark, at once on a single replica.
    replication.leaderDurable(leo);
    for (const listener of this.#leadershipListeners) listener(p);
    this.#o.logger.info("leading partition", {
      partition: p.key,
      epoch: pm.leaderEpoch,
      logEndOffset: leo,
      replicas: pm.replicas,
      isr: pm.isr,
    });
  }

  #becomeFollower(p: HostedPartition, pm: PartitionMeta): void {
    p.become({
      kind: "follower",
      leaderId: pm.leader,
      leaderEpoch: pm.leaderEpoch,
      replicas: pm.replicas,
      isr: pm.isr,
    });
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
    const proposer = p.leader;
    this.#o.logger.info("proposing an ISR change", { partition: p.key, isr, epoch: leaderEpoch });
    alter.call(this.#o.metadata, p.topic, p.partition, leaderEpoch, isr).then(
      () => {
        // The answer can arrive after a newer metadata update was applied: the commit that
        // completes a reassignment rebuilds the tracker for the new replica set (seen in a
        // drain: ISR [1,2,3,4] installed on a tracker of replicas [2,3,4], so the HW waited
        // on a replica that no longer fetches), or the controller dropped a fenced broker.
        // Installing the proposed ISR then is stale; the metadata cache, which the write
        // waited for, holds the committed one.
        if (p.leader !== proposer || proposer === null) return;
        const pm = this.#o.metadata.topic(p.topic)?.partitions[p.partition];
        const me = this.#o.replication.nodeId;
        this.#o.logger.info("ISR change answered", {
          partition: p.key,
          proposed: isr,
          isr: pm?.isr,
          epoch: pm?.leaderEpoch,
        });
        if (pm?.leader === me && pm.leaderEpoch === leaderEpoch && pm.isr.includes(me)) {
          proposer.isrCommitted(pm.isr);
        } else proposer.isrChangeFailed();
      },
      (err: unknown) => {
        this.#o.logger.warn("ISR change refused", { partition: p.key, isr, err: err as Error });
        if (p.leader === proposer) proposer?.isrChangeFailed();
      },
    );
  }

  /**
   * Appends one RecordBatch to a partition; resolves once it is durable in the WAL. `owned`
   * hands `records` over: nothing else reads or writes its buffer afterwards, so the log cache
   * may keep it instead of a copy.
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
    options: { readonly marker?: boolean; readonly owned?: boolean } = {},
  ): Promise<ProduceResult> {
    const p = this.#hosted(topic, partition);
    return await this.#pipeline.produce(
      p,
      records,
      acks,
      options.marker === true,
      options.owned === true,
    );
  }

  /**
   * Reads whole batches from `offset`, at most `maxBytes` (but at least one batch), below the
   * high watermark (or below `stableOffset`, a read_committed consumer's last stable offset).
   * See {@linkcode LeaderRole.read}.
   *
   * @throws {KafkaProtocolError} UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER,
   *   OFFSET_OUT_OF_RANGE
   */
  async read(
    topic: string,
    partition: number,
    offset: number,
    maxBytes: number,
    stableOffset?: (highWatermark: number) => number,
  ): Promise<FetchRead> {
    const p = this.#hosted(topic, partition);
    return await this.#leading.read(p, offset, maxBytes, stableOffset);
  }

  /**
   * Committed batches (below the high watermark) from `offset`, on a leader or a follower, for
   * the broker's own readers (the transaction index): from the log cache, else object storage.
   * `nextOffset` is where the next read starts. Null when nothing holds `offset` (yet).
   */
  async readCommitted(
    p: HostedPartition,
    offset: number,
    maxBytes: number,
  ): Promise<{ batches: Uint8Array[]; nextOffset: number } | null> {
    const hw = p.log.highWatermark;
    if (offset >= hw) return { batches: [], nextOffset: offset };
    const hit = this.#o.cache.read(p.key, offset, maxBytes) ??
      await this.#o.tiering?.reader.read(p.key, offset, maxBytes) ?? null;
    if (hit === null) return null;
    const batches: Uint8Array[] = [];
    let nextOffset = Math.min(hit.nextOffset, hw);
    for (const b of hit.batches) {
      const h = readBatchHeader(b);
      if (h.baseOffset >= hw) break;
      batches.push(b);
      nextOffset = h.lastOffset + 1;
    }
    return { batches, nextOffset };
  }

  /**
   * A follower's Fetch from this leader. See {@linkcode LeaderRole.readForReplica}.
   *
   * @throws {KafkaProtocolError} UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER,
   *   FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, OFFSET_OUT_OF_RANGE
   */
  async readForReplica(
    topic: string,
    partition: number,
    replicaId: number,
    fetch: { fetchOffset: number; currentLeaderEpoch: number; lastFetchedEpoch: number },
    maxBytes: number,
  ): Promise<ReplicaRead> {
    const p = this.#hosted(topic, partition);
    return await this.#leading.readForReplica(p, replicaId, fetch, maxBytes);
  }

  /** The first offset at or after `timestampMs`. See {@linkcode LeaderRole.offsetForTimestamp}. */
  async offsetForTimestamp(
    p: HostedPartition,
    timestampMs: number,
  ): Promise<TimestampOffset | null> {
    return await this.#leading.offsetForTimestamp(p, timestampMs);
  }

  /**
   * DeleteRecords on a partition this broker leads. See {@linkcode LeaderRole.deleteRecords}.
   *
   * @throws {KafkaProtocolError} UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER,
   *   OFFSET_OUT_OF_RANGE, INVALID_REQUEST, REQUEST_TIMED_OUT
   */
  async deleteRecords(
    topic: string,
    partition: number,
    offset: number,
    timeoutMs: number,
  ): Promise<number> {
    const p = this.#hosted(topic, partition);
    return await this.#leading.deleteRecords(p, offset, timeoutMs);
  }

  /** The partition's ranges in object storage, in offset order. */
  storedRanges(p: HostedPartition): ObjectRange[] {
    return this.#leading.storedRanges(p);
  }

  /** The partition's cached batches in offset order (for timestamp lookups). */
  cachedBatches(p: HostedPartition): Iterable<Uint8Array> {
    return this.#leading.cachedBatches(p);
  }

  /** What the replica fetchers call to apply what they fetched, through the follower role. */
  followerSink(): FollowerSink {
    const f = this.#following;
    return {
      view: (t, i) => {
        const p = this.#partitions.get(partitionKey(t, i));
        return p === undefined ? undefined : f.view(p);
      },
      // Async, so an unhosted partition is a rejection, as the fetcher expects.
      appendAsFollower: async (t, i, batches, hw, start) =>
        await f.append(this.#hosted(t, i), batches, hw, start),
      truncateTo: async (t, i, offset) => await f.truncateTo(this.#hosted(t, i), offset),
      resetTo: async (t, i, offset) => await f.resetTo(this.#hosted(t, i), offset),
      skipTo: async (t, i, offset, epoch) => await f.skipTo(this.#hosted(t, i), offset, epoch),
      requestMetadataRefresh: (reason) => {
        this.#o.logger.debug("replica fetcher asked for fresh metadata", { reason });
        void this.syncWithMetadata();
      },
    };
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
}

function _sameSet(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
