/**
 * Broker leases, kept by the Raft leader only and in memory only: heartbeats would otherwise be
 * one log entry per broker per interval. The tracker reads time from the caller, decides which
 * leases expired, and the leader turns each verdict into a `fence_broker` command, so the
 * replicated state changes only through the log and `apply` never reads a clock.
 *
 * A new leader knows no heartbeat times, so it grants every unfenced broker a full lease from the
 * moment it first looks: a broker is never fenced sooner than one lease after a leader change.
 *
 * @module
 */

/** A broker as the tracker needs it. */
export interface LeaseSubject {
  nodeId: number;
  epoch: number;
  fenced: boolean;
}

/** A verdict: this registration's lease ran out. */
export interface ExpiredLease {
  nodeId: number;
  brokerEpoch: number;
}

interface _Lease {
  epoch: number;
  expiresMs: number;
  /** When a fence was last proposed for it, so one is not proposed every tick. */
  fenceProposedMs: number | null;
}

/**
 * Leases by broker.
 *
 * @example
 * ```ts
 * import { LeaseTracker } from "./lease_tracker.ts";
 * import assert from "node:assert/strict";
 * const t = new LeaseTracker({ leaseMs: 1000 });
 * const brokers = [{ nodeId: 1, epoch: 5, fenced: false }];
 * assert.deepEqual(t.expired(brokers, 0), []);
 * t.heartbeat(1, 5, 900);
 * assert.deepEqual(t.expired(brokers, 1800), []);
 * assert.deepEqual(t.expired(brokers, 1901), [{ nodeId: 1, brokerEpoch: 5 }]);
 * ```
 */
export class LeaseTracker {
  readonly leaseMs: number;
  readonly #retryMs: number;
  #leases = new Map<number, _Lease>();

  constructor(options: { leaseMs: number; fenceRetryMs?: number }) {
    if (!Number.isInteger(options.leaseMs) || options.leaseMs < 1) {
      throw new RangeError(
        `Cannot track leases as leaseMs must be an integer >= 1: current value is ${options.leaseMs}`,
      );
    }
    this.leaseMs = options.leaseMs;
    this.#retryMs = options.fenceRetryMs ?? options.leaseMs;
  }

  /** Renews the lease of registration `epoch` of `nodeId`. */
  heartbeat(nodeId: number, epoch: number, nowMs: number): void {
    this.#leases.set(nodeId, { epoch, expiresMs: nowMs + this.leaseMs, fenceProposedMs: null });
  }

  /** Forgets everything (leadership was lost). */
  clear(): void {
    this.#leases.clear();
  }

  /**
   * The unfenced registrations whose lease ran out at `nowMs`. Each is reported once per retry
   * interval, so a fence lost with a leader change is proposed again.
   */
  expired(brokers: readonly LeaseSubject[], nowMs: number): ExpiredLease[] {
    const out: ExpiredLease[] = [];
    const present = new Set<number>();
    for (const b of brokers) {
      present.add(b.nodeId);
      let lease = this.#leases.get(b.nodeId);
      if (lease === undefined || lease.epoch !== b.epoch) {
        lease = { epoch: b.epoch, expiresMs: nowMs + this.leaseMs, fenceProposedMs: null };
        this.#leases.set(b.nodeId, lease);
      }
      if (b.fenced || nowMs <= lease.expiresMs) continue;
      if (lease.fenceProposedMs !== null && nowMs - lease.fenceProposedMs < this.#retryMs) continue;
      lease.fenceProposedMs = nowMs;
      out.push({ nodeId: b.nodeId, brokerEpoch: b.epoch });
    }
    for (const id of this.#leases.keys()) if (!present.has(id)) this.#leases.delete(id);
    return out;
  }
}
