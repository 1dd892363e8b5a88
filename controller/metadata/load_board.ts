/**
 * The board where the controller leader keeps each broker's latest load report. Load is not
 * replicated through Raft: it changes every heartbeat, and a new leader hears every broker again
 * within one heartbeat interval, as Kafka's controller does with broker heartbeat state.
 *
 * @module
 */

import type { BrokerLoad } from "../../model/broker_load.ts";

interface _Entry {
  readonly load: BrokerLoad;
  readonly atMs: number;
}

/** The latest load report of each broker, on the controller leader. */
export class LoadBoard {
  readonly #entries = new Map<number, _Entry>();

  /** Keeps `load` as broker `nodeId`'s latest report, heard at `nowMs`. */
  record(nodeId: number, load: BrokerLoad, nowMs: number): void {
    this.#entries.set(nodeId, { load, atMs: nowMs });
  }

  /** Reports no older than `maxAgeMs` at `nowMs`, by broker. */
  current(nowMs: number, maxAgeMs: number): Map<number, BrokerLoad> {
    const out = new Map<number, BrokerLoad>();
    for (const [id, e] of [...this.#entries].sort((a, b) => a[0] - b[0])) {
      if (nowMs - e.atMs <= maxAgeMs) out.set(id, e.load);
    }
    return out;
  }

  /** Forgets everything (leadership was lost). */
  clear(): void {
    this.#entries.clear();
  }
}
