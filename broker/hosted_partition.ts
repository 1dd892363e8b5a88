/**
 * One partition as this broker hosts it: its log, producer state, and its part in replication.
 * The part in replication is one value, {@linkcode PartitionRole}: a leader's holds its
 * replication state (whose tracker owns the committed ISR), a follower's the leader it follows
 * and the ISR the metadata gave, so role, leader, epoch and ISR cannot drift apart. The
 * partition registry (`partition_manager.ts`) changes the role; stages, handlers and metrics
 * read it.
 *
 * @module
 */

import type { PartitionLog } from "./log/partition_log.ts";
import type { ProducerStateTable } from "./produce/producer_state.ts";
import type { TopicConfig } from "../model/topic_config.ts";
import type { LeaderEpochCache, LeaderEpochCheckpoint } from "./replication/leader_epoch_cache.ts";
import type { LeaderReplication } from "./replication/leader_replication.ts";

/** A partition's part in replication on this broker. */
export type ReplicaRole = "leader" | "follower" | "offline";

/** What a partition is to this broker in replication, with the state that role owns. */
export type PartitionRole =
  | {
    readonly kind: "leader";
    /** This broker's node id. */
    readonly leaderId: number;
    readonly leaderEpoch: number;
    readonly replicas: readonly number[];
    /** The leader's replication state; its tracker holds the committed ISR. */
    readonly replication: LeaderReplication;
  }
  | {
    readonly kind: "follower" | "offline";
    /** The leader followed, or -1 while offline. */
    readonly leaderId: number;
    readonly leaderEpoch: number;
    readonly replicas: readonly number[];
    /** The ISR as the metadata last gave it. */
    readonly isr: readonly number[];
  };

/** The parts a hosted partition is made of. */
export interface HostedPartitionParts {
  readonly key: string;
  readonly topic: string;
  readonly partition: number;
  readonly streamId: number;
  readonly log: PartitionLog;
  readonly producers: ProducerStateTable;
  readonly config: Readonly<TopicConfig>;
  readonly epochs: LeaderEpochCache;
  readonly epochCheckpoint: LeaderEpochCheckpoint;
}

/** One hosted partition; it starts offline and takes its role from the metadata. */
export class HostedPartition {
  readonly key: string;
  readonly topic: string;
  readonly partition: number;
  readonly streamId: number;
  readonly log: PartitionLog;
  readonly producers: ProducerStateTable;
  config: Readonly<TopicConfig>;
  /** Resolves when every append submitted so far is durable (or failed). */
  durable: Promise<void> = Promise.resolve();
  readonly epochs: LeaderEpochCache;
  readonly epochCheckpoint: LeaderEpochCheckpoint;
  #role: PartitionRole = { kind: "offline", leaderId: -1, leaderEpoch: -1, replicas: [], isr: [] };

  constructor(parts: HostedPartitionParts) {
    this.key = parts.key;
    this.topic = parts.topic;
    this.partition = parts.partition;
    this.streamId = parts.streamId;
    this.log = parts.log;
    this.producers = parts.producers;
    this.config = parts.config;
    this.epochs = parts.epochs;
    this.epochCheckpoint = parts.epochCheckpoint;
  }

  /** The role with the state it owns. */
  get roleState(): PartitionRole {
    return this.#role;
  }

  get role(): ReplicaRole {
    return this.#role.kind;
  }

  /** The leader: this broker when it leads, the one followed, or -1 while offline. */
  get leaderId(): number {
    return this.#role.leaderId;
  }

  get leaderEpoch(): number {
    return this.#role.leaderEpoch;
  }

  get replicas(): readonly number[] {
    return this.#role.replicas;
  }

  /** The committed ISR: the leader's tracker's, or the metadata's on a follower. */
  get isr(): readonly number[] {
    const r = this.#role;
    return r.kind === "leader" ? r.replication.tracker.isr : r.isr;
  }

  /** The leader's replication state; null unless this broker leads the partition. */
  get leader(): LeaderReplication | null {
    const r = this.#role;
    return r.kind === "leader" ? r.replication : null;
  }

  /**
   * Takes `role`. Leaving the leader role (or replacing its replication state) closes the old
   * replication state, so its pending acks fail with NOT_LEADER_OR_FOLLOWER.
   */
  become(role: PartitionRole): void {
    const was = this.#role;
    if (was.kind === "leader" && (role.kind !== "leader" || role.replication !== was.replication)) {
      was.replication.close();
    }
    this.#role = role;
  }
}
