/**
 * The answer to OffsetForLeaderEpoch (API key 23; the route is in
 * `broker/kafka_api/offset_for_leader_epoch_handler.ts`): a follower (or a consumer after a leader change, KIP-320)
 * asks the leader where a leader epoch ends, to find where its log diverges. Answered from the
 * leader's {@linkcode LeaderEpochCache} with Kafka's semantics:
 *
 * - the partition is not led here: NOT_LEADER_OR_FOLLOWER;
 * - `currentLeaderEpoch` (v2+, -1 means "do not check") below the leader's epoch:
 *   FENCED_LEADER_EPOCH (the asker is stale); above it: UNKNOWN_LEADER_EPOCH (we are stale);
 * - otherwise the largest epoch at or below the requested one and its end offset, or -1/-1.
 *
 * @module
 */

import { ErrorCode } from "../../protocol/kafka/errors.ts";
import type { OffsetForLeaderEpochResponseEpochEndOffset } from "../../protocol/kafka/messages/mod.ts";
import type { LeaderEpochCache } from "./leader_epoch_cache.ts";

/** What the handler needs of a partition this broker leads. */
export interface LeaderEpochLookupResult {
  readonly leaderEpochCache: LeaderEpochCache;
  readonly logEndOffset: number;
  readonly currentLeaderEpoch: number;
}

/** Finds a partition this broker leads; undefined when it does not lead it. */
export type LeaderEpochLookup = (
  topic: string,
  partition: number,
) => LeaderEpochLookupResult | undefined;

/**
 * Answers one partition of an OffsetForLeaderEpoch request.
 *
 * @example
 * ```ts
 * import { answerOffsetForLeaderEpoch } from "./leader_epoch_lookup.ts";
 * import { LeaderEpochCache } from "./leader_epoch_cache.ts";
 * import assert from "node:assert/strict";
 * const leaderEpochCache = new LeaderEpochCache();
 * leaderEpochCache.assign(0, 0);
 * leaderEpochCache.assign(2, 30);
 * const found = { leaderEpochCache, logEndOffset: 45, currentLeaderEpoch: 2 };
 * assert.deepEqual(
 *   answerOffsetForLeaderEpoch(found, { partition: 0, currentLeaderEpoch: 2, leaderEpoch: 1 }),
 *   { errorCode: 0, partition: 0, leaderEpoch: 0, endOffset: 30n },
 * );
 * ```
 */
export function answerOffsetForLeaderEpoch(
  found: LeaderEpochLookupResult | undefined,
  asked: { partition: number; currentLeaderEpoch: number; leaderEpoch: number },
): OffsetForLeaderEpochResponseEpochEndOffset {
  const fail = (errorCode: number) => ({
    errorCode,
    partition: asked.partition,
    leaderEpoch: -1,
    endOffset: -1n,
  });
  if (found === undefined) return fail(ErrorCode.NOT_LEADER_OR_FOLLOWER);
  if (asked.currentLeaderEpoch >= 0) {
    if (asked.currentLeaderEpoch < found.currentLeaderEpoch) {
      return fail(ErrorCode.FENCED_LEADER_EPOCH);
    }
    if (asked.currentLeaderEpoch > found.currentLeaderEpoch) {
      return fail(ErrorCode.UNKNOWN_LEADER_EPOCH);
    }
  }
  const answer = found.leaderEpochCache.endOffsetFor(asked.leaderEpoch, found.logEndOffset);
  return {
    errorCode: ErrorCode.NONE,
    partition: asked.partition,
    leaderEpoch: answer.epoch,
    endOffset: BigInt(answer.endOffset),
  };
}
