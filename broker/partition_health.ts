/**
 * A read-only view of the hosted partitions for metrics and health checks: what each partition's
 * role and replication state look like now, without handing out the mutable partition or its
 * leader's tracker. Gauges read this at scrape time.
 *
 * @module
 */

import type { HostedPartition, ReplicaRole } from "./hosted_partition.ts";

/** Replication state of a partition this broker leads. */
export interface LeaderHealth {
  /** Members of the ISR, the leader included. */
  readonly isrSize: number;
  /** True while the ISR is smaller than the replica set. */
  readonly underReplicated: boolean;
  /** Offsets each follower is behind the leader's log end, by replica id. */
  readonly followerLags: ReadonlyMap<number, number>;
}

/** One hosted partition, as metrics see it. */
export interface PartitionHealth {
  readonly topic: string;
  readonly partition: number;
  readonly role: ReplicaRole;
  /** Null unless this broker leads the partition. */
  readonly leading: LeaderHealth | null;
}

/** What metrics read of the partitions. */
export interface PartitionsHealthView {
  /** Partitions hosted here. */
  readonly count: number;
  /** Each hosted partition, read now. */
  all(): Iterable<PartitionHealth>;
  /** The high watermark of a hosted partition, or undefined. */
  highWatermark(topic: string, partition: number): number | undefined;
  /** The storage failure that stopped appends, if any. */
  readonly fatalError: Error | null;
}

/** The health of one partition, read now. */
export function healthOf(p: HostedPartition): PartitionHealth {
  const tracker = p.leader?.tracker;
  return {
    topic: p.topic,
    partition: p.partition,
    role: p.role,
    leading: tracker === undefined ? null : {
      isrSize: tracker.isr.length,
      underReplicated: tracker.underReplicated,
      followerLags: tracker.followerLags(),
    },
  };
}

/**
 * The view over a partition registry.
 *
 * @example
 * ```ts
 * import { partitionsHealth } from "./partition_health.ts";
 * const view = partitionsHealth({ partitions: () => [].values(), get: () => undefined, fatalError: null });
 * console.assert(view.count === 0 && view.highWatermark("t", 0) === undefined);
 * ```
 */
export function partitionsHealth(registry: {
  partitions(): IterableIterator<HostedPartition>;
  get(topic: string, partition: number): HostedPartition | undefined;
  readonly fatalError: Error | null;
}): PartitionsHealthView {
  return {
    get count() {
      let n = 0;
      for (const _ of registry.partitions()) n++;
      return n;
    },
    *all() {
      for (const p of registry.partitions()) yield healthOf(p);
    },
    highWatermark: (topic, partition) => registry.get(topic, partition)?.log.highWatermark,
    get fatalError() {
      return registry.fatalError;
    },
  };
}
