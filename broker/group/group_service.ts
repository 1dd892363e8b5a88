/**
 * The broker's group coordinator service: the thin driver around the sans-IO
 * {@linkcode GroupCoordinator} and {@linkcode OffsetStore}. It owns the real timers, writes
 * commits to the internal `__consumer_offsets` topic through the partition manager, rebuilds the
 * offset cache from that topic at start-up, and expires offsets of groups that stay Empty.
 *
 * One service lives as long as its broker; route handlers reach it as `ctx.broker.groups`.
 *
 * @module
 */

import { type Clock, systemClock, type TimerHandle } from "../../ops/clock.ts";
import { systemRandom } from "../../ops/random.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import { buildBatch, decodeRecords } from "../../protocol/record/record_batch.ts";
import type { ClusterMetadata, TopicMeta } from "../../model/cluster_metadata.ts";
import type { PartitionManager } from "../partition_manager.ts";
import { KafkaProtocolError } from "../broker_errors.ts";
import type { Logger } from "../../ops/logger.ts";
import { GroupCoordinator } from "./group_coordinator.ts";
import type { CommitIdentity } from "./group_types.ts";
import {
  type OffsetCommitEntry,
  type OffsetCommitOutcome,
  type OffsetLog,
  type OffsetLogRecord,
  OffsetStore,
} from "./offset_store.ts";

/** The internal topic that holds committed offsets. */
export const OFFSETS_TOPIC = "__consumer_offsets";

/** Tunables of the group coordinator, with Kafka's names in the docs. */
export interface GroupServiceOptions {
  /** `offsets.topic.num.partitions`, used when the internal topic is created. @default 50 */
  readonly offsetsTopicPartitions?: number;
  /** `offsets.retention.minutes`, in ms: offsets of a group Empty this long expire. @default 7 days */
  readonly offsetsRetentionMs?: number;
  /** `offsets.retention.check.interval.ms`. @default 600000 */
  readonly offsetsRetentionCheckIntervalMs?: number;
  /** `group.min.session.timeout.ms`. @default 6000 */
  readonly sessionTimeoutMinMs?: number;
  /** `group.max.session.timeout.ms`. @default 1800000 */
  readonly sessionTimeoutMaxMs?: number;
  /** `group.initial.rebalance.delay.ms`. @default 3000 */
  readonly initialRebalanceDelayMs?: number;
  /** `group.max.size`. @default 1000 */
  readonly groupSizeMax?: number;
  /** Bytes read per step when loading the internal topic. @default 1048576 */
  readonly loadReadBytesMax?: number;
}

/** What the service needs from its broker. */
export interface GroupServiceDeps {
  readonly nodeId: number;
  readonly metadata: ClusterMetadata;
  readonly partitions: PartitionManager;
  readonly logger: Logger;
  /** Replication factor of the internal topic when the service creates it. */
  readonly replicationFactor: number;
  /** @default real time */
  readonly timers?: Clock;
  /** @default systemRandom.uuid */
  readonly newId?: () => string;
}

/** Where a group's coordinator is, for FindCoordinator. */
export interface CoordinatorLocation {
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
}

const _DAY_MS = 24 * 60 * 60 * 1000;

/** The group coordinator of one broker. */
export class GroupService {
  readonly coordinator: GroupCoordinator;
  readonly offsets: OffsetStore;
  readonly #deps: GroupServiceDeps;
  readonly #timers: Clock;
  readonly #retentionMs: number;
  readonly #checkIntervalMs: number;
  readonly #topicPartitions: number;
  #expiryTimer: TimerHandle | null = null;
  #topicCreation: Promise<TopicMeta> | null = null;
  #closed = false;

  private constructor(deps: GroupServiceDeps, options: GroupServiceOptions, partitions: number) {
    this.#deps = deps;
    this.#timers = deps.timers ?? systemClock;
    this.#retentionMs = _int("offsetsRetentionMs", options.offsetsRetentionMs, 7 * _DAY_MS, 1);
    this.#checkIntervalMs = _int(
      "offsetsRetentionCheckIntervalMs",
      options.offsetsRetentionCheckIntervalMs,
      600_000,
      1,
    );
    this.#topicPartitions = partitions;
    this.coordinator = new GroupCoordinator({
      timers: this.#timers,
      newId: deps.newId ?? (() => systemRandom.uuid()),
      sessionTimeoutMinMs: options.sessionTimeoutMinMs,
      sessionTimeoutMaxMs: options.sessionTimeoutMaxMs,
      initialRebalanceDelayMs: options.initialRebalanceDelayMs,
      groupSizeMax: options.groupSizeMax,
    });
    const log: OffsetLog = { append: (p, records) => this.#append(p, records) };
    this.offsets = new OffsetStore({ log, partitions });
  }

  /**
   * Starts the service: rebuilds committed offsets from the internal topic (if it exists) and
   * arms the offset-expiry check. Call after the partition manager has recovered.
   */
  static async start(
    deps: GroupServiceDeps,
    options: GroupServiceOptions = {},
  ): Promise<GroupService> {
    const configured = _int("offsetsTopicPartitions", options.offsetsTopicPartitions, 50, 1);
    // An existing topic decides: group-to-partition mapping must not change under a restart.
    const existing = deps.metadata.topic(OFFSETS_TOPIC);
    const svc = new GroupService(deps, options, existing?.partitions.length ?? configured);
    const readBytesMax = _int("loadReadBytesMax", options.loadReadBytesMax, 1 << 20, 1);
    if (existing !== undefined) await svc.#load(readBytesMax);
    svc.#armExpiry();
    return svc;
  }

  /** Whether this broker coordinates `groupId` (it leads the group's offsets partition). */
  isCoordinatorFor(groupId: string): boolean {
    if (this.#closed) return false;
    const t = this.#deps.metadata.topic(OFFSETS_TOPIC);
    if (t === undefined) return true;
    return t.partitions[this.offsets.partitionFor(groupId)]?.leader === this.#deps.nodeId;
  }

  /** The broker that coordinates `groupId`, creating the internal topic on first use. */
  async locate(groupId: string): Promise<CoordinatorLocation | number> {
    if (this.#closed) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    let topic: TopicMeta;
    try {
      topic = await this.ensureOffsetsTopic();
    } catch (err) {
      this.#deps.logger.warn("cannot create the offsets topic", { err: err as Error });
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
    const leader = topic.partitions[this.offsets.partitionFor(groupId)]?.leader ?? -1;
    const b = this.#deps.metadata.brokers().find((x) => x.nodeId === leader);
    if (b === undefined) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    return { nodeId: b.nodeId, host: b.host, port: b.port };
  }

  /**
   * The internal topic, created if missing: the configured partitions, the broker's default
   * replication factor, `cleanup.policy=compact` and no time retention.
   */
  ensureOffsetsTopic(): Promise<TopicMeta> {
    const existing = this.#deps.metadata.topic(OFFSETS_TOPIC);
    if (existing !== undefined) return Promise.resolve(existing);
    // Concurrent first commits share one creation.
    this.#topicCreation ??= this.#createTopic().finally(() => (this.#topicCreation = null));
    return this.#topicCreation;
  }

  async #createTopic(): Promise<TopicMeta> {
    const d = this.#deps;
    try {
      const t = await d.metadata.createTopic(
        OFFSETS_TOPIC,
        this.#topicPartitions,
        d.replicationFactor,
        // Time retention would delete the only record of an idle group's offset; compaction
        // (cleanup.policy) is what bounds this topic, and expiry writes tombstones for it.
        { "cleanup.policy": "compact", "retention.ms": "-1" },
      );
      await d.partitions.syncWithMetadata();
      d.logger.info("created the offsets topic", { partitions: t.partitions.length });
      return t;
    } catch (err) {
      const raced = d.metadata.topic(OFFSETS_TOPIC);
      if (raced !== undefined) return raced;
      throw err;
    }
  }

  /** Authorises a commit with the coordinator, then makes it durable. */
  async commitOffsets(
    who: CommitIdentity,
    entries: readonly OffsetCommitEntry[],
  ): Promise<OffsetCommitOutcome[] | number> {
    const err = this.coordinator.validateCommit(who);
    if (err !== ErrorCode.NONE) return err;
    return await this.offsets.commit(who.groupId, entries, this.#timers.nowMs());
  }

  /** DeleteGroups for one group: only Empty groups; their offsets are tombstoned. */
  async deleteGroup(groupId: string): Promise<number> {
    const known = this.coordinator.stateOf(groupId) !== undefined;
    if (!known && !this.offsets.hasOffsets(groupId)) return ErrorCode.GROUP_ID_NOT_FOUND;
    if (known) {
      const state = this.coordinator.stateOf(groupId);
      if (state !== "Empty") return ErrorCode.NON_EMPTY_GROUP;
    }
    const err = await this.offsets.deleteGroup(groupId);
    if (err !== ErrorCode.NONE) return err;
    // The group may have gained members while the tombstones were written.
    const deleted = this.coordinator.deleteGroup(groupId);
    return deleted === ErrorCode.GROUP_ID_NOT_FOUND ? ErrorCode.NONE : deleted;
  }

  /** Expires the offsets of groups that have been Empty longer than the retention. */
  async expireOffsets(): Promise<number> {
    const c = this.coordinator;
    const emptied = await this.offsets.expire(this.#timers.nowMs(), (groupId, committedMs) => {
      const state = c.stateOf(groupId);
      if (state !== undefined && state !== "Empty") return null;
      return Math.max(committedMs, c.stateSinceMs(groupId) ?? 0) + this.#retentionMs;
    });
    for (const groupId of emptied) c.deleteGroup(groupId);
    if (emptied.length > 0) this.#deps.logger.info("expired group offsets", { groups: emptied });
    // As in Kafka's cleanup cycle, Empty groups without offsets are forgotten, so groups of
    // one-off consumers do not pile up in memory.
    for (const g of c.list(["Empty"])) {
      if (!this.offsets.hasOffsets(g.groupId)) c.deleteGroup(g.groupId);
    }
    return emptied.length;
  }

  #armExpiry(): void {
    this.#expiryTimer = this.#timers.setTimer(this.#checkIntervalMs, () => {
      this.#expiryTimer = null;
      if (this.#closed) return;
      this.expireOffsets().catch((err) => {
        this.#deps.logger.error("offset expiry failed", { err: err as Error });
      }).finally(() => {
        if (!this.#closed) this.#armExpiry();
      });
    });
  }

  async #append(partition: number, records: readonly OffsetLogRecord[]): Promise<void> {
    if (this.#closed) {
      throw new KafkaProtocolError(
        "NOT_COORDINATOR",
        "Cannot append offsets as the group coordinator has shut down",
        { retriable: true },
      );
    }
    await this.ensureOffsetsTopic();
    const now = this.#timers.nowMs();
    const batch = await buildBatch(
      records.map((r) => ({ key: r.key, value: r.value, timestamp: now })),
    );
    await this.#deps.partitions.produce(OFFSETS_TOPIC, partition, batch);
  }

  /** Replays every partition of the internal topic into the offset cache. */
  /**
   * Reloads one partition of the offsets topic when this broker becomes its leader (after a
   * failover), so the new coordinator serves the offsets the old one committed.
   */
  async reloadPartition(partition: number, readBytesMax = 1024 * 1024): Promise<void> {
    try {
      const records = await this.#loadPartition(partition, readBytesMax);
      for (const groupId of this.offsets.groups()) {
        if (this.offsets.partitionFor(groupId) !== partition) continue;
        this.coordinator.ensureGroup(groupId, this.offsets.lastCommitMs(groupId));
      }
      this.#deps.logger.info("took over committed offsets", { partition, records });
    } catch (err) {
      this.#deps.logger.error("cannot reload committed offsets of a partition", {
        partition,
        err: err as Error,
      });
    }
  }

  async #load(readBytesMax: number): Promise<void> {
    let records = 0;
    for (let p = 0; p < this.offsets.partitionCount; p++) {
      try {
        records += await this.#loadPartition(p, readBytesMax);
      } catch (err) {
        // The broker still serves: the groups of this partition start without the offsets that
        // could not be read, which consumers see as "no committed offset".
        this.#deps.logger.error("cannot load committed offsets of a partition", {
          partition: p,
          err: err as Error,
        });
      }
    }
    // Membership is not persisted: a loaded group is Empty, since its last commit at the latest.
    for (const groupId of this.offsets.groups()) {
      this.coordinator.ensureGroup(groupId, this.offsets.lastCommitMs(groupId));
    }
    this.#deps.logger.info("loaded committed offsets", {
      records,
      groups: this.offsets.groups().length,
    });
  }

  async #loadPartition(partition: number, readBytesMax: number): Promise<number> {
    const pm = this.#deps.partitions;
    const hosted = pm.get(OFFSETS_TOPIC, partition);
    if (hosted === undefined) return 0;
    let offset = hosted.log.logStartOffset;
    let records = 0;
    while (offset < hosted.log.highWatermark) {
      const read = await pm.read(OFFSETS_TOPIC, partition, offset, readBytesMax);
      // Nothing readable below the high watermark means the log has a hole: stop, not spin.
      if (read.batches.length === 0) break;
      for (const bytes of read.batches) {
        const batch = await decodeRecords(bytes);
        for (const r of batch.records) this.offsets.replay(r.key, r.value);
        records += batch.records.length;
        offset = batch.header.lastOffset + 1;
      }
    }
    return records;
  }

  /** Stops timers and answers parked JoinGroup/SyncGroup requests with NOT_COORDINATOR. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#expiryTimer !== null) this.#timers.clearTimer(this.#expiryTimer);
    this.#expiryTimer = null;
    this.coordinator.shutdown(ErrorCode.NOT_COORDINATOR);
  }
}

function _int(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min) {
    throw new RangeError(`Cannot start GroupService as ${name} is ${v}: it must be >= ${min}`);
  }
  return v;
}
