/**
 * One partition as this broker hosts it: its log, producer state, role and replication state.
 * The partition manager owns these; produce stages and append rollbacks read them.
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
  role: ReplicaRole;
  leaderId: number;
  leaderEpoch: number;
  replicas: readonly number[];
  isr: readonly number[];
  readonly epochs: LeaderEpochCache;
  readonly epochCheckpoint: LeaderEpochCheckpoint;
  /** The leader's replication state; null unless this broker leads the partition. */
  leader: LeaderReplication | null;
}
