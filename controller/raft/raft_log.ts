/**
 * The in-memory view of the replicated log: a snapshot boundary plus the entries after it.
 *
 * The controller's log is small (metadata, compacted by snapshots), so the node keeps all of it
 * in memory and storage only has to make it durable and give it back on start.
 *
 * @module
 */

import { assert } from "../../ops/assert.ts";
import type { Entry } from "./types.ts";

/** Log entries after a snapshot boundary, with the lookups Raft needs. */
export class RaftLog {
  #snapshotIndex: number;
  #snapshotTerm: number;
  #entries: Entry[] = [];
  #dirtyFrom = Infinity;

  constructor(snapshotIndex: number, snapshotTerm: number, entries: readonly Entry[] = []) {
    this.#snapshotIndex = snapshotIndex;
    this.#snapshotTerm = snapshotTerm;
    for (const e of entries) {
      if (e.index <= snapshotIndex) continue;
      assert(e.index === this.lastIndex() + 1, `log entries not contiguous at ${e.index}`);
      this.#entries.push(e);
    }
    if (this.#entries.length > 0) this.#dirtyFrom = snapshotIndex + 1;
  }

  /** The index of the last entry covered by the snapshot. */
  get snapshotIndex(): number {
    return this.#snapshotIndex;
  }

  /** The term of the last entry covered by the snapshot. */
  get snapshotTerm(): number {
    return this.#snapshotTerm;
  }

  /** The first index still held as an entry. */
  firstIndex(): number {
    return this.#snapshotIndex + 1;
  }

  /** The index of the last entry, or the snapshot index when there are none. */
  lastIndex(): number {
    return this.#snapshotIndex + this.#entries.length;
  }

  /** The term of the last entry. */
  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** The term at `index`, or undefined when it is compacted away or past the end. */
  term(index: number): number | undefined {
    if (index === this.#snapshotIndex) return this.#snapshotTerm;
    if (index < this.#snapshotIndex || index > this.lastIndex()) return undefined;
    return this.#entries[index - this.#snapshotIndex - 1]?.term;
  }

  /** The entry at `index`, or undefined. */
  entry(index: number): Entry | undefined {
    if (index <= this.#snapshotIndex) return undefined;
    return this.#entries[index - this.#snapshotIndex - 1];
  }

  /** Entries in [lo, hi), at most `countMax` of them. */
  slice(lo: number, hi: number, countMax = Infinity): Entry[] {
    assert(lo > this.#snapshotIndex, `slice below the snapshot: ${lo}`);
    const end = Math.min(hi, this.lastIndex() + 1, lo + countMax);
    if (end <= lo) return [];
    const base = this.#snapshotIndex + 1;
    return this.#entries.slice(lo - base, end - base);
  }

  /** True when a log ending at (`lastIndex`, `lastTerm`) is at least as up to date as this one. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The first index of `entries` whose term differs from ours or that we lack, or 0 when we
   * already hold all of them.
   */
  findConflict(entries: readonly Entry[]): number {
    for (const e of entries) {
      if (e.index <= this.#snapshotIndex) continue;
      if (this.term(e.index) !== e.term) return e.index;
    }
    return 0;
  }

  /**
   * The largest index at or below `index` whose term is at most `term`, with that term. Used by
   * both sides of the fast backtracking: a whole term of conflicting entries is skipped at once.
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    let i = Math.min(index, this.lastIndex());
    for (; i >= this.#snapshotIndex; i--) {
      const t = this.term(i);
      if (t === undefined) break;
      if (t <= term) return [i, t];
    }
    return [i, 0];
  }

  /** Replaces everything from `entries[0].index` on with `entries`. */
  truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index > this.#snapshotIndex, `append below the snapshot: ${first.index}`);
    assert(first.index <= this.lastIndex() + 1, `append leaves a gap at ${first.index}`);
    this.#entries.length = first.index - this.#snapshotIndex - 1;
    this.#dirtyFrom = Math.min(this.#dirtyFrom, first.index);
    for (const e of entries) {
      assert(e.index === this.lastIndex() + 1, `appended entries not contiguous at ${e.index}`);
      this.#entries.push(e);
    }
  }

  /** Drops entries up to and including `index`, which becomes the snapshot boundary. */
  compact(index: number): void {
    const term = this.term(index);
    assert(term !== undefined, `cannot compact to unknown index ${index}`);
    this.#entries = this.#entries.slice(index - this.#snapshotIndex);
    this.#snapshotIndex = index;
    this.#snapshotTerm = term;
  }

  /** Discards the whole log in favour of a snapshot boundary. */
  reset(snapshotIndex: number, snapshotTerm: number): void {
    this.#entries = [];
    this.#dirtyFrom = Math.min(this.#dirtyFrom, snapshotIndex + 1);
    this.#snapshotIndex = snapshotIndex;
    this.#snapshotTerm = snapshotTerm;
  }

  /**
   * The lowest index appended, replaced or reset since the last call (Infinity when none), and
   * starts counting afresh. Checkers use it to examine only what changed.
   */
  takeDirtyFrom(): number {
    const from = this.#dirtyFrom;
    this.#dirtyFrom = Infinity;
    return from;
  }

  /** Every entry held, oldest first. The array must not be modified. */
  all(): readonly Entry[] {
    return this.#entries;
  }
}
