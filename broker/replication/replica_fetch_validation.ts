/**
 * The leader's checks on one partition of a Fetch from a follower (replica id >= 0), before it
 * reads: Kafka's `Partition.fetchRecords` validation. Pure, so the Fetch handler calls it with
 * the partition's numbers and acts on the verdict.
 *
 * - `currentLeaderEpoch` (-1 = unchecked) below ours: FENCED_LEADER_EPOCH; above: UNKNOWN_LEADER_EPOCH.
 * - `lastFetchedEpoch` (Fetch v12+, -1 = absent): if our log ends that epoch earlier than the
 *   follower's fetch offset, or we never had that epoch, answer `divergingEpoch` (KIP-595) and
 *   no records, so the follower truncates.
 * - a fetch offset outside [logStartOffset, logEndOffset]: OFFSET_OUT_OF_RANGE.
 * - otherwise read from `fetchOffset` up to the LEO (not the HW: the HW waits for followers),
 *   and report the fetch to the {@linkcode ReplicaTracker}.
 *
 * @module
 */

import type { LeaderEpochCache } from "./leader_epoch_cache.ts";

/** The follower's side of one partition of its Fetch. */
export interface ReplicaFetchPartition {
  readonly currentLeaderEpoch: number;
  readonly fetchOffset: number;
  readonly lastFetchedEpoch: number;
}

/** The leader's side. */
export interface LeaderPartitionState {
  readonly leaderEpoch: number;
  readonly epochs: LeaderEpochCache;
  readonly logStartOffset: number;
  readonly logEndOffset: number;
}

/** What to answer. */
export type ReplicaFetchVerdict =
  | { readonly kind: "read" }
  | {
    readonly kind: "error";
    readonly code: "FENCED_LEADER_EPOCH" | "UNKNOWN_LEADER_EPOCH" | "OFFSET_OUT_OF_RANGE";
  }
  | { readonly kind: "diverging"; readonly epoch: number; readonly endOffset: number };

/**
 * Validates one partition of a replica Fetch.
 *
 * @example
 * ```ts
 * import { validateReplicaFetch } from "./replica_fetch_validation.ts";
 * import { LeaderEpochCache } from "./leader_epoch_cache.ts";
 * import assert from "node:assert/strict";
 * const epochs = new LeaderEpochCache();
 * epochs.assign(1, 0);
 * epochs.assign(3, 20);
 * const leader = { leaderEpoch: 3, epochs, logStartOffset: 0, logEndOffset: 30 };
 * // The follower wrote epoch 1 up to offset 25; we ended epoch 1 at 20.
 * assert.deepEqual(
 *   validateReplicaFetch({ currentLeaderEpoch: 3, fetchOffset: 25, lastFetchedEpoch: 1 }, leader),
 *   { kind: "diverging", epoch: 1, endOffset: 20 },
 * );
 * ```
 */
export function validateReplicaFetch(
  fetch: ReplicaFetchPartition,
  leader: LeaderPartitionState,
): ReplicaFetchVerdict {
  if (fetch.currentLeaderEpoch >= 0) {
    if (fetch.currentLeaderEpoch < leader.leaderEpoch) {
      return { kind: "error", code: "FENCED_LEADER_EPOCH" };
    }
    if (fetch.currentLeaderEpoch > leader.leaderEpoch) {
      return { kind: "error", code: "UNKNOWN_LEADER_EPOCH" };
    }
  }
  if (fetch.lastFetchedEpoch >= 0) {
    const end = leader.epochs.endOffsetFor(fetch.lastFetchedEpoch, leader.logEndOffset);
    if (end.epoch < fetch.lastFetchedEpoch || end.endOffset < fetch.fetchOffset) {
      return { kind: "diverging", epoch: end.epoch, endOffset: end.endOffset };
    }
  }
  if (fetch.fetchOffset < leader.logStartOffset || fetch.fetchOffset > leader.logEndOffset) {
    return { kind: "error", code: "OFFSET_OUT_OF_RANGE" };
  }
  return { kind: "read" };
}
