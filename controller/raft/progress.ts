/**
 * The leader's view of one follower: how far its log matches, what to send next, and how much
 * may be in flight.
 *
 * @module
 */

/**
 * `probe`: one append at a time until the match point is found. `replicate`: appends are
 * pipelined up to a window. `snapshot`: a snapshot is on its way and nothing else is sent.
 */
export type ProgressState = "probe" | "replicate" | "snapshot";

/** Replication progress of one peer, kept by the leader. */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  /** In probe state, true after an append was sent and before any answer came back. */
  probeSent = false;
  /** Last indices of appends sent in replicate state and not yet acknowledged, oldest first. */
  inflights: number[] = [];
  pendingSnapshot = 0;
  /** Ticks since the snapshot was sent; a lost snapshot is retried after an election timeout. */
  snapshotElapsed = 0;
  /** True when the peer answered during the current check-quorum period. */
  recentActive = false;
  readonly #inflightMax: number;

  constructor(next: number, inflightMax: number) {
    this.next = next;
    this.#inflightMax = inflightMax;
  }

  becomeProbe(): void {
    this.next = this.state === "snapshot"
      ? Math.max(this.match + 1, this.pendingSnapshot + 1)
      : this.match + 1;
    this.state = "probe";
    this.probeSent = false;
    this.inflights = [];
  }

  becomeReplicate(): void {
    this.state = "replicate";
    this.next = this.match + 1;
    this.inflights = [];
  }

  becomeSnapshot(index: number): void {
    this.state = "snapshot";
    this.pendingSnapshot = index;
    this.snapshotElapsed = 0;
    this.inflights = [];
  }

  /** Records an acknowledgement up to `index`; true when the match point moved. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    while (this.inflights.length > 0 && this.inflights[0]! <= index) this.inflights.shift();
    return updated;
  }

  /**
   * Handles a rejection of the append at `rejected`; `probeHint` is the highest index that may
   * match. Returns false for a stale rejection that must be ignored.
   */
  maybeDecrTo(rejected: number, probeHint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, probeHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** True when nothing more may be sent to this peer for now. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.length >= this.#inflightMax;
      case "snapshot":
        return true;
    }
  }

  /** Records an append sent in replicate state whose last entry is `lastIndex`. */
  sentReplicate(lastIndex: number): void {
    this.next = lastIndex + 1;
    this.inflights.push(lastIndex);
  }

  /** Frees one in-flight slot: a heartbeat answered, so the window must not stay stuck. */
  freeFirstInflight(): void {
    this.inflights.shift();
  }
}
