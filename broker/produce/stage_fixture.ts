/**
 * Test support for the produce stages: a hosted partition this broker (node 1) leads, with a
 * real log, producer table and leader replication on a {@linkcode ManualClock}, so stage tests
 * drive time themselves and start no real timer. Not used by the broker.
 *
 * @module
 */

import { ManualClock } from "../../ops/clock.ts";
import { PartitionLog } from "../log/partition_log.ts";
import { ProducerStateTable } from "./producer_state.ts";
import { LeaderEpochCache, LeaderEpochCheckpoint } from "../replication/leader_epoch_cache.ts";
import { LeaderReplication } from "../replication/leader_replication.ts";
import { TOPIC_CONFIG_DEFAULTS, type TopicConfig } from "../../model/topic_config.ts";
import { buildBatch } from "../../protocol/record/record_batch.ts";
import { HostedPartition } from "../hosted_partition.ts";

/** Options of {@linkcode ledPartition}. */
export interface LedPartitionOptions {
  /** @default [1] */
  readonly replicas?: readonly number[];
  /** @default the replicas */
  readonly isr?: readonly number[];
  /** @default 1 */
  readonly minInSyncReplicas?: number;
  /** @default 1000 */
  readonly ackTimeoutMs?: number;
  readonly config?: Partial<TopicConfig>;
}

/** A partition `t/0` led by node 1 at epoch 0, its clock, and the high watermarks it reported. */
export function ledPartition(options: LedPartitionOptions = {}): {
  p: HostedPartition;
  clock: ManualClock;
  highWatermarks: number[];
} {
  const clock = new ManualClock(1_000);
  const replicas = options.replicas ?? [1];
  const isr = options.isr ?? replicas;
  const highWatermarks: number[] = [];
  let text: string | null = null;
  const p = new HostedPartition({
    key: "t/0",
    topic: "t",
    partition: 0,
    streamId: 7,
    log: new PartitionLog({ nowMs: () => clock.nowMs(), timestampType: "CreateTime" }),
    producers: new ProducerStateTable(),
    config: { ...TOPIC_CONFIG_DEFAULTS, ...options.config },
    epochs: new LeaderEpochCache(),
    epochCheckpoint: new LeaderEpochCheckpoint({
      load: () => Promise.resolve(text),
      save: (t) => Promise.resolve(void (text = t)),
    }),
  });
  const replication = new LeaderReplication({
    leaderId: 1,
    replicas,
    isr,
    leaderEpoch: 0,
    leaderEpochStartOffset: 0,
    logEndOffset: 0,
    highWatermark: 0,
    maxLagMessages: 1000,
    maxLagTimeMs: 10_000,
    minInSyncReplicas: options.minInSyncReplicas ?? 1,
    ackTimeoutMs: options.ackTimeoutMs ?? 1000,
    clock,
    onAlterIsr: () => {},
    onHighWatermark: (hw) => {
      highWatermarks.push(hw);
      if (hw > p.log.highWatermark) p.log.advanceHighWatermark(Math.min(hw, p.log.logEndOffset));
    },
  });
  p.become({ kind: "leader", leaderId: 1, leaderEpoch: 0, replicas, replication });
  return { p, clock, highWatermarks };
}

/** A batch of `records` one-byte records; idempotent when `producerId` >= 0. */
export async function stageBatch(
  records: number,
  options: { producerId?: number; baseSequence?: number; control?: boolean } = {},
): Promise<Uint8Array> {
  const producerId = options.producerId ?? -1;
  return await buildBatch(
    Array.from({ length: records }, (_, i) => ({ value: new Uint8Array([i]), timestamp: 1 })),
    {
      producerId,
      producerEpoch: producerId < 0 ? -1 : 0,
      baseSequence: options.baseSequence ?? (producerId < 0 ? -1 : 0),
      ...(options.control === true ? { control: true, transactional: true } : {}),
    },
  );
}
