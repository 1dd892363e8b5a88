/**
 * Idempotent-producer bookkeeping for one partition, as Kafka does it: per producer id, the
 * current epoch and the metadata of its last five batches. A retried batch that matches one of
 * those is a duplicate and gets its original offset back; a batch that skips a sequence number is
 * rejected with OUT_OF_ORDER_SEQUENCE_NUMBER; an older epoch is fenced. This is a pure state
 * machine: the broker calls {@linkcode ProducerStateTable.check} before assigning offsets and
 * {@linkcode ProducerStateTable.record} after the batch is appended.
 *
 * @module
 */

/** How many recent batches per producer are remembered for duplicate detection (Kafka: 5). */
export const PRODUCER_BATCHES_MAX = 5;
/** Producer ids tracked per partition before the least recently used is forgotten. */
export const PRODUCERS_PER_PARTITION_MAX = 10_000;

/** The sequence fields of a batch header. */
export interface BatchSequence {
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly baseSequence: number;
  /** Records in the batch minus one (the header's lastOffsetDelta). */
  readonly lastOffsetDelta: number;
}

/** The outcome of checking a batch. */
export type SequenceCheck =
  | { readonly kind: "append" }
  | { readonly kind: "duplicate"; readonly baseOffset: number }
  | {
    readonly kind: "error";
    readonly code:
      | "OUT_OF_ORDER_SEQUENCE_NUMBER"
      | "INVALID_PRODUCER_EPOCH"
      | "TRANSACTION_COORDINATOR_FENCED";
    readonly message: string;
  };

interface _BatchMeta {
  firstSeq: number;
  lastSeq: number;
  baseOffset: number;
}

interface _ProducerEntry {
  epoch: number;
  batches: _BatchMeta[];
  /** The highest coordinator epoch of a marker seen for the producer; -1 before any. */
  coordinatorEpoch: number;
}

const INT32_MAX = 2147483647;

function _lastSeq(b: BatchSequence): number {
  // Sequences wrap from Int32.MAX to 0, as in Kafka's DefaultRecordBatch.incrementSequence.
  const s = b.baseSequence + b.lastOffsetDelta;
  return s > INT32_MAX ? s - INT32_MAX - 1 : s;
}

function _inSequence(lastSeq: number, nextSeq: number): boolean {
  return nextSeq === lastSeq + 1 || (nextSeq === 0 && lastSeq === INT32_MAX);
}

/**
 * Per-partition producer state.
 *
 * @example
 * ```ts
 * import { ProducerStateTable } from "./producer_state.ts";
 * import assert from "node:assert/strict";
 * const t = new ProducerStateTable();
 * const b = { producerId: 7, producerEpoch: 0, baseSequence: 0, lastOffsetDelta: 2 };
 * assert.equal(t.check(b).kind, "append");
 * t.record(b, 100);
 * assert.deepEqual(t.check(b), { kind: "duplicate", baseOffset: 100 });
 * assert.equal(t.check({ ...b, baseSequence: 5 }).kind, "error");
 * ```
 */
export class ProducerStateTable {
  // A Map keeps insertion order, which doubles as recency order for eviction.
  readonly #producers = new Map<number, _ProducerEntry>();
  readonly #producersMax: number;

  constructor(options: { producersMax?: number } = {}) {
    this.#producersMax = options.producersMax ?? PRODUCERS_PER_PARTITION_MAX;
    if (!(this.#producersMax >= 1)) throw new RangeError("producersMax must be at least 1");
  }

  /** Number of producer ids tracked. */
  get size(): number {
    return this.#producers.size;
  }

  /** Decides whether a batch is new, a duplicate, or must be rejected. */
  check(b: BatchSequence): SequenceCheck {
    if (b.producerId < 0) return { kind: "append" };
    const entry = this.#producers.get(b.producerId);
    if (entry === undefined) {
      // Unknown producer (new, or its state was evicted or expired): accept any sequence, as
      // Kafka does, rather than wedge a producer whose state we no longer have.
      return { kind: "append" };
    }
    if (b.producerEpoch < entry.epoch) {
      return {
        kind: "error",
        code: "INVALID_PRODUCER_EPOCH",
        message: `Cannot append for producer ${b.producerId} as epoch ${b.producerEpoch} is ` +
          `older than the current epoch ${entry.epoch}`,
      };
    }
    const lastSeq = _lastSeq(b);
    if (b.producerEpoch > entry.epoch) {
      if (b.baseSequence === 0) return { kind: "append" };
      return _outOfOrder(b, -1);
    }
    for (const m of entry.batches) {
      // Within one epoch sequences only grow, so the last sequence alone names a batch. A batch
      // an ETL chain re-counted is stored with a different first sequence, which followers and
      // a restarted broker learn; a retry of it must still be a duplicate there.
      if (m.lastSeq === lastSeq) {
        return { kind: "duplicate", baseOffset: m.baseOffset };
      }
    }
    const last = entry.batches[entry.batches.length - 1];
    if (last === undefined || _inSequence(last.lastSeq, b.baseSequence)) return { kind: "append" };
    return _outOfOrder(b, last.lastSeq);
  }

  /** Records an appended batch. Call only after {@linkcode check} returned `append`. */
  record(b: BatchSequence, baseOffset: number): void {
    if (b.producerId < 0) return;
    let entry = this.#producers.get(b.producerId);
    if (entry === undefined || b.producerEpoch > entry.epoch) {
      entry = {
        epoch: b.producerEpoch,
        batches: [],
        coordinatorEpoch: entry?.coordinatorEpoch ?? -1,
      };
    }
    this.#producers.delete(b.producerId);
    this.#producers.set(b.producerId, entry);
    entry.batches.push({ firstSeq: b.baseSequence, lastSeq: _lastSeq(b), baseOffset });
    if (entry.batches.length > PRODUCER_BATCHES_MAX) entry.batches.shift();
    if (this.#producers.size > this.#producersMax) {
      const oldest = this.#producers.keys().next().value as number;
      this.#producers.delete(oldest);
    }
  }

  /**
   * Applies a transaction marker (a control batch the coordinator writes with the producer's
   * current epoch): an older epoch than the partition has seen is refused; a newer one fences
   * the producer's older epoch from then on. The marker carries no sequence, so the producer's
   * sequence bookkeeping is untouched at the same epoch and starts afresh at a newer one.
   *
   * `coordinatorEpoch` (the marker's, -1 when unknown) fences a zombie coordinator as Kafka
   * does: a marker from an older coordinator epoch than one already seen for the producer is
   * refused (TRANSACTION_COORDINATOR_FENCED). A coordinator that lost the lead and still sent
   * a marker of a finished transaction would otherwise close the producer's next one.
   */
  fence(producerId: number, producerEpoch: number, coordinatorEpoch = -1): SequenceCheck {
    const entry = this.#producers.get(producerId);
    if (entry !== undefined && producerEpoch < entry.epoch) {
      return {
        kind: "error",
        code: "INVALID_PRODUCER_EPOCH",
        message: `Cannot write a transaction marker for producer ${producerId} as epoch ` +
          `${producerEpoch} is older than the current epoch ${entry.epoch}`,
      };
    }
    if (entry !== undefined && coordinatorEpoch >= 0 && coordinatorEpoch < entry.coordinatorEpoch) {
      return {
        kind: "error",
        code: "TRANSACTION_COORDINATOR_FENCED",
        message: `Cannot write a transaction marker for producer ${producerId} as coordinator ` +
          `epoch ${coordinatorEpoch} is older than ${entry.coordinatorEpoch}`,
      };
    }
    const seen = Math.max(entry?.coordinatorEpoch ?? -1, coordinatorEpoch);
    if (entry === undefined || producerEpoch > entry.epoch) {
      this.#producers.delete(producerId);
      this.#producers.set(producerId, {
        epoch: producerEpoch,
        batches: [],
        coordinatorEpoch: seen,
      });
    } else entry.coordinatorEpoch = seen;
    return { kind: "append" };
  }

  /**
   * Forgets the batches at `offset` and above (their append failed and the log was cut back to
   * `offset`), so a producer's retry of one is appended again, not answered as a duplicate.
   */
  forgetFrom(offset: number): void {
    // The epoch stays, so fencing still holds for a producer left with no batches.
    for (const entry of this.#producers.values()) {
      entry.batches = entry.batches.filter((b) => b.baseOffset < offset);
    }
  }

  /** Forgets every producer (after the partition's log is truncated). */
  clear(): void {
    this.#producers.clear();
  }
}

function _outOfOrder(b: BatchSequence, lastSeq: number): SequenceCheck {
  return {
    kind: "error",
    code: "OUT_OF_ORDER_SEQUENCE_NUMBER",
    message: `Cannot append for producer ${b.producerId} as sequence ${b.baseSequence} does not ` +
      `follow the last sequence: current value is ${lastSeq}`,
  };
}
