/**
 * Chooses the partition of a record: keyed records hash with murmur2 exactly as the Java
 * client's default partitioner does, so every Kafka client agrees on where a key lives; records
 * without a key stick to one partition for a run of records, then move on (Kafka's sticky
 * partitioner, KIP-480), which keeps batches full.
 *
 * @module
 */

import { murmur2, toPositive } from "./murmur2.ts";

/** A function that picks a partition in `[0, numPartitions)` for a record. */
export type Partitioner = (
  topic: string,
  key: Uint8Array | null,
  numPartitions: number,
) => number;

/**
 * The partition Java's `BuiltInPartitioner.partitionForKey` picks for a key:
 * `toPositive(murmur2(key)) % numPartitions`.
 *
 * @example
 * ```ts
 * import { partitionForKey } from "./partitioner.ts";
 * // Utils.murmur2("21") is -973932308.
 * if (partitionForKey(new TextEncoder().encode("21"), 3) !== ((-973932308 & 0x7fffffff) % 3)) {
 *   throw new Error();
 * }
 * ```
 */
export function partitionForKey(key: Uint8Array, numPartitions: number): number {
  if (!Number.isSafeInteger(numPartitions) || numPartitions < 1) {
    throw new RangeError(
      `Cannot choose a partition as numPartitions must be a positive integer: current value is ${numPartitions}`,
    );
  }
  return toPositive(murmur2(key)) % numPartitions;
}

/** Options of {@linkcode createDefaultPartitioner}. */
export interface DefaultPartitionerOptions {
  /**
   * How many key-less records go to one partition before the next is chosen.
   * @default {1000}
   */
  stickyRecords?: number;
}

/**
 * The default partitioner: murmur2 for keys, sticky round-robin for null keys.
 *
 * @example
 * ```ts
 * import { createDefaultPartitioner } from "./partitioner.ts";
 * const partition = createDefaultPartitioner({ stickyRecords: 2 });
 * const picks = [0, 1, 2, 3].map(() => partition("t", null, 3));
 * if (picks.join() !== "0,0,1,1") throw new Error(picks.join());
 * ```
 */
export function createDefaultPartitioner(options: DefaultPartitionerOptions = {}): Partitioner {
  const stickyRecords = options.stickyRecords ?? 1000;
  if (!Number.isSafeInteger(stickyRecords) || stickyRecords < 1) {
    throw new RangeError(
      `Cannot create a partitioner as stickyRecords must be a positive integer: current value is ${stickyRecords}`,
    );
  }
  const sticky = new Map<string, { partition: number; used: number }>();
  return (topic, key, numPartitions) => {
    if (key !== null) return partitionForKey(key, numPartitions);
    let state = sticky.get(topic);
    if (state === undefined) {
      state = { partition: 0, used: 0 };
      sticky.set(topic, state);
    }
    if (state.used >= stickyRecords) {
      state.partition += 1;
      state.used = 0;
    }
    state.used += 1;
    return state.partition % numPartitions;
  };
}
