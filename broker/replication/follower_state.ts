/**
 * Follower-side replication state of one partition, as a sans-IO state machine.
 *
 * A follower of a new leader (or of a new leader epoch) first finds where its log diverges
 * from the leader's and truncates there, then fetches from its log end offset:
 *
 * ```
 *  truncating --OffsetForLeaderEpoch answer--> (truncate action) --complete--> fetching
 *      ^                  |  not complete (leader answered an epoch we lack): truncate further,
 *      |                  +---------------------------------------------------- ask again
 *      +---- Fetch answered a divergingEpoch (v12+), or the leader epoch changed
 *  fetching --OFFSET_OUT_OF_RANGE--> outOfRange --ListOffsets answer--> truncate or reset, fetching
 * ```
 *
 * Truncation follows Kafka's `AbstractFetcherThread.getOffsetTruncationState` (KIP-101 with the
 * KIP-279 refinement): ask the leader for the end offset of our latest epoch; if the leader
 * answers with an epoch we also have, truncate to the smaller of the two end offsets; if it
 * answers an epoch we do not have, truncate to the end of our largest epoch below it and ask
 * again (that removes a whole divergent epoch per round trip).
 *
 * The state machine reads the local log through {@linkcode FollowerLogView} each time it decides,
 * and the driver must apply every returned action (truncate, reset, append) before it asks for
 * the next request, so the view always reflects them.
 *
 * @module
 */

import { splitBatches } from "../../protocol/record/record_batch.ts";
import { readBatchHeader } from "../../protocol/record/record_batch.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  type LeaderEpochCache,
  UNDEFINED_EPOCH,
  UNDEFINED_EPOCH_OFFSET,
} from "./leader_epoch_cache.ts";

/** What the follower state machine reads of the local partition. */
export interface FollowerLogView {
  readonly logStartOffset: number;
  readonly logEndOffset: number;
  readonly highWatermark: number;
  /** The local leader-epoch cache (only read here; the driver updates it with the log). */
  readonly epochs: LeaderEpochCache;
}

/** The next request the partition needs from the leader. */
export type FollowerRequest =
  | {
    readonly kind: "offsetForLeaderEpoch";
    readonly currentLeaderEpoch: number;
    /** Our latest epoch, whose end offset we ask for. */
    readonly leaderEpoch: number;
  }
  | { readonly kind: "listOffsets"; readonly currentLeaderEpoch: number }
  | {
    readonly kind: "fetch";
    readonly currentLeaderEpoch: number;
    readonly fetchOffset: number;
    readonly lastFetchedEpoch: number;
    readonly logStartOffset: number;
  }
  /** Backing off after an error; ask again at `untilMs`. */
  | { readonly kind: "wait"; readonly untilMs: number };

/** Actions for the driver, to apply in order before the next request. */
export type FollowerAction =
  /** Remove every batch whose last offset is at or after `offset`; truncate the epoch cache. */
  | { readonly kind: "truncate"; readonly offset: number }
  /** Empty the log and restart it at `offset` (the leader's log start moved past our LEO). */
  | { readonly kind: "resetLog"; readonly offset: number }
  /**
   * Move the LEO up to `offset`, keeping the log start: the leader says everything below is in
   * object storage, which every replica reads, so it is not copied.
   */
  | { readonly kind: "skipTo"; readonly offset: number; readonly epoch: number }
  /** Append fetched batches (offsets assigned by the leader) and adopt the leader's HW. */
  | {
    readonly kind: "append";
    readonly batches: readonly Uint8Array[];
    readonly leaderHighWatermark: number;
    readonly leaderLogStartOffset: number;
  }
  /** The leader refused us as stale or unknown: the broker's metadata needs refreshing. */
  | { readonly kind: "refreshMetadata"; readonly reason: string };

/** The per-partition part of an OffsetForLeaderEpoch response. */
export interface LeaderEpochAnswer {
  readonly errorCode: number;
  readonly leaderEpoch: number;
  readonly endOffset: number;
}

/** The per-partition part of a Fetch response. */
export interface FetchAnswer {
  readonly errorCode: number;
  readonly highWatermark: number;
  readonly logStartOffset: number;
  /** Fetch v12+: the leader found our lastFetchedEpoch diverging; epoch -1 when not. */
  readonly divergingEpoch: { readonly epoch: number; readonly endOffset: number };
  /**
   * Fetch v12+ `snapshotId.endOffset`: everything below it is in object storage and not served
   * to replicas; skip to it. -1 when absent.
   */
  readonly snapshotEndOffset?: number;
  /** The epoch of the leader that wrote `snapshotEndOffset - 1`. */
  readonly snapshotEpoch?: number;
  readonly records: Uint8Array | null;
}

/** The leader's log bounds (from ListOffsets earliest and latest). */
export interface LeaderOffsetsAnswer {
  readonly errorCode: number;
  readonly logStartOffset: number;
  readonly logEndOffset: number;
}

/** Result of {@linkcode truncationOffset}. */
export interface TruncationDecision {
  /** Truncate the local log to end here (never above the local LEO). */
  readonly offset: number;
  /** False when another OffsetForLeaderEpoch round is needed after truncating. */
  readonly complete: boolean;
}

/** Options of {@linkcode FollowerState}. */
export interface FollowerStateOptions {
  readonly topic: string;
  readonly partition: number;
  readonly leaderId: number;
  readonly leaderEpoch: number;
  readonly log: FollowerLogView;
  /** First backoff after an error. @default 100 */
  readonly backoffMs?: number;
  /** Backoff doubles up to this. @default 5000 */
  readonly backoffMaxMs?: number;
}

/** The follower phases. */
export type FollowerPhase = "truncating" | "fetching" | "outOfRange";

/**
 * Kafka's truncation rule. `answer` is the leader's (epoch, end offset) for our latest epoch, or
 * a Fetch v12+ divergingEpoch.
 *
 * @example
 * ```ts
 * import { truncationOffset } from "./follower_state.ts";
 * import { LeaderEpochCache } from "./leader_epoch_cache.ts";
 * import assert from "node:assert/strict";
 * const epochs = new LeaderEpochCache();
 * epochs.assign(1, 0);
 * epochs.assign(2, 50); // our epoch 2 was never committed: the new leader stayed in epoch 1 to 60
 * const log = { logStartOffset: 0, logEndOffset: 70, highWatermark: 40, epochs };
 * assert.deepEqual(truncationOffset(log, { leaderEpoch: 1, endOffset: 60 }), {
 *   offset: 50, complete: true,
 * });
 * ```
 */
export function truncationOffset(
  log: FollowerLogView,
  answer: { readonly leaderEpoch: number; readonly endOffset: number },
): TruncationDecision {
  const leo = log.logEndOffset;
  if (answer.endOffset === UNDEFINED_EPOCH_OFFSET) {
    // The leader knows nothing of our epoch (nor any before it): keep only what was committed.
    return { offset: Math.min(log.highWatermark, leo), complete: true };
  }
  if (answer.leaderEpoch === UNDEFINED_EPOCH) {
    return { offset: Math.min(answer.endOffset, leo), complete: true };
  }
  const ours = log.epochs.endOffsetFor(answer.leaderEpoch, leo);
  if (ours.endOffset === UNDEFINED_EPOCH_OFFSET) {
    // We have no epoch at or below the leader's: trust the leader's end offset (KIP-101).
    return { offset: Math.min(answer.endOffset, leo), complete: true };
  }
  if (ours.epoch !== answer.leaderEpoch) {
    // We never had the leader's epoch: drop our epochs above our largest one below it, then
    // ask again for that one.
    return { offset: Math.min(ours.endOffset, leo), complete: false };
  }
  return { offset: Math.min(ours.endOffset, answer.endOffset, leo), complete: true };
}

/**
 * One partition followed from one leader.
 *
 * @example
 * ```ts
 * import { FollowerState } from "./follower_state.ts";
 * import { LeaderEpochCache } from "./leader_epoch_cache.ts";
 * import assert from "node:assert/strict";
 * const epochs = new LeaderEpochCache();
 * epochs.assign(0, 0);
 * const log = { logStartOffset: 0, logEndOffset: 10, highWatermark: 10, epochs };
 * const f = new FollowerState({ topic: "t", partition: 0, leaderId: 2, leaderEpoch: 1, log });
 * assert.deepEqual(f.nextRequest(0), {
 *   kind: "offsetForLeaderEpoch", currentLeaderEpoch: 1, leaderEpoch: 0,
 * });
 * assert.deepEqual(f.onOffsetForLeaderEpoch({ errorCode: 0, leaderEpoch: 0, endOffset: 10 }, 0), []);
 * assert.equal(f.phase, "fetching");
 * ```
 */
export class FollowerState {
  readonly topic: string;
  readonly partition: number;
  readonly #log: FollowerLogView;
  readonly #backoffMs: number;
  readonly #backoffMaxMs: number;
  #leaderId: number;
  #leaderEpoch: number;
  #phase: FollowerPhase = "truncating";
  #delayedUntilMs = 0;
  #failures = 0;

  constructor(options: FollowerStateOptions) {
    this.topic = options.topic;
    this.partition = options.partition;
    this.#log = options.log;
    this.#leaderId = options.leaderId;
    this.#leaderEpoch = options.leaderEpoch;
    this.#backoffMs = options.backoffMs ?? 100;
    this.#backoffMaxMs = options.backoffMaxMs ?? 5000;
    if (!(this.#backoffMs >= 1 && this.#backoffMaxMs >= this.#backoffMs)) {
      throw new RangeError(
        `Cannot create follower state as backoff must satisfy 1 <= backoffMs <= backoffMaxMs: current values are ${this.#backoffMs} and ${this.#backoffMaxMs}`,
      );
    }
  }

  /** The current phase. */
  get phase(): FollowerPhase {
    return this.#phase;
  }
  /** The leader followed. */
  get leaderId(): number {
    return this.#leaderId;
  }
  /** The leader epoch followed. */
  get leaderEpoch(): number {
    return this.#leaderEpoch;
  }

  /**
   * The controller named a leader and epoch. A new epoch (or leader) means the log may
   * diverge again, so the partition truncates before fetching.
   */
  updateLeader(leaderId: number, leaderEpoch: number): void {
    if (leaderId === this.#leaderId && leaderEpoch === this.#leaderEpoch) return;
    this.#leaderId = leaderId;
    this.#leaderEpoch = leaderEpoch;
    this.#phase = "truncating";
    this.#delayedUntilMs = 0;
    this.#failures = 0;
  }

  /** What to ask the leader next. */
  nextRequest(nowMs: number): FollowerRequest {
    if (nowMs < this.#delayedUntilMs) return { kind: "wait", untilMs: this.#delayedUntilMs };
    const currentLeaderEpoch = this.#leaderEpoch;
    if (this.#phase === "outOfRange") return { kind: "listOffsets", currentLeaderEpoch };
    if (this.#phase === "truncating") {
      return {
        kind: "offsetForLeaderEpoch",
        currentLeaderEpoch,
        leaderEpoch: this.#log.epochs.latestEpoch,
      };
    }
    return {
      kind: "fetch",
      currentLeaderEpoch,
      fetchOffset: this.#log.logEndOffset,
      lastFetchedEpoch: this.#log.epochs.latestEpoch,
      logStartOffset: this.#log.logStartOffset,
    };
  }

  /** The leader answered OffsetForLeaderEpoch for this partition. */
  onOffsetForLeaderEpoch(answer: LeaderEpochAnswer, nowMs: number): FollowerAction[] {
    if (answer.errorCode !== ErrorCode.NONE) return this.#onError(answer.errorCode, nowMs);
    if (this.#log.epochs.latestEpoch === UNDEFINED_EPOCH) {
      // Nothing of ours carries an epoch (a new or empty replica): keep only the committed part.
      return this.#finishTruncation(Math.min(this.#log.highWatermark, this.#log.logEndOffset));
    }
    const decision = truncationOffset(this.#log, answer);
    return this.#applyDecision(decision);
  }

  /** The leader answered Fetch for this partition. */
  onFetch(answer: FetchAnswer, nowMs: number): FollowerAction[] {
    if (answer.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) {
      this.#phase = "outOfRange";
      return [];
    }
    if (answer.errorCode !== ErrorCode.NONE) return this.#onError(answer.errorCode, nowMs);
    if (answer.divergingEpoch.epoch >= 0) {
      const decision = truncationOffset(this.#log, {
        leaderEpoch: answer.divergingEpoch.epoch,
        endOffset: answer.divergingEpoch.endOffset,
      });
      return this.#applyDecision(decision);
    }
    this.#failures = 0;
    if ((answer.snapshotEndOffset ?? -1) > this.#log.logEndOffset) {
      return [{
        kind: "skipTo",
        offset: answer.snapshotEndOffset!,
        epoch: answer.snapshotEpoch ?? -1,
      }];
    }
    return this.#appendActions(answer, nowMs);
  }

  /** The leader's log bounds, asked for after OFFSET_OUT_OF_RANGE. */
  onLeaderOffsets(answer: LeaderOffsetsAnswer, nowMs: number): FollowerAction[] {
    if (answer.errorCode !== ErrorCode.NONE) return this.#onError(answer.errorCode, nowMs);
    this.#phase = "fetching";
    const leo = this.#log.logEndOffset;
    if (leo > answer.logEndOffset) {
      // Only after an unclean election: the leader's log is shorter than ours.
      return [{ kind: "truncate", offset: answer.logEndOffset }];
    }
    if (leo < answer.logStartOffset) {
      // The leader's log start moved past us (its data went to object storage and the WAL was
      // reclaimed): our log restarts there and older offsets are read from object storage.
      return [{ kind: "resetLog", offset: answer.logStartOffset }];
    }
    // Our offset is inside the leader's log again (a race with its retention): just retry.
    this.#delay(nowMs);
    return [];
  }

  /** The request carrying this partition failed (connection lost, timeout). */
  onRequestFailed(nowMs: number): void {
    this.#delay(nowMs);
  }

  /**
   * The driver could not apply the last actions (storage error): the local log is in an
   * unknown place relative to the leader's, so find the divergence again after a backoff.
   */
  onApplyFailed(nowMs: number): void {
    this.#phase = "truncating";
    this.#delay(nowMs);
  }

  #applyDecision(decision: TruncationDecision): FollowerAction[] {
    if (!decision.complete) {
      this.#phase = "truncating";
      return decision.offset < this.#log.logEndOffset
        ? [{ kind: "truncate", offset: decision.offset }]
        : [];
    }
    return this.#finishTruncation(decision.offset);
  }

  #finishTruncation(offset: number): FollowerAction[] {
    this.#phase = "fetching";
    this.#failures = 0;
    return offset < this.#log.logEndOffset ? [{ kind: "truncate", offset }] : [];
  }

  #appendActions(answer: FetchAnswer, nowMs: number): FollowerAction[] {
    const leo = this.#log.logEndOffset;
    const batches: Uint8Array[] = [];
    let next = leo;
    const actions: FollowerAction[] = [];
    for (
      const batch of splitBatches(answer.records ?? new Uint8Array(0), { allowPartialTail: true })
    ) {
      const h = readBatchHeader(batch);
      if (h.lastOffset < next) continue;
      if (h.baseOffset !== next) {
        if (batches.length === 0 && next === this.#log.logStartOffset && h.baseOffset < next) {
          // Our log is empty and starts inside this batch (after a reset): start it at the
          // batch instead, as Kafka does, so offsets stay batch-aligned.
          actions.push({ kind: "resetLog", offset: h.baseOffset });
        } else {
          // A gap or overlap means our view of the leader's log is wrong: find the divergence again.
          this.#phase = "truncating";
          this.#delay(nowMs);
          return [];
        }
      }
      batches.push(batch);
      next = h.lastOffset + 1;
    }
    actions.push({
      kind: "append",
      batches,
      leaderHighWatermark: answer.highWatermark,
      leaderLogStartOffset: answer.logStartOffset,
    });
    return actions;
  }

  #onError(code: number, nowMs: number): FollowerAction[] {
    this.#delay(nowMs);
    switch (code) {
      case ErrorCode.NOT_LEADER_OR_FOLLOWER:
      case ErrorCode.FENCED_LEADER_EPOCH:
      case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
        return [{
          kind: "refreshMetadata",
          reason:
            `leader ${this.#leaderId} answered error ${code} for ${this.topic}/${this.partition} at epoch ${this.#leaderEpoch}`,
        }];
      default:
        // UNKNOWN_LEADER_EPOCH (the leader has not seen the new epoch yet), storage errors:
        // the same request will succeed later.
        return [];
    }
  }

  #delay(nowMs: number): void {
    const ms = Math.min(this.#backoffMaxMs, this.#backoffMs * 2 ** Math.min(this.#failures, 30));
    this.#failures++;
    this.#delayedUntilMs = nowMs + ms;
  }
}
