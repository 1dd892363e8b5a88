/**
 * Durable Raft storage: the interface every backend implements, and an in-memory backend that
 * tells written data from synced data, for the simulator and tests.
 *
 * @module
 */

import { assert } from "../../ops/assert.ts";
import type { Random } from "../../ops/random.ts";
import type { Entry, HardState, PersistedState, Snapshot } from "./types.ts";

/**
 * What one Ready asks storage to make durable, applied in this order: the snapshot, then the
 * entries (replacing the log from `entries[0].index`), then the hard state. A crash part-way
 * leaves a prefix of that order, never a later step without an earlier one.
 */
export interface PersistBatch {
  snapshot: Snapshot | null;
  entries: readonly Entry[];
  hardState: HardState | null;
}

/** Durable storage of one Raft node. */
export interface RaftStorage {
  /** Everything durable, as it was after the last completed {@linkcode save}. */
  load(): Promise<PersistedState>;
  /** Makes `batch` durable; resolves only once it is. */
  save(batch: PersistBatch): Promise<void>;
}

/** The state of a node that has never stored anything. */
export function emptyPersistedState(): PersistedState {
  return {
    hardState: { term: 0, vote: null, commit: 0 },
    snapshot: { index: 0, term: 0, voters: [], data: "" },
    entries: [],
  };
}

/**
 * Applies `batch` to `state` in place, with the same rules every backend follows. Entries after
 * a snapshot survive only when the log holds the snapshot's last entry with its term: that is a
 * local compaction. Otherwise the snapshot came from the leader and replaces the whole log.
 */
export function applyPersistBatch(
  state: PersistedState,
  batch: PersistBatch,
  entriesKept = Infinity,
): void {
  if (batch.snapshot !== null) _applySnapshot(state, batch.snapshot);
  const first = batch.entries[0];
  if (first !== undefined && entriesKept > 0) {
    const base = state.snapshot.index + 1;
    assert(first.index >= base, `persisted entry ${first.index} is below the snapshot`);
    assert(
      first.index <= base + state.entries.length,
      `persisted entry ${first.index} leaves a gap`,
    );
    state.entries.length = first.index - base;
    const kept = Math.min(entriesKept, batch.entries.length);
    for (let i = 0; i < kept; i++) state.entries.push(batch.entries[i]!);
  }
  if (batch.hardState !== null && entriesKept >= batch.entries.length) {
    state.hardState = { ...batch.hardState };
  }
}

function _applySnapshot(state: PersistedState, snapshot: Snapshot): void {
  const base = state.snapshot.index;
  const at = state.entries[snapshot.index - base - 1];
  const keepSuffix = at !== undefined && at.term === snapshot.term;
  state.entries = keepSuffix ? state.entries.slice(snapshot.index - base) : [];
  state.snapshot = snapshot;
}

function _clone(state: PersistedState): PersistedState {
  return {
    hardState: { ...state.hardState },
    snapshot: state.snapshot,
    entries: [...state.entries],
  };
}

/**
 * In-memory storage with a written-versus-synced distinction. `write` buffers, `sync` makes the
 * buffer durable, and `crash` keeps only what a real disk could have kept: all synced data plus
 * possibly a torn prefix of the unsynced writes.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "./storage.ts";
 * const s = new MemoryStorage();
 * s.write({ snapshot: null, entries: [{ index: 1, term: 1, kind: "normal", data: "x" }], hardState: null });
 * s.crash(null);
 * if (s.loadSync().entries.length !== 0) throw new Error("unsynced data survived");
 * ```
 */
export class MemoryStorage implements RaftStorage {
  #synced: PersistedState;
  #pending: PersistBatch[] = [];
  /** Batches made durable so far; the simulator reports it. */
  syncCount = 0;

  constructor(initial: PersistedState = emptyPersistedState()) {
    this.#synced = _clone(initial);
  }

  /** Buffers a batch; it is lost on a crash unless {@linkcode sync} runs first. */
  write(batch: PersistBatch): void {
    this.#pending.push(batch);
  }

  /** Makes every buffered batch durable. */
  sync(): void {
    for (const batch of this.#pending) applyPersistBatch(this.#synced, batch);
    if (this.#pending.length > 0) this.syncCount++;
    this.#pending = [];
  }

  /**
   * Loses unsynced writes. With a `random`, a torn prefix of them survives: whole batches, then
   * part of one (snapshot before entries before hard state), as an interrupted fsync could leave.
   */
  crash(random: Random | null): void {
    if (random !== null && this.#pending.length > 0) {
      const whole = Math.floor(random.next() * this.#pending.length);
      for (let i = 0; i < whole; i++) applyPersistBatch(this.#synced, this.#pending[i]!);
      const torn = this.#pending[whole]!;
      if (random.next() < 0.5) {
        const kept = Math.floor(random.next() * (torn.entries.length + 1));
        applyPersistBatch(this.#synced, torn, kept);
      }
    }
    this.#pending = [];
  }

  /** The durable state, synchronously. */
  loadSync(): PersistedState {
    return _clone(this.#synced);
  }

  load(): Promise<PersistedState> {
    return Promise.resolve(this.loadSync());
  }

  save(batch: PersistBatch): Promise<void> {
    this.write(batch);
    this.sync();
    return Promise.resolve();
  }
}
