/**
 * Raft safety invariants, checked by the simulator after every step: election safety, log
 * matching, leader completeness and state-machine safety. Each check looks only at what changed
 * since the last one, so checking after every step stays cheap.
 *
 * @module
 */

import type { RaftNode } from "../raft/node.ts";
import type { Entry, NodeId } from "../raft/types.ts";

/** A broken safety property. The simulator stops the seed and prints how to replay it. */
export class InvariantViolation extends Error {
  override name = "InvariantViolation";
  /** Which property broke, e.g. `election_safety`. */
  readonly property: string;

  constructor(property: string, message: string) {
    super(`${property}: ${message}`);
    this.property = property;
  }
}

function _fingerprint(e: Entry): string {
  return `${e.term}|${e.kind}|${e.data}`;
}

interface SeenEntry {
  fingerprint: string;
  prevTerm: number;
}

/** Checks the Raft safety properties across the nodes of one simulated cluster. */
export class InvariantChecker {
  readonly #leaders = new Map<number, NodeId>();
  /** Entries known committed somewhere, by index. */
  readonly #committed = new Map<number, string>();
  /**
   * The lowest term of a node seen holding each index as committed. An entry is committed in
   * some term no later than this, so a leader of a later term must hold it.
   */
  readonly #committedTerm = new Map<number, number>();
  #committedMax = 0;
  /** Every (index, term) seen in any log, with its content and its predecessor's term. */
  readonly #seen = new Map<string, SeenEntry>();
  readonly #applied = new Map<number, string>();
  readonly #commitChecked = new Map<NodeId, number>();
  readonly #leaderChecked = new Set<string>();

  /** Forgets per-node cursors when a node restarts from disk. */
  onRestart(id: NodeId): void {
    this.#commitChecked.delete(id);
  }

  /** Runs every check that concerns `node` after it handled an event. */
  checkNode(node: RaftNode): void {
    const status = node.status();
    if (status.role === "leader") this.#checkElectionSafety(status.term, node.id);
    this.#checkLogMatching(node);
    this.#checkCommitted(node, status.commit, status.term);
    if (status.role === "leader") this.#checkLeaderCompleteness(node, status.term);
  }

  /** Records that `node` applied `entry`; two nodes must never apply different entries at an index. */
  onApply(id: NodeId, entry: Entry): void {
    const fp = _fingerprint(entry);
    const prior = this.#applied.get(entry.index);
    if (prior === undefined) this.#applied.set(entry.index, fp);
    else if (prior !== fp) {
      throw new InvariantViolation(
        "state_machine_safety",
        `${id} applied ${fp} at index ${entry.index}, another node applied ${prior}`,
      );
    }
  }

  #checkElectionSafety(term: number, id: NodeId): void {
    const leader = this.#leaders.get(term);
    if (leader === undefined) this.#leaders.set(term, id);
    else if (leader !== id) {
      throw new InvariantViolation(
        "election_safety",
        `${leader} and ${id} are both leaders of term ${term}`,
      );
    }
  }

  /**
   * Every (index, term) must name one entry content with one predecessor term; by induction
   * two logs that share an (index, term) then share the whole prefix before it.
   */
  #checkLogMatching(node: RaftNode): void {
    const log = node.log;
    const from = Math.max(log.takeDirtyFrom(), log.firstIndex());
    for (let i = from; i <= log.lastIndex(); i++) {
      const e = log.entry(i)!;
      const prevTerm = log.term(i - 1) ?? -1;
      const key = `${i}:${e.term}`;
      const seen = this.#seen.get(key);
      const fp = _fingerprint(e);
      if (seen === undefined) {
        this.#seen.set(key, { fingerprint: fp, prevTerm });
        continue;
      }
      // A predecessor compacted into a snapshot (-1) cannot be compared; the others must agree.
      const prevMismatch = prevTerm !== -1 && seen.prevTerm !== -1 && seen.prevTerm !== prevTerm;
      if (seen.fingerprint !== fp || prevMismatch) {
        throw new InvariantViolation(
          "log_matching",
          `${node.id} holds ${fp} (prev term ${prevTerm}) at ${i}, another log holds ${seen.fingerprint} (prev term ${seen.prevTerm})`,
        );
      }
      if (seen.prevTerm === -1) seen.prevTerm = prevTerm;
    }
  }

  /** Committed prefixes agree: what one node committed at an index, every node commits there. */
  #checkCommitted(node: RaftNode, commit: number, term: number): void {
    const log = node.log;
    let i = Math.max(this.#commitChecked.get(node.id) ?? 0, log.snapshotIndex) + 1;
    for (; i <= commit; i++) {
      const e = log.entry(i);
      if (e === undefined) {
        throw new InvariantViolation(
          "log_matching",
          `${node.id} committed ${commit} but lacks entry ${i}`,
        );
      }
      const fp = _fingerprint(e);
      const prior = this.#committed.get(i);
      this.#committedTerm.set(i, Math.min(term, this.#committedTerm.get(i) ?? Infinity));
      if (prior === undefined) this.#committed.set(i, fp);
      else if (prior !== fp) {
        throw new InvariantViolation(
          "committed_prefix",
          `${node.id} committed ${fp} at ${i}, another node committed ${prior}`,
        );
      }
    }
    this.#commitChecked.set(node.id, Math.max(commit, this.#commitChecked.get(node.id) ?? 0));
    this.#committedMax = Math.max(this.#committedMax, commit);
  }

  /**
   * A leader of term T holds every entry committed in an earlier term (checked when the leader
   * is first seen). A node may win an election late, after a later term already committed more,
   * so only entries committed in terms before T are required.
   */
  #checkLeaderCompleteness(node: RaftNode, term: number): void {
    const mark = `${term}:${node.id}`;
    if (this.#leaderChecked.has(mark)) return;
    this.#leaderChecked.add(mark);
    const log = node.log;
    for (let i = log.firstIndex(); i <= this.#committedMax; i++) {
      const want = this.#committed.get(i);
      if (want === undefined || this.#committedTerm.get(i)! >= term) continue;
      const e = log.entry(i);
      if (e === undefined || _fingerprint(e) !== want) {
        throw new InvariantViolation(
          "leader_completeness",
          `leader ${node.id} of term ${term} lacks committed entry ${i} (${want}); holds ${
            e === undefined ? "nothing" : _fingerprint(e)
          }`,
        );
      }
    }
  }
}
