/**
 * The simulated network: it drops, delays, duplicates and reorders messages, and cuts links in
 * one or both directions. Time is the simulator's integer clock.
 *
 * @module
 */

import type { SeededRandom } from "../../ops/random.ts";
import type { NodeId, RaftMessage } from "../raft/types.ts";

/** Fault rates of the network, fixed per seed. */
export interface NetworkFaults {
  /** Probability a message is lost. */
  dropRate: number;
  /** Probability a message is delivered twice. */
  duplicateRate: number;
  /** Usual delay range in time units; random delays within it reorder messages. */
  delayMin: number;
  delayMax: number;
  /** Probability of a long delay, up to `slowDelayMax`. */
  slowRate: number;
  slowDelayMax: number;
}

/** Counts of what the network did, for coverage reports. */
export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  blocked: number;
  slow: number;
  /** Messages scheduled to arrive before one sent earlier on the same link. */
  reordered: number;
}

/** Messages in flight between simulated nodes. */
export class SimNetwork {
  readonly #random: SeededRandom;
  #faults: NetworkFaults;
  readonly #inFlight = new Map<number, RaftMessage[]>();
  readonly #blocked = new Set<string>();
  /** Messages in flight beyond which new ones are dropped, like a full socket buffer. */
  readonly #inFlightMax: number;
  #inFlightCount = 0;
  readonly stats: NetworkStats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    blocked: 0,
    slow: 0,
    reordered: 0,
  };
  readonly #lastArrival = new Map<string, number>();

  constructor(random: SeededRandom, faults: NetworkFaults, inFlightMax = 100_000) {
    this.#random = random;
    this.#faults = faults;
    this.#inFlightMax = inFlightMax;
  }

  /** Replaces the fault rates (the simulator calms the network before its liveness check). */
  setFaults(faults: NetworkFaults): void {
    this.#faults = faults;
  }

  /** Queues `m`, sent at time `now`. */
  send(m: RaftMessage, now: number): void {
    this.stats.sent++;
    if (this.#random.chance(this.#faults.dropRate) || this.#inFlightCount >= this.#inFlightMax) {
      this.stats.dropped++;
      return;
    }
    this.#schedule(m, now);
    if (this.#random.chance(this.#faults.duplicateRate)) {
      this.stats.duplicated++;
      this.#schedule(m, now);
    }
  }

  /** Takes the messages due at `now`, in a random order, minus those crossing a cut link. */
  deliverDue(now: number): RaftMessage[] {
    const due = this.#inFlight.get(now);
    if (due === undefined) return [];
    this.#inFlight.delete(now);
    this.#inFlightCount -= due.length;
    for (let i = due.length - 1; i > 0; i--) {
      const j = this.#random.int(i + 1);
      [due[i], due[j]] = [due[j]!, due[i]!];
    }
    const out: RaftMessage[] = [];
    for (const m of due) {
      if (this.isBlocked(m.from, m.to)) this.stats.blocked++;
      else out.push(m);
    }
    this.stats.delivered += out.length;
    return out;
  }

  /** Puts `m` back in flight for delivery at `at`, e.g. while its receiver is paused. */
  redeliverAt(m: RaftMessage, at: number): void {
    const list = this.#inFlight.get(at);
    if (list === undefined) this.#inFlight.set(at, [m]);
    else list.push(m);
    this.#inFlightCount++;
    this.stats.delivered--;
  }

  /** Cuts the link from `from` to `to` (one direction). */
  block(from: NodeId, to: NodeId): void {
    this.#blocked.add(`${from}>${to}`);
  }

  /** True when messages from `from` to `to` are cut. */
  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.#blocked.size > 0 && this.#blocked.has(`${from}>${to}`);
  }

  /** Restores every link. */
  heal(): void {
    this.#blocked.clear();
  }

  /** The number of messages in flight. */
  get inFlight(): number {
    return this.#inFlightCount;
  }

  #schedule(m: RaftMessage, now: number): void {
    const f = this.#faults;
    let delay = this.#random.between(f.delayMin, f.delayMax);
    if (this.#random.chance(f.slowRate)) {
      this.stats.slow++;
      delay = this.#random.between(f.delayMax, f.slowDelayMax);
    }
    const at = now + Math.max(1, delay);
    const link = `${m.from}>${m.to}`;
    const last = this.#lastArrival.get(link) ?? 0;
    if (at < last) this.stats.reordered++;
    else this.#lastArrival.set(link, at);
    const list = this.#inFlight.get(at);
    if (list === undefined) this.#inFlight.set(at, [m]);
    else list.push(m);
    this.#inFlightCount++;
  }
}
