/**
 * The thin driver of a {@linkcode ReplicaTracker}: it turns ack waits into promises, runs the
 * tracker's timer (ack deadlines, and the periodic ISR check every `isrCheckIntervalMs`), and
 * hands the tracker's other actions to callbacks: `onAlterIsr` (send to the controller) and
 * `onHighWatermark` (advance `PartitionLog`'s HW and wake parked fetches).
 *
 * One instance per partition this broker leads, created when it becomes leader and closed
 * when it stops being leader.
 *
 * @module
 */

import { KafkaProtocolError } from "../broker_errors.ts";
import {
  type AckOutcome,
  type ReplicaAckLevel,
  ReplicaTracker,
  type ReplicaTrackerOptions,
  type TrackerAction,
} from "./replica_tracker.ts";
import type { Clock, TimerHandle } from "../../ops/clock.ts";

/** The part of the ops clock replication uses: time and one-shot timers. */
export type ReplicationClock = Pick<Clock, "nowMs" | "setTimer" | "clearTimer">;

/** Options of {@linkcode LeaderReplication}. */
export interface LeaderReplicationOptions extends Omit<ReplicaTrackerOptions, "nowMs"> {
  readonly clock: ReplicationClock;
  /** Propose an ISR to the controller; answer with `isrCommitted` or `isrChangeFailed`. */
  readonly onAlterIsr: (isr: readonly number[], leaderEpoch: number) => void;
  /** The HW advanced. */
  readonly onHighWatermark: (offset: number) => void;
  /** How often lagging followers are looked for. @default maxLagTimeMs / 2 */
  readonly isrCheckIntervalMs?: number;
}

/**
 * Leader-side replication of one partition, with promises.
 *
 * @example
 * ```ts
 * import { LeaderReplication } from "./leader_replication.ts";
 * import assert from "node:assert/strict";
 * const hws: number[] = [];
 * const r = new LeaderReplication({
 *   leaderId: 1, replicas: [1, 2], isr: [1, 2], leaderEpoch: 0, leaderEpochStartOffset: 0,
 *   logEndOffset: 0, highWatermark: 0, maxLagMessages: 100, maxLagTimeMs: 10_000,
 *   minInSyncReplicas: 2, ackTimeoutMs: 5_000,
 *   clock: { nowMs: () => 0, setTimer: () => 0, clearTimer: () => {} },
 *   onAlterIsr: () => {},
 *   onHighWatermark: (hw) => hws.push(hw),
 * });
 * r.checkProduce({ kind: "all" });
 * r.leaderDurable(3);
 * const acked = r.awaitAck(3, { kind: "all" });
 * r.followerFetched(2, 3);
 * await acked;
 * assert.deepEqual(hws, [3]);
 * r.close();
 * ```
 */
export class LeaderReplication {
  readonly tracker: ReplicaTracker;
  readonly #o: LeaderReplicationOptions;
  readonly #checkEveryMs: number;
  readonly #pending = new Map<number, { resolve(): void; reject(err: Error): void }>();
  #timer: TimerHandle | null = null;
  #nextIsrCheckMs: number;
  #closed = false;

  constructor(options: LeaderReplicationOptions) {
    const now = options.clock.nowMs();
    this.tracker = new ReplicaTracker({ ...options, nowMs: now });
    this.#o = options;
    this.#checkEveryMs = options.isrCheckIntervalMs ?? Math.max(1, options.maxLagTimeMs / 2);
    if (!(this.#checkEveryMs > 0)) {
      throw new RangeError(
        `Cannot create leader replication as isrCheckIntervalMs must be positive: current value is ${this.#checkEveryMs}`,
      );
    }
    this.#nextIsrCheckMs = now + this.#checkEveryMs;
    this.#arm();
  }

  /**
   * Refuses a produce that cannot be acknowledged at `level` (NOT_ENOUGH_REPLICAS), before
   * anything is appended.
   *
   * @throws {KafkaProtocolError}
   */
  checkProduce(level: ReplicaAckLevel): void {
    const refused = this.tracker.checkProduce(level);
    if (refused !== null) throw _error(refused);
  }

  /**
   * Resolves once records below `offsetEnd` are acknowledged at `level`; rejects with a
   * {@linkcode KafkaProtocolError} (NOT_ENOUGH_REPLICAS_AFTER_APPEND, REQUEST_TIMED_OUT,
   * NOT_LEADER_OR_FOLLOWER).
   */
  awaitAck(offsetEnd: number, level: ReplicaAckLevel, timeoutMs?: number): Promise<void> {
    const wait = this.tracker.waitFor(offsetEnd, level, this.#o.clock.nowMs(), timeoutMs);
    if (wait.kind === "done") {
      return wait.outcome.ok ? Promise.resolve() : Promise.reject(_error(wait.outcome));
    }
    const promise = new Promise<void>((resolve, reject) => {
      this.#pending.set(wait.waiterId, { resolve, reject });
    });
    this.#arm();
    return promise;
  }

  /** The leader's WAL made appends durable up to `logEndOffset`. */
  leaderDurable(logEndOffset: number): void {
    this.#apply(this.tracker.onLeaderDurable(logEndOffset, this.#o.clock.nowMs()));
  }

  /** A follower fetched from `fetchOffset` (call before serving its Fetch). */
  followerFetched(replicaId: number, fetchOffset: number): void {
    this.#apply(this.tracker.onFollowerFetch(replicaId, fetchOffset, this.#o.clock.nowMs()));
  }

  /** The controller committed an ISR for this partition. */
  isrCommitted(isr: readonly number[]): void {
    this.#apply(this.tracker.onIsrCommitted(isr, this.#o.clock.nowMs()));
  }

  /** The controller refused our last proposal. */
  isrChangeFailed(): void {
    this.tracker.onIsrChangeFailed();
  }

  /** Leadership ended: pending acks fail with NOT_LEADER_OR_FOLLOWER; the timer stops. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) this.#o.clock.clearTimer(this.#timer);
    this.#timer = null;
    this.#apply(this.tracker.close());
  }

  #apply(actions: readonly TrackerAction[]): void {
    for (const a of actions) {
      if (a.kind === "alterIsr") this.#o.onAlterIsr(a.isr, a.leaderEpoch);
      else if (a.kind === "highWatermark") this.#o.onHighWatermark(a.offset);
      else {
        const p = this.#pending.get(a.waiterId);
        this.#pending.delete(a.waiterId);
        if (p === undefined) continue;
        if (a.outcome.ok) p.resolve();
        else p.reject(_error(a.outcome));
      }
    }
  }

  /** Arms the one timer for the earlier of the next ISR check and the next ack deadline. */
  #arm(): void {
    if (this.#closed) return;
    if (this.#timer !== null) this.#o.clock.clearTimer(this.#timer);
    const deadline = this.tracker.nextDeadlineMs();
    const at = deadline === null ? this.#nextIsrCheckMs : Math.min(deadline, this.#nextIsrCheckMs);
    const delayMs = Math.max(0, at - this.#o.clock.nowMs());
    this.#timer = this.#o.clock.setTimer(delayMs, () => this.#onTimer());
  }

  #onTimer(): void {
    this.#timer = null;
    if (this.#closed) return;
    const now = this.#o.clock.nowMs();
    if (now >= this.#nextIsrCheckMs) this.#nextIsrCheckMs = now + this.#checkEveryMs;
    this.#apply(this.tracker.tick(now));
    this.#arm();
  }
}

function _error(outcome: AckOutcome): KafkaProtocolError {
  if (outcome.ok) throw new TypeError("an ok outcome is not an error");
  return new KafkaProtocolError(outcome.code, outcome.message, { retriable: outcome.retriable });
}
