/**
 * Leader-side replication state of one partition, as a sans-IO state machine: follower
 * progress, the in-sync replica set (ISR), the high watermark (HW) and producers waiting for
 * acknowledgement. Events come in (leader append became durable, follower fetched, time
 * passed, ISR change committed by the controller); actions come out (propose an ISR change,
 * HW moved, an ack waiter finished). Time is passed in as `nowMs`; nothing here reads a clock.
 *
 * Rules (Kafka's, with RustMQ's ack extensions):
 * - A follower's log end offset (LEO) is the offset it fetches from: it has everything below.
 * - A follower is *caught up* at a fetch when its fetch offset reaches the leader's LEO at that
 *   moment; or reaches the leader LEO of its previous fetch (then it was caught up as of that
 *   previous fetch time), as Kafka's `replica.lag.time.max.ms` does.
 * - ISR shrink: a follower in the ISR whose LEO is behind the leader's and that either lags by
 *   more than `maxLagMessages` or has not been caught up for more than `maxLagTimeMs`.
 * - ISR expand: a follower outside the ISR whose LEO reached the HW and the start offset of the
 *   leader's epoch (so it has truncated to this leader's history).
 * - Changes are *proposed* (`alterIsr`) and only take effect in {@linkcode ReplicaTracker.onIsrCommitted}:
 *   until then the tracker keeps the old ISR, and for the HW uses the larger of old and
 *   proposed ("maximal ISR", KIP-497), so the HW never counts on a replica the controller has
 *   not confirmed. One proposal is in flight at a time.
 * - HW = min LEO over the maximal ISR (leader included), and it only ever advances.
 *
 * @module
 */

import { assertLog } from "../log/log_errors.ts";

/** How many replicas must have a batch before its produce is acknowledged. */
export type ReplicaAckLevel =
  | { readonly kind: "leader" }
  | { readonly kind: "all" }
  | { readonly kind: "custom"; readonly replicas: number }
  | { readonly kind: "majority" };

/**
 * The level of a Produce request's int16 `acks` (the SDK names the same levels in its `AckLevel`): 0 and 1 leader only
 * (0 sends no response, which is the handler's business), -1 all of the ISR, -2 majority (an
 * extension), n >= 2 that many replicas (an extension). Null for anything else, which the
 * handler answers with INVALID_REQUIRED_ACKS.
 *
 * @example
 * ```ts
 * import { ackLevelFromWire } from "./replica_tracker.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(ackLevelFromWire(-1), { kind: "all" });
 * assert.deepEqual(ackLevelFromWire(3), { kind: "custom", replicas: 3 });
 * assert.equal(ackLevelFromWire(-3), null);
 * ```
 */
export function ackLevelFromWire(acks: number): ReplicaAckLevel | null {
  if (acks === 0 || acks === 1) return { kind: "leader" };
  if (acks === -1) return { kind: "all" };
  if (acks === -2) return { kind: "majority" };
  if (Number.isSafeInteger(acks) && acks >= 2 && acks <= 32767) {
    return { kind: "custom", replicas: acks };
  }
  return null;
}

/** Kafka error names an ack can fail with. */
export type AckErrorCode =
  | "NOT_ENOUGH_REPLICAS"
  | "NOT_ENOUGH_REPLICAS_AFTER_APPEND"
  | "REQUEST_TIMED_OUT"
  | "NOT_LEADER_OR_FOLLOWER";

/** How an ack wait ended. */
export type AckOutcome =
  | { readonly ok: true }
  | {
    readonly ok: false;
    readonly code: AckErrorCode;
    readonly retriable: boolean;
    readonly message: string;
  };

/** What {@linkcode ReplicaTracker.waitFor} returns. */
export type AckWait =
  | { readonly kind: "done"; readonly outcome: AckOutcome }
  | { readonly kind: "pending"; readonly waiterId: number };

/** Actions for the driver. */
export type TrackerAction =
  /** Ask the controller to change the ISR (leader epoch guards against stale proposals). */
  | { readonly kind: "alterIsr"; readonly isr: readonly number[]; readonly leaderEpoch: number }
  /** The HW advanced: set `PartitionLog.advanceHighWatermark` and wake parked fetches. */
  | { readonly kind: "highWatermark"; readonly offset: number }
  /** A pending ack wait finished. */
  | { readonly kind: "ackDone"; readonly waiterId: number; readonly outcome: AckOutcome };

/** Options of {@linkcode ReplicaTracker}. */
export interface ReplicaTrackerOptions {
  /** This broker's node id: the leader. */
  readonly leaderId: number;
  /** Every assigned replica, leader included. */
  readonly replicas: readonly number[];
  /** The ISR as the controller committed it; must contain the leader. */
  readonly isr: readonly number[];
  /** The leader epoch this leadership runs in. */
  readonly leaderEpoch: number;
  /** The leader's LEO when its epoch began: the first offset of this leader's history. */
  readonly leaderEpochStartOffset: number;
  /** The leader's durable LEO now. */
  readonly logEndOffset: number;
  /** The HW now (never lowered). */
  readonly highWatermark: number;
  /** ISR shrink by count (`replication.max_replication_lag`). */
  readonly maxLagMessages: number;
  /** ISR shrink by time since last caught up (`replication.heartbeat_timeout_ms`). */
  readonly maxLagTimeMs: number;
  /** Replicas acks=all needs in the ISR (`replication.min_in_sync_replicas`). */
  readonly minInSyncReplicas: number;
  /** Default ack wait (`replication.ack_timeout_ms`). */
  readonly ackTimeoutMs: number;
  /** The time the leadership began; followers count as caught up at this time. */
  readonly nowMs: number;
  /** Most ack waiters at once; more fail at once with REQUEST_TIMED_OUT. @default 100000 */
  readonly waitersMax?: number;
}

interface _Follower {
  /** -1 until the first fetch of this leadership: unknown, so it holds the HW back. */
  leo: number;
  lastCaughtUpMs: number;
  lastFetchMs: number;
  /** Leader LEO at the previous fetch. */
  leaderLeoAtLastFetch: number;
}

interface _Waiter {
  id: number;
  offsetEnd: number;
  level: ReplicaAckLevel;
  deadlineMs: number;
}

/**
 * Leader-side ISR, HW and ack tracking of one partition.
 *
 * @example
 * ```ts
 * import { ReplicaTracker } from "./replica_tracker.ts";
 * import assert from "node:assert/strict";
 * const t = new ReplicaTracker({
 *   leaderId: 1, replicas: [1, 2], isr: [1, 2], leaderEpoch: 3, leaderEpochStartOffset: 0,
 *   logEndOffset: 0, highWatermark: 0, maxLagMessages: 100, maxLagTimeMs: 10_000,
 *   minInSyncReplicas: 2, ackTimeoutMs: 5_000, nowMs: 0,
 * });
 * t.onLeaderDurable(5, 10);
 * const wait = t.waitFor(5, { kind: "all" }, 10);
 * assert.equal(wait.kind, "pending");
 * const actions = t.onFollowerFetch(2, 5, 20);
 * assert.deepEqual(actions, [
 *   { kind: "highWatermark", offset: 5 },
 *   { kind: "ackDone", waiterId: 1, outcome: { ok: true } },
 * ]);
 * ```
 */
export class ReplicaTracker {
  readonly #o: Required<ReplicaTrackerOptions>;
  readonly #followers = new Map<number, _Follower>();
  #isr: number[];
  #pendingIsr: number[] | null = null;
  #leo: number;
  #hw: number;
  #waiters = new Map<number, _Waiter>();
  #nextWaiterId = 1;
  #closed = false;

  constructor(options: ReplicaTrackerOptions) {
    _validate(options);
    this.#o = { waitersMax: 100_000, ...options };
    this.#isr = [...options.isr];
    this.#leo = options.logEndOffset;
    this.#hw = options.highWatermark;
    for (const id of options.replicas) {
      if (id === options.leaderId) continue;
      this.#followers.set(id, {
        leo: -1,
        lastCaughtUpMs: options.nowMs,
        lastFetchMs: options.nowMs,
        leaderLeoAtLastFetch: -1,
      });
    }
  }

  /** The committed ISR. */
  get isr(): readonly number[] {
    return this.#isr;
  }
  /** The proposed ISR awaiting the controller, or null. */
  get pendingIsr(): readonly number[] | null {
    return this.#pendingIsr;
  }
  /** The high watermark. */
  get highWatermark(): number {
    return this.#hw;
  }
  /** The leader's durable LEO as last reported. */
  get logEndOffset(): number {
    return this.#leo;
  }
  /** The leader epoch. */
  get leaderEpoch(): number {
    return this.#o.leaderEpoch;
  }
  /** Number of ack waiters. */
  get waitingCount(): number {
    return this.#waiters.size;
  }

  /** A follower's LEO as the leader knows it (-1 before its first fetch), or undefined. */
  followerLogEndOffset(replicaId: number): number | undefined {
    return this.#followers.get(replicaId)?.leo;
  }

  /** The lag of every follower in records (leader LEO minus follower LEO), for metrics. */
  followerLags(): Map<number, number> {
    const out = new Map<number, number>();
    for (const [id, f] of this.#followers) out.set(id, this.#leo - Math.max(0, f.leo));
    return out;
  }

  /** True when the committed ISR is smaller than the replica set (a metric). */
  get underReplicated(): boolean {
    return this.#isr.length < this.#o.replicas.length;
  }

  /**
   * Checks a produce before it is appended. acks=all fails with NOT_ENOUGH_REPLICAS when the
   * ISR is below `min_in_sync_replicas` (Kafka checks this before appending, so no record is
   * written that could not be acknowledged); Custom(n) fails when the replica set has fewer
   * than n replicas, as it could never succeed. Null when the produce may go ahead.
   */
  checkProduce(level: ReplicaAckLevel): AckOutcome | null {
    if (this.#closed) return _fail("NOT_LEADER_OR_FOLLOWER", "this broker is no longer leader");
    if (level.kind === "all" && this.#isr.length < this.#o.minInSyncReplicas) {
      return _fail(
        "NOT_ENOUGH_REPLICAS",
        `Cannot append with acks=all as the ISR has ${this.#isr.length} replicas: min_in_sync_replicas is ${this.#o.minInSyncReplicas}`,
      );
    }
    if (level.kind === "custom" && level.replicas > this.#o.replicas.length) {
      return _fail(
        "NOT_ENOUGH_REPLICAS",
        `Cannot append with acks=${level.replicas} as the partition has ${this.#o.replicas.length} replicas`,
      );
    }
    return null;
  }

  /**
   * Waits until the records below `offsetEnd` (the batch's last offset + 1) are acknowledged at
   * `level`. The leader itself counts once its append is durable ({@linkcode onLeaderDurable}).
   * Returns "done" at once when already satisfied, or a waiter id whose outcome arrives later
   * as an `ackDone` action (by {@linkcode tick} on timeout).
   */
  waitFor(
    offsetEnd: number,
    level: ReplicaAckLevel,
    nowMs: number,
    timeoutMs: number = this.#o.ackTimeoutMs,
  ): AckWait {
    const now = this.#outcome(offsetEnd, level);
    if (now !== null) return { kind: "done", outcome: now };
    if (this.#waiters.size >= this.#o.waitersMax) {
      const message =
        `Cannot wait for acknowledgement as ${this.#waiters.size} produces already wait: the limit is ${this.#o.waitersMax}`;
      return { kind: "done", outcome: _fail("REQUEST_TIMED_OUT", message) };
    }
    const id = this.#nextWaiterId++;
    this.#waiters.set(id, { id, offsetEnd, level, deadlineMs: nowMs + Math.max(0, timeoutMs) });
    return { kind: "pending", waiterId: id };
  }

  /** Forgets a waiter whose producer went away. */
  cancel(waiterId: number): void {
    this.#waiters.delete(waiterId);
  }

  /** The leader's appends are durable up to `logEndOffset`. */
  onLeaderDurable(logEndOffset: number, _nowMs: number): TrackerAction[] {
    assertLog(logEndOffset >= this.#leo, `leader LEO went back: ${this.#leo} -> ${logEndOffset}`);
    this.#leo = logEndOffset;
    return this.#progress();
  }

  /**
   * A follower fetched from `fetchOffset`: it holds every record below. Updates its progress,
   * may propose adding it to the ISR, may advance the HW and finish ack waiters.
   */
  onFollowerFetch(replicaId: number, fetchOffset: number, nowMs: number): TrackerAction[] {
    const f = this.#followers.get(replicaId);
    if (f === undefined || this.#closed) return [];
    if (fetchOffset >= this.#leo) {
      f.lastCaughtUpMs = Math.max(f.lastCaughtUpMs, nowMs);
    } else if (fetchOffset >= f.leaderLeoAtLastFetch && f.leaderLeoAtLastFetch >= 0) {
      f.lastCaughtUpMs = Math.max(f.lastCaughtUpMs, f.lastFetchMs);
    }
    f.leo = Math.min(fetchOffset, this.#leo);
    f.lastFetchMs = nowMs;
    f.leaderLeoAtLastFetch = this.#leo;
    const actions = this.#maybeExpand(replicaId, f);
    actions.push(...this.#progress());
    return actions;
  }

  /**
   * Time passed: shrinks the ISR of lagging followers (as a proposal) and times out ack
   * waiters past their deadline.
   */
  tick(nowMs: number): TrackerAction[] {
    const actions = this.#maybeShrink(nowMs);
    for (const w of [...this.#waiters.values()]) {
      if (w.deadlineMs > nowMs) continue;
      this.#waiters.delete(w.id);
      const message =
        `Cannot acknowledge offsets below ${w.offsetEnd} as replication did not reach them in time: HW is ${this.#hw}`;
      actions.push({
        kind: "ackDone",
        waiterId: w.id,
        outcome: _fail("REQUEST_TIMED_OUT", message),
      });
    }
    return actions;
  }

  /** When {@linkcode tick} next has something to do (earliest waiter deadline), or null. */
  nextDeadlineMs(): number | null {
    let next: number | null = null;
    for (const w of this.#waiters.values()) {
      if (next === null || w.deadlineMs < next) next = w.deadlineMs;
    }
    return next;
  }

  /**
   * The controller committed an ISR (ours or its own, e.g. after fencing a broker). It becomes
   * the ISR, the pending proposal is cleared, and waiters are re-checked.
   */
  onIsrCommitted(isr: readonly number[], _nowMs: number): TrackerAction[] {
    assertLog(isr.includes(this.#o.leaderId), `committed ISR ${isr} lacks the leader`);
    this.#isr = [...isr];
    this.#pendingIsr = null;
    return this.#progress();
  }

  /** The controller refused the proposal (stale epoch, or an error): propose again later. */
  onIsrChangeFailed(): void {
    this.#pendingIsr = null;
  }

  /** Leadership ended: every waiter fails with NOT_LEADER_OR_FOLLOWER. */
  close(): TrackerAction[] {
    this.#closed = true;
    const actions: TrackerAction[] = [];
    for (const w of this.#waiters.values()) {
      const outcome = _fail("NOT_LEADER_OR_FOLLOWER", "this broker is no longer leader");
      actions.push({ kind: "ackDone", waiterId: w.id, outcome });
    }
    this.#waiters.clear();
    return actions;
  }

  #maybeExpand(replicaId: number, f: _Follower): TrackerAction[] {
    if (this.#pendingIsr !== null || this.#isr.includes(replicaId)) return [];
    // Kafka's rule, without a time check: a follower at the HW is in sync by definition, and a
    // busy partition would otherwise never let a slightly-behind follower back in.
    if (f.leo < this.#hw || f.leo < this.#o.leaderEpochStartOffset) return [];
    return [this.#propose([...this.#isr, replicaId].sort((a, b) => a - b))];
  }

  #maybeShrink(nowMs: number): TrackerAction[] {
    if (this.#pendingIsr !== null || this.#closed) return [];
    const keep = this.#isr.filter((id) => {
      const f = this.#followers.get(id);
      return f === undefined || !this.#outOfSync(f, nowMs);
    });
    if (keep.length === this.#isr.length) return [];
    return [this.#propose(keep)];
  }

  #outOfSync(f: _Follower, nowMs: number): boolean {
    if (f.leo >= this.#leo) return false;
    // A follower that has not fetched from this leader yet has an unknown LEO, not an empty
    // log: counting it as `leo` records behind would drop every follower from the ISR at the
    // new leader's first check after a leadership move (then acks=all fails with
    // NOT_ENOUGH_REPLICAS). Until its first fetch, only time can put it out of sync.
    if (f.leo < 0) return nowMs - f.lastCaughtUpMs > this.#o.maxLagTimeMs;
    const lagMessages = this.#leo - Math.max(0, f.leo);
    return lagMessages > this.#o.maxLagMessages || nowMs - f.lastCaughtUpMs > this.#o.maxLagTimeMs;
  }

  #propose(isr: number[]): TrackerAction {
    this.#pendingIsr = isr;
    return { kind: "alterIsr", isr, leaderEpoch: this.#o.leaderEpoch };
  }

  /** Advances the HW and finishes satisfied waiters. */
  #progress(): TrackerAction[] {
    const actions: TrackerAction[] = [];
    const hw = this.#computeHw();
    if (hw > this.#hw) {
      this.#hw = hw;
      actions.push({ kind: "highWatermark", offset: hw });
    }
    for (const w of [...this.#waiters.values()]) {
      const outcome = this.#outcome(w.offsetEnd, w.level);
      if (outcome === null) continue;
      this.#waiters.delete(w.id);
      actions.push({ kind: "ackDone", waiterId: w.id, outcome });
    }
    return actions;
  }

  #computeHw(): number {
    const maximal = new Set([...this.#isr, ...(this.#pendingIsr ?? [])]);
    let hw = this.#leo;
    for (const id of maximal) {
      if (id === this.#o.leaderId) continue;
      // A replica in the ISR that is not assigned (metadata race) holds nothing: HW stays.
      hw = Math.min(hw, this.#followers.get(id)?.leo ?? -1);
    }
    return hw;
  }

  /** The outcome of a wait now, or null while it must keep waiting. */
  #outcome(offsetEnd: number, level: ReplicaAckLevel): AckOutcome | null {
    if (this.#closed) return _fail("NOT_LEADER_OR_FOLLOWER", "this broker is no longer leader");
    switch (level.kind) {
      case "leader":
        return this.#leo >= offsetEnd ? { ok: true } : null;
      case "all":
        if (this.#hw < offsetEnd) return null;
        // Kafka's rule: the ISR may have shrunk while waiting, so the records are only on
        // fewer replicas than the producer asked for.
        if (this.#isr.length < this.#o.minInSyncReplicas) {
          return _fail(
            "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            `Appended offsets below ${offsetEnd} but the ISR shrank to ${this.#isr.length} replicas: min_in_sync_replicas is ${this.#o.minInSyncReplicas}`,
          );
        }
        return { ok: true };
      case "custom":
        return this.#replicasHaving(offsetEnd) >= level.replicas ? { ok: true } : null;
      case "majority":
        return this.#replicasHaving(offsetEnd) * 2 > this.#o.replicas.length ? { ok: true } : null;
    }
  }

  #replicasHaving(offsetEnd: number): number {
    let n = this.#leo >= offsetEnd ? 1 : 0;
    for (const f of this.#followers.values()) if (f.leo >= offsetEnd) n++;
    return n;
  }
}

function _fail(code: AckErrorCode, message: string): AckOutcome {
  return { ok: false, code, retriable: true, message };
}

function _validate(o: ReplicaTrackerOptions): void {
  const ints: [string, number, number][] = [
    ["leaderEpoch", o.leaderEpoch, 0],
    ["leaderEpochStartOffset", o.leaderEpochStartOffset, 0],
    ["logEndOffset", o.logEndOffset, 0],
    ["highWatermark", o.highWatermark, 0],
    ["maxLagMessages", o.maxLagMessages, 1],
    ["maxLagTimeMs", o.maxLagTimeMs, 1],
    ["minInSyncReplicas", o.minInSyncReplicas, 1],
    ["ackTimeoutMs", o.ackTimeoutMs, 0],
    ["waitersMax", o.waitersMax ?? 1, 1],
  ];
  for (const [name, value, min] of ints) {
    if (!Number.isSafeInteger(value) || value < min) {
      throw new RangeError(
        `Cannot create replica tracker as ${name} must be an integer >= ${min}: current value is ${value}`,
      );
    }
  }
  if (!o.replicas.includes(o.leaderId) || !o.isr.includes(o.leaderId)) {
    throw new RangeError(
      `Cannot create replica tracker as leader ${o.leaderId} must be in replicas [${o.replicas}] and ISR [${o.isr}]`,
    );
  }
  if (o.highWatermark > o.logEndOffset) {
    throw new RangeError(
      `Cannot create replica tracker as highWatermark ${o.highWatermark} > logEndOffset ${o.logEndOffset}`,
    );
  }
}
