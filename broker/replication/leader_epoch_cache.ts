/**
 * The leader-epoch cache of one partition (Kafka's `LeaderEpochFileCache`): for each leader
 * epoch, the first offset written in it. Followers use it to find where their log diverges from
 * a new leader's (KIP-101, KIP-279), and a leader answers OffsetForLeaderEpoch from it.
 *
 * The cache itself is a pure, in-memory structure. {@linkcode LeaderEpochCheckpoint} is the thin
 * driver that loads and saves it through an injected {@linkcode EpochCachePersistence} (for
 * example `fileMetadataPersistence(path)`, which writes with fsync and an atomic rename).
 *
 * Text format (like Kafka's `leader-epoch-checkpoint`):
 *
 * ```text
 * file    = version LF count LF *(entry LF)
 * version = "0"
 * count   = 1*DIGIT                  ; number of entries
 * entry   = epoch SP startOffset     ; decimal, epochs and start offsets strictly increasing
 * ```
 *
 * @module
 */

import { readBatchHeader } from "../../protocol/record/record_batch.ts";

/** Epoch of an unknown leader, as in Kafka. */
export const UNDEFINED_EPOCH = -1;
/** Offset answered for an unknown epoch, as in Kafka. */
export const UNDEFINED_EPOCH_OFFSET = -1;

/** One entry: the first offset written by the leader of `epoch`. */
export interface EpochEntry {
  readonly epoch: number;
  readonly startOffset: number;
}

/** Answer of {@linkcode LeaderEpochCache.endOffsetFor}. */
export interface EpochEndOffset {
  /** The largest known epoch at or below the requested one, or {@linkcode UNDEFINED_EPOCH}. */
  readonly epoch: number;
  /** The end offset of that epoch (exclusive), or {@linkcode UNDEFINED_EPOCH_OFFSET}. */
  readonly endOffset: number;
}

/** Options of {@linkcode LeaderEpochCache}. */
export interface LeaderEpochCacheOptions {
  /**
   * Most entries kept; assigning beyond it drops the oldest, which only costs precision for
   * followers that are that far behind (they then truncate further and re-fetch). @default 10000
   */
  readonly entriesMax?: number;
}

/** Thrown when a checkpoint's text cannot be parsed. */
export class EpochCheckpointCorruptError extends Error {
  /** Stable name of the condition. */
  readonly code = "EPOCH_CHECKPOINT_CORRUPT";
  /** Re-reading the same file gives the same answer. */
  readonly retriable = false;
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "EpochCheckpointCorruptError";
  }
}

/**
 * Epoch → start offset entries, epochs and offsets both strictly increasing.
 *
 * @example
 * ```ts
 * import { LeaderEpochCache } from "./leader_epoch_cache.ts";
 * import assert from "node:assert/strict";
 * const cache = new LeaderEpochCache();
 * cache.assign(1, 0);
 * cache.assign(3, 40);
 * assert.deepEqual(cache.endOffsetFor(1, 100), { epoch: 1, endOffset: 40 });
 * assert.deepEqual(cache.endOffsetFor(2, 100), { epoch: 1, endOffset: 40 });
 * assert.deepEqual(cache.endOffsetFor(3, 100), { epoch: 3, endOffset: 100 });
 * ```
 */
export class LeaderEpochCache {
  #entries: EpochEntry[] = [];
  readonly #entriesMax: number;

  constructor(options: LeaderEpochCacheOptions = {}) {
    const max = options.entriesMax ?? 10_000;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new RangeError(
        `Cannot create leader epoch cache as entriesMax must be a positive integer: current value is ${max}`,
      );
    }
    this.#entriesMax = max;
  }

  /** The entries in epoch order (a copy). */
  entries(): EpochEntry[] {
    return [...this.#entries];
  }

  /** The latest epoch, or {@linkcode UNDEFINED_EPOCH} when empty. */
  get latestEpoch(): number {
    return this.#entries.at(-1)?.epoch ?? UNDEFINED_EPOCH;
  }

  /** The earliest entry, or undefined when empty. */
  get earliest(): EpochEntry | undefined {
    return this.#entries[0];
  }

  /**
   * Records that the leader of `epoch` wrote its first batch at `startOffset`. Like Kafka, a
   * repeat of the latest epoch at the same or a later offset is ignored, and entries that would
   * break monotonicity (epoch at or above, or start offset at or above, the new one) are removed
   * first: they belong to a suffix that was truncated. Returns true when the cache changed, so
   * the caller knows to save it.
   *
   * @throws {RangeError} for a negative or non-integer epoch or offset
   */
  assign(epoch: number, startOffset: number): boolean {
    _checkNonNegative("epoch", epoch);
    _checkNonNegative("startOffset", startOffset);
    const last = this.#entries.at(-1);
    if (last !== undefined && last.epoch === epoch && startOffset >= last.startOffset) return false;
    this.#entries = this.#entries.filter((e) => e.epoch < epoch && e.startOffset < startOffset);
    this.#entries.push({ epoch, startOffset });
    if (this.#entries.length > this.#entriesMax) this.#entries.shift();
    return true;
  }

  /**
   * Kafka's `endOffsetFor`: the largest epoch at or below `requestedEpoch`, and where it ends:
   * the start offset of the next higher epoch, or `logEndOffset` when the requested epoch is the
   * latest. A requested epoch below every entry answers that epoch with the earliest entry's
   * start offset (KIP-279: the follower truncates to there). UNDEFINED (-1, -1) for
   * UNDEFINED_EPOCH, an empty cache, or an epoch above the latest.
   */
  endOffsetFor(requestedEpoch: number, logEndOffset: number): EpochEndOffset {
    const undefinedAnswer = { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    if (requestedEpoch === UNDEFINED_EPOCH || this.#entries.length === 0) return undefinedAnswer;
    if (requestedEpoch === this.latestEpoch) {
      return { epoch: requestedEpoch, endOffset: logEndOffset };
    }
    const higher = this.#entries.findIndex((e) => e.epoch > requestedEpoch);
    if (higher < 0) return undefinedAnswer;
    const next = this.#entries[higher]!;
    if (higher === 0) return { epoch: requestedEpoch, endOffset: next.startOffset };
    return { epoch: this.#entries[higher - 1]!.epoch, endOffset: next.startOffset };
  }

  /** The epoch of the leader that wrote `offset`, or {@linkcode UNDEFINED_EPOCH}. */
  epochForOffset(offset: number): number {
    let epoch = UNDEFINED_EPOCH;
    for (const e of this.#entries) {
      if (e.startOffset > offset) break;
      epoch = e.epoch;
    }
    return epoch;
  }

  /**
   * Forgets entries at or after `endOffset`: the log was truncated to end there. Returns true
   * when the cache changed.
   */
  truncateFromEnd(endOffset: number): boolean {
    const before = this.#entries.length;
    this.#entries = this.#entries.filter((e) => e.startOffset < endOffset);
    return this.#entries.length !== before;
  }

  /**
   * Forgets what lies below `startOffset` (the log start moved up): entries wholly below it go,
   * and the entry covering it is moved up to start there. Returns true when the cache changed.
   */
  truncateFromStart(startOffset: number): boolean {
    let covering = -1;
    for (let i = 0; i < this.#entries.length; i++) {
      if (this.#entries[i]!.startOffset <= startOffset) covering = i;
    }
    if (covering < 0) return false;
    const entry = this.#entries[covering]!;
    const changed = covering > 0 || entry.startOffset !== startOffset;
    this.#entries = [{ epoch: entry.epoch, startOffset }, ...this.#entries.slice(covering + 1)];
    return changed;
  }

  /** Forgets every entry (the log was reset to empty). */
  clear(): void {
    this.#entries = [];
  }

  /** The checkpoint text of the cache (format in the module comment). */
  toText(): string {
    const lines = ["0", String(this.#entries.length)];
    for (const e of this.#entries) lines.push(`${e.epoch} ${e.startOffset}`);
    return lines.join("\n") + "\n";
  }

  /**
   * Parses checkpoint text written by {@linkcode LeaderEpochCache.toText}.
   *
   * @throws {EpochCheckpointCorruptError} when the text is not a valid checkpoint
   */
  static fromText(text: string, options: LeaderEpochCacheOptions = {}): LeaderEpochCache {
    const cache = new LeaderEpochCache(options);
    const lines = text.split("\n").filter((l) => l !== "");
    if (lines[0] !== "0") throw new EpochCheckpointCorruptError(`Unknown version ${lines[0]}`);
    const count = Number(lines[1]);
    if (!Number.isSafeInteger(count) || count !== lines.length - 2) {
      throw new EpochCheckpointCorruptError(
        `Cannot parse epoch checkpoint as count ${lines[1]} does not match ${
          lines.length - 2
        } entries`,
      );
    }
    for (const line of lines.slice(2)) {
      const [epoch, start, extra] = line.split(" ").map(Number);
      const valid = extra === undefined && epoch !== undefined && start !== undefined &&
        Number.isSafeInteger(epoch) && Number.isSafeInteger(start) && epoch >= 0 && start >= 0;
      const last = cache.#entries.at(-1);
      if (!valid || (last !== undefined && (epoch <= last.epoch || start <= last.startOffset))) {
        throw new EpochCheckpointCorruptError(
          `Cannot parse epoch checkpoint entry "${line}": entries must be increasing integers`,
        );
      }
      cache.#entries.push({ epoch, startOffset: start });
    }
    return cache;
  }
}

/** Where a {@linkcode LeaderEpochCheckpoint} keeps its text (same shape as MetadataPersistence). */
export interface EpochCachePersistence {
  /** The saved text, or null when nothing was saved yet. */
  load(): Promise<string | null>;
  /** Saves durably and atomically (write, fsync, rename). */
  save(text: string): Promise<void>;
}

/**
 * Loads and saves a partition's {@linkcode LeaderEpochCache}. Saves are serialized, so the last
 * call's state is the one on disk.
 *
 * @example
 * ```ts
 * import { LeaderEpochCheckpoint } from "./leader_epoch_cache.ts";
 * import assert from "node:assert/strict";
 * let stored: string | null = null;
 * const checkpoint = new LeaderEpochCheckpoint({
 *   load: () => Promise.resolve(stored),
 *   save: (text) => { stored = text; return Promise.resolve(); },
 * });
 * const cache = await checkpoint.load();
 * cache.assign(2, 10);
 * await checkpoint.save(cache);
 * assert.deepEqual((await checkpoint.load()).entries(), [{ epoch: 2, startOffset: 10 }]);
 * ```
 */
export class LeaderEpochCheckpoint {
  readonly #persistence: EpochCachePersistence;
  readonly #options: LeaderEpochCacheOptions;
  #chain: Promise<void> = Promise.resolve();

  constructor(persistence: EpochCachePersistence, options: LeaderEpochCacheOptions = {}) {
    this.#persistence = persistence;
    this.#options = options;
  }

  /** The saved cache, or an empty one. @throws {EpochCheckpointCorruptError} */
  async load(): Promise<LeaderEpochCache> {
    const text = await this.#persistence.load();
    if (text === null) return new LeaderEpochCache(this.#options);
    return LeaderEpochCache.fromText(text, this.#options);
  }

  /** Saves the cache's current entries; resolves once they are durable. */
  save(cache: LeaderEpochCache): Promise<void> {
    const text = cache.toText();
    const run = this.#chain.then(() => this.#persistence.save(text));
    this.#chain = run.catch(() => {});
    return run;
  }
}

function _checkNonNegative(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot assign leader epoch as ${name} must be a non-negative integer: current value is ${value}`,
    );
  }
}

/**
 * Records the epochs of batches appended as a follower (or recovered): each batch's
 * `partitionLeaderEpoch` starts at its base offset unless the cache already has that epoch.
 * Returns true when the cache changed, so the caller saves it.
 */
export function assignEpochsFromBatches(
  cache: LeaderEpochCache,
  batches: Iterable<Uint8Array>,
): boolean {
  let changed = false;
  for (const batch of batches) {
    const h = readBatchHeader(batch);
    // Batches written before epochs were stamped carry -1; they say nothing about leadership.
    if (h.partitionLeaderEpoch < 0) continue;
    changed = cache.assign(h.partitionLeaderEpoch, h.baseOffset) || changed;
  }
  return changed;
}
