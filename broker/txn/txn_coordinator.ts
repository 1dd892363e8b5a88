/**
 * The transaction coordinator's state machine (KIP-98), sans IO: per `transactional.id`, the
 * producer id and epoch, the state, the partitions and consumer groups in the transaction, and
 * the timeout. It never writes anything itself. Each request is checked against the current
 * state and, when it changes something, yields the next {@linkcode TxnMetadata}; the driver
 * makes that durable in `__transaction_state` and then calls {@linkcode TxnCoordinator.complete}
 * (or {@linkcode TxnCoordinator.abandon} when the write failed). While a transition is in flight
 * every other request for the id gets CONCURRENT_TRANSACTIONS, which clients retry, so the
 * durable record and the in-memory state never disagree.
 *
 * States follow Kafka's `TransactionState`:
 *
 * ```text
 * Empty ──AddPartitions/AddOffsets──▶ Ongoing ──EndTxn(commit)──▶ PrepareCommit ──markers──▶ CompleteCommit
 *   ▲                                    │    ──EndTxn(abort) / timeout / InitProducerId──▶ PrepareAbort ──markers──▶ CompleteAbort
 *   └──────────── InitProducerId (epoch + 1) from Empty, CompleteCommit or CompleteAbort ◀──────────────────────────┘
 * ```
 *
 * Fencing: InitProducerId bumps the epoch, so requests of a zombie (an older instance with the
 * same transactional id) carry an older epoch and get INVALID_PRODUCER_EPOCH. InitProducerId on
 * an Ongoing transaction first aborts it with a bumped epoch (the markers carry that epoch and
 * fence the zombie at every partition), and answers CONCURRENT_TRANSACTIONS until the abort is
 * complete; the client retries and then gets the next epoch. A transaction that outlives its
 * `transaction.timeout.ms` is aborted the same way by {@linkcode TxnCoordinator.expired}.
 *
 * @module
 */

import type { Clock } from "../../ops/clock.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";

/** Kafka's transaction states. */
export type TxnState =
  | "Empty"
  | "Ongoing"
  | "PrepareCommit"
  | "PrepareAbort"
  | "CompleteCommit"
  | "CompleteAbort";

/** One partition in a transaction, with the log end offset it had when it was added. */
export interface TxnPartition {
  readonly topic: string;
  readonly partition: number;
  /**
   * The partition's log end offset when it joined the transaction. Every record of the
   * transaction in that partition is at or above it, and every earlier record of the same
   * producer id below it, so `[firstOffset, marker]` filtered by producer id is exactly the
   * transaction's data: the aborted-transaction index is built from it.
   */
  readonly firstOffset: number;
}

/** A consumer offset held by the transaction until it commits (TxnOffsetCommit). */
export interface TxnOffset {
  readonly groupId: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly leaderEpoch: number;
  readonly metadata: string | null;
}

/** The durable state of one transactional id, as written to `__transaction_state`. */
export interface TxnMetadata {
  readonly transactionalId: string;
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly timeoutMs: number;
  readonly state: TxnState;
  readonly partitions: readonly TxnPartition[];
  /** Groups added with AddOffsetsToTxn. */
  readonly groups: readonly string[];
  readonly offsets: readonly TxnOffset[];
  /** When the current transaction started (its first AddPartitions/AddOffsets); -1 if none. */
  readonly startMs: number;
  readonly updateMs: number;
}

/** A request's outcome: an error code, nothing to do, or a transition to make durable. */
export type TxnDecision =
  | { readonly kind: "error"; readonly code: number }
  | { readonly kind: "unchanged"; readonly current: TxnMetadata }
  | { readonly kind: "transition"; readonly next: TxnMetadata };

/** The producer fields every transactional request carries. */
export interface TxnProducer {
  readonly transactionalId: string;
  readonly producerId: number;
  readonly producerEpoch: number;
}

/** Options of {@linkcode TxnCoordinator}. */
export interface TxnCoordinatorOptions {
  readonly clock: Clock;
  /** `transaction.max.timeout.ms`: the largest timeout a producer may ask for. @default 900000 */
  readonly timeoutMaxMs?: number | undefined;
  /** Transactional ids tracked at most; InitProducerId for a new one beyond it is refused. @default 100000 */
  readonly transactionalIdsMax?: number | undefined;
}

/** Kafka's largest producer epoch; a bump past it needs a new producer id. */
export const PRODUCER_EPOCH_MAX = 32767;

const _D = (code: number): TxnDecision => ({ kind: "error", code });

/**
 * The coordinator core.
 *
 * @example
 * ```ts
 * import { TxnCoordinator } from "./txn_coordinator.ts";
 * import { ManualClock } from "../../ops/clock.ts";
 * import assert from "node:assert/strict";
 * const c = new TxnCoordinator({ clock: new ManualClock(0) });
 * const init = c.initProducerId("t", 60_000, 7);
 * assert.equal(init.kind, "transition");
 * if (init.kind === "transition") c.complete(init.next);
 * assert.equal(c.get("t")?.producerEpoch, 0);
 * ```
 */
export class TxnCoordinator {
  readonly #clock: Clock;
  readonly #timeoutMaxMs: number;
  readonly #idsMax: number;
  readonly #txns = new Map<string, TxnMetadata>();
  readonly #pending = new Set<string>();

  constructor(options: TxnCoordinatorOptions) {
    this.#clock = options.clock;
    this.#timeoutMaxMs = options.timeoutMaxMs ?? 900_000;
    this.#idsMax = options.transactionalIdsMax ?? 100_000;
    if (!(this.#timeoutMaxMs >= 1)) throw new RangeError("timeoutMaxMs must be at least 1");
    if (!(this.#idsMax >= 1)) throw new RangeError("transactionalIdsMax must be at least 1");
  }

  /** The durable state of `transactionalId`, if known. */
  get(transactionalId: string): TxnMetadata | undefined {
    return this.#txns.get(transactionalId);
  }

  /** Every known transactional id's state. */
  list(): TxnMetadata[] {
    return [...this.#txns.values()];
  }

  /** Whether a transition of `transactionalId` waits to become durable. */
  isPending(transactionalId: string): boolean {
    return this.#pending.has(transactionalId);
  }

  /**
   * InitProducerId with a transactional id. `newProducerId` is used when the id is unknown or
   * its epoch is exhausted. Returns CONCURRENT_TRANSACTIONS-after-abort as a transition to
   * PrepareAbort (the driver completes the abort, and the client's retry then succeeds).
   */
  initProducerId(transactionalId: string, timeoutMs: number, newProducerId: number): TxnDecision {
    if (this.#pending.has(transactionalId)) return _D(ErrorCode.CONCURRENT_TRANSACTIONS);
    if (!(timeoutMs >= 1 && timeoutMs <= this.#timeoutMaxMs)) {
      return _D(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    }
    const now = this.#clock.nowMs();
    const cur = this.#txns.get(transactionalId);
    if (cur === undefined) {
      if (this.#txns.size >= this.#idsMax) return _D(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
      return this.#begin({
        transactionalId,
        producerId: newProducerId,
        producerEpoch: 0,
        timeoutMs,
        ..._idle("Empty", now),
      });
    }
    switch (cur.state) {
      case "PrepareCommit":
      case "PrepareAbort":
        return _D(ErrorCode.CONCURRENT_TRANSACTIONS);
      case "Ongoing":
        // The previous instance left a transaction open: abort it with a bumped epoch, which
        // fences that instance, before handing out the next epoch.
        return this.#begin(this.#abortNext(cur, now));
      default: {
        const exhausted = cur.producerEpoch >= PRODUCER_EPOCH_MAX;
        return this.#begin({
          ...cur,
          producerId: exhausted ? newProducerId : cur.producerId,
          producerEpoch: exhausted ? 0 : cur.producerEpoch + 1,
          timeoutMs,
          ..._idle("Empty", now),
        });
      }
    }
  }

  /** AddPartitionsToTxn: the partitions join the transaction, which starts if it was idle. */
  addPartitions(p: TxnProducer, partitions: readonly TxnPartition[]): TxnDecision {
    const cur = this.#checkProducer(p);
    if (!("state" in cur)) return cur;
    if (cur.state === "PrepareCommit" || cur.state === "PrepareAbort") {
      return _D(ErrorCode.CONCURRENT_TRANSACTIONS);
    }
    const active = cur.state === "Ongoing";
    const have = new Set(active ? cur.partitions.map((x) => _pkey(x.topic, x.partition)) : []);
    const added = partitions.filter((x) => !have.has(_pkey(x.topic, x.partition)));
    if (active && added.length === 0) return { kind: "unchanged", current: cur };
    const now = this.#clock.nowMs();
    const base = active ? cur : { ...cur, partitions: [], groups: [], offsets: [], startMs: now };
    return this.#begin({
      ...base,
      state: "Ongoing",
      partitions: [...base.partitions, ..._dedupe(added)],
      updateMs: now,
    });
  }

  /** AddOffsetsToTxn: the group's offsets will be committed with the transaction. */
  addOffsets(p: TxnProducer, groupId: string): TxnDecision {
    const cur = this.#checkProducer(p);
    if (!("state" in cur)) return cur;
    if (cur.state === "PrepareCommit" || cur.state === "PrepareAbort") {
      return _D(ErrorCode.CONCURRENT_TRANSACTIONS);
    }
    const active = cur.state === "Ongoing";
    if (active && cur.groups.includes(groupId)) return { kind: "unchanged", current: cur };
    const now = this.#clock.nowMs();
    const base = active ? cur : { ...cur, partitions: [], groups: [], offsets: [], startMs: now };
    return this.#begin({
      ...base,
      state: "Ongoing",
      groups: [...base.groups, groupId],
      updateMs: now,
    });
  }

  /** TxnOffsetCommit: offsets of a group added with AddOffsetsToTxn wait for the commit. */
  commitOffsets(p: TxnProducer, groupId: string, offsets: readonly TxnOffset[]): TxnDecision {
    const cur = this.#checkProducer(p);
    if (!("state" in cur)) return cur;
    if (cur.state !== "Ongoing" || !cur.groups.includes(groupId)) {
      return _D(ErrorCode.INVALID_TXN_STATE);
    }
    const replaced = new Set(offsets.map((o) => `${o.groupId}\0${_pkey(o.topic, o.partition)}`));
    const kept = cur.offsets.filter((o) =>
      !replaced.has(`${o.groupId}\0${_pkey(o.topic, o.partition)}`)
    );
    return this.#begin({ ...cur, offsets: [...kept, ...offsets], updateMs: this.#clock.nowMs() });
  }

  /**
   * EndTxn: Ongoing moves to PrepareCommit or PrepareAbort. A retry of an EndTxn that already
   * completed is answered as done; the opposite outcome is INVALID_TXN_STATE.
   */
  endTxn(p: TxnProducer, commit: boolean): TxnDecision {
    const cur = this.#checkProducer(p);
    if (!("state" in cur)) return cur;
    switch (cur.state) {
      case "Ongoing": {
        const now = this.#clock.nowMs();
        return this.#begin({
          ...cur,
          state: commit ? "PrepareCommit" : "PrepareAbort",
          updateMs: now,
        });
      }
      case "PrepareCommit":
      case "PrepareAbort":
        return _D(ErrorCode.CONCURRENT_TRANSACTIONS);
      case "CompleteCommit":
        return commit ? { kind: "unchanged", current: cur } : _D(ErrorCode.INVALID_TXN_STATE);
      case "CompleteAbort":
        return commit ? _D(ErrorCode.INVALID_TXN_STATE) : { kind: "unchanged", current: cur };
      case "Empty":
        return _D(ErrorCode.INVALID_TXN_STATE);
    }
  }

  /** The transition that follows a durable PrepareCommit/PrepareAbort once markers are written. */
  completeNext(transactionalId: string): TxnDecision {
    if (this.#pending.has(transactionalId)) return _D(ErrorCode.CONCURRENT_TRANSACTIONS);
    const cur = this.#txns.get(transactionalId);
    if (cur === undefined) return _D(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    if (cur.state !== "PrepareCommit" && cur.state !== "PrepareAbort") {
      return { kind: "unchanged", current: cur };
    }
    const state = cur.state === "PrepareCommit" ? "CompleteCommit" : "CompleteAbort";
    return this.#begin({
      ...cur,
      state,
      partitions: [],
      groups: [],
      offsets: [],
      startMs: -1,
      updateMs: this.#clock.nowMs(),
    });
  }

  /**
   * Aborts for every Ongoing transaction that has outlived its timeout: each becomes a
   * transition to PrepareAbort with a bumped epoch, so the timed-out producer is fenced.
   */
  expired(): TxnMetadata[] {
    const now = this.#clock.nowMs();
    const out: TxnMetadata[] = [];
    for (const t of this.#txns.values()) {
      if (t.state !== "Ongoing" || this.#pending.has(t.transactionalId)) continue;
      if (t.startMs + t.timeoutMs > now) continue;
      const d = this.#begin(this.#abortNext(t, now));
      if (d.kind === "transition") out.push(d.next);
    }
    return out;
  }

  /**
   * Transactional ids idle (Empty, CompleteCommit or CompleteAbort) for `expirationMs` or
   * longer (`transactional.id.expiration.ms`), which the driver tombstones and then
   * {@linkcode replay}s as deleted. Each is marked pending until then, so a producer that
   * comes back meanwhile waits (CONCURRENT_TRANSACTIONS) rather than racing the tombstone.
   */
  idle(expirationMs: number): string[] {
    const now = this.#clock.nowMs();
    const out: string[] = [];
    for (const t of this.#txns.values()) {
      if (t.state === "Ongoing" || t.state === "PrepareCommit" || t.state === "PrepareAbort") {
        continue;
      }
      if (this.#pending.has(t.transactionalId) || t.updateMs + expirationMs > now) continue;
      this.#pending.add(t.transactionalId);
      out.push(t.transactionalId);
    }
    return out;
  }

  /** Applies a tombstone written for an id {@linkcode idle} returned. */
  forget(transactionalId: string): void {
    this.#pending.delete(transactionalId);
    this.#txns.delete(transactionalId);
  }

  /** Applies a transition once it is durable. */
  complete(next: TxnMetadata): void {
    this.#pending.delete(next.transactionalId);
    this.#txns.set(next.transactionalId, next);
  }

  /** Drops a transition whose write failed; the state stays what it was. */
  abandon(transactionalId: string): void {
    this.#pending.delete(transactionalId);
  }

  /** Loads a record read back from `__transaction_state` (null: a tombstone). */
  replay(transactionalId: string, meta: TxnMetadata | null): void {
    if (meta === null) this.#txns.delete(transactionalId);
    else this.#txns.set(transactionalId, meta);
  }

  /** Forgets the ids whose `__transaction_state` partition moved to another broker. */
  unload(keep: (transactionalId: string) => boolean): void {
    for (const id of [...this.#txns.keys()]) {
      if (!keep(id) && !this.#pending.has(id)) this.#txns.delete(id);
    }
  }

  #begin(next: TxnMetadata): TxnDecision {
    this.#pending.add(next.transactionalId);
    return { kind: "transition", next };
  }

  #abortNext(cur: TxnMetadata, now: number): TxnMetadata {
    // Past the epoch limit the abort keeps the epoch; the next InitProducerId moves to a new
    // producer id, which fences just as well.
    const epoch = Math.min(cur.producerEpoch + 1, PRODUCER_EPOCH_MAX);
    return { ...cur, producerEpoch: epoch, state: "PrepareAbort", updateMs: now };
  }

  #checkProducer(p: TxnProducer): TxnMetadata | TxnDecision {
    if (this.#pending.has(p.transactionalId)) return _D(ErrorCode.CONCURRENT_TRANSACTIONS);
    const cur = this.#txns.get(p.transactionalId);
    if (cur === undefined || cur.producerId !== p.producerId) {
      return _D(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    }
    if (p.producerEpoch !== cur.producerEpoch) return _D(ErrorCode.INVALID_PRODUCER_EPOCH);
    return cur;
  }
}

function _idle(state: TxnState, now: number) {
  return {
    state,
    partitions: [] as TxnPartition[],
    groups: [] as string[],
    offsets: [] as TxnOffset[],
    startMs: -1,
    updateMs: now,
  };
}

function _pkey(topic: string, partition: number): string {
  return `${topic}\0${partition}`;
}

function _dedupe(partitions: readonly TxnPartition[]): TxnPartition[] {
  const seen = new Set<string>();
  return partitions.filter((x) => {
    const k = _pkey(x.topic, x.partition);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
