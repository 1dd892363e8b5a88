/**
 * The last stable offset and the aborted-transaction index of every partition, as its log
 * tells them (the transaction index tailer feeds it): a transaction opens on a partition at its
 * producer's first transactional batch there, and ends at its marker. The last stable offset (LSO)
 * is the first offset of the oldest open transaction, or the high watermark; read_committed
 * consumers read below it. An aborted transaction leaves `{producerId, firstOffset,
 * lastOffset}`, which Fetch returns so the client drops that producer's records in the range.
 *
 * Pure bookkeeping: no I/O, no clock.
 *

 *
 * @module
 */

/** One aborted transaction in one partition, as Fetch returns it. */
export interface AbortedTxn {
  readonly producerId: number;
  readonly firstOffset: number;
  /** The offset of the ABORT marker. */
  readonly lastOffset: number;
}

interface _Partition {
  /** Open transactions: producer id to first offset. */
  readonly open: Map<number, number>;
  /** Aborted transactions in marker order (so by lastOffset). */
  aborted: AbortedTxn[];
}

/** Aborted transactions kept per partition; the oldest are dropped beyond it. */
export const ABORTED_PER_PARTITION_MAX = 100_000;

/**
 * Per-partition transaction positions.
 *
 * @example
 * ```ts
 * import { TxnIndex } from "./txn_index.ts";
 * import assert from "node:assert/strict";
 * const ix = new TxnIndex();
 * ix.begin("t/0", 7, 10);
 * assert.equal(ix.lastStableOffset("t/0", 15), 10);
 * ix.end("t/0", 7, 14, false);
 * assert.equal(ix.lastStableOffset("t/0", 15), 15);
 * assert.deepEqual(ix.abortedIn("t/0", 0, 15), [{ producerId: 7, firstOffset: 10, lastOffset: 14 }]);
 * ```
 */
export class TxnIndex {
  readonly #partitions = new Map<string, _Partition>();

  #get(key: string): _Partition {
    let p = this.#partitions.get(key);
    if (p === undefined) this.#partitions.set(key, p = { open: new Map(), aborted: [] });
    return p;
  }

  /** Opens `producerId`'s transaction on the partition at `firstOffset` (kept if already open). */
  begin(key: string, producerId: number, firstOffset: number): void {
    const p = this.#get(key);
    if (!p.open.has(producerId)) p.open.set(producerId, firstOffset);
  }

  /**
   * Closes the producer's transaction at its marker's offset. An abort is recorded in the
   * index and returned; a commit (or a producer with nothing open) returns null.
   */
  end(key: string, producerId: number, markerOffset: number, commit: boolean): AbortedTxn | null {
    const p = this.#get(key);
    const first = p.open.get(producerId);
    p.open.delete(producerId);
    if (commit || first === undefined) return null;
    const entry = { producerId, firstOffset: first, lastOffset: markerOffset };
    this.restoreAborted(key, entry);
    return entry;
  }

  /** Adds an aborted transaction read back at start-up. */
  restoreAborted(key: string, entry: AbortedTxn): void {
    const p = this.#get(key);
    const at = p.aborted.findLastIndex((a) => a.lastOffset <= entry.lastOffset);
    if (p.aborted[at]?.lastOffset === entry.lastOffset) return;
    p.aborted.splice(at + 1, 0, entry);
    if (p.aborted.length > ABORTED_PER_PARTITION_MAX) p.aborted.shift();
  }

  /** The first offset read_committed consumers may not read yet. */
  lastStableOffset(key: string, highWatermark: number): number {
    let lso = highWatermark;
    const p = this.#partitions.get(key);
    if (p === undefined) return lso;
    for (const first of p.open.values()) if (first < lso) lso = first;
    return lso;
  }

  /** Aborted transactions that overlap `[fromOffset, toOffset)`, oldest first. */
  abortedIn(key: string, fromOffset: number, toOffset: number): AbortedTxn[] {
    const p = this.#partitions.get(key);
    if (p === undefined) return [];
    return p.aborted.filter((a) => a.lastOffset >= fromOffset && a.firstOffset < toOffset);
  }

  /** Open transactions of a partition (for DescribeProducers-like views and tests). */
  openOn(key: string): ReadonlyMap<number, number> {
    return this.#partitions.get(key)?.open ?? new Map();
  }

  /** Drops aborted ranges wholly below the log start offset (DeleteRecords, retention). */
  trim(key: string, logStartOffset: number): void {
    const p = this.#partitions.get(key);
    if (p !== undefined) p.aborted = p.aborted.filter((a) => a.lastOffset >= logStartOffset);
  }

  /** Forgets a deleted partition. */
  drop(key: string): void {
    this.#partitions.delete(key);
  }
}
