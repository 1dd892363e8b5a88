/**
 * The offset bookkeeping of one partition: a sans-IO state machine with no storage of its own.
 *
 * The produce path calls {@linkcode PartitionLog.assign} on a validated batch: it takes the next
 * offsets, writes baseOffset (and the leader epoch, and for LogAppendTime topics the append time)
 * into the batch in place, and advances the log end offset. The WAL, log cache and replication
 * hold the bytes; this class holds only the numbers:
 *
 * ```
 *  logStartOffset      highWatermark        logEndOffset (LEO)
 *        |-------------------|--------------------|
 *          readable by consumers  not yet replicated  next offset to assign
 * ```
 *
 * Offsets are gapless: every assigned or recovered batch starts exactly at the LEO. A gap is a
 * bug and raises {@linkcode LogInvariantError}.
 *
 * @module
 */

import {
  decodeRecords,
  readBatchHeader,
  setBaseOffset,
  setLogAppendTime,
  setPartitionLeaderEpoch,
} from "../../protocol/record/record_batch.ts";
import { assertLog } from "./log_errors.ts";

/** How record timestamps are set: by the producer, or by the broker on append. */
export type TimestampType = "CreateTime" | "LogAppendTime";

/** Options of {@linkcode PartitionLog}. */
export interface PartitionLogOptions {
  /**
   * Current time in milliseconds since the epoch; read only for LogAppendTime topics.
   * Injected so that the log stays deterministic under simulation.
   */
  nowMs: () => number;
  /** The topic's `message.timestamp.type`. @default {"CreateTime"} */
  timestampType?: TimestampType;
  /** First offset still in the log, as recorded by storage metadata. @default {0} */
  logStartOffset?: number;
  /**
   * Next offset to assign, as recorded by storage metadata (everything below is in object
   * storage or the WAL). Must be at least logStartOffset. @default {logStartOffset}
   */
  logEndOffset?: number;
  /** Leader epoch stamped into every appended batch. @default {0} */
  leaderEpoch?: number;
}

/** What {@linkcode PartitionLog.assign} returns, as a Produce response needs it. */
export interface AssignedOffsets {
  /** Offset of the batch's first record. */
  baseOffset: number;
  /** Offset of the batch's last record. */
  lastOffset: number;
  /** The append time written into a LogAppendTime batch, or -1 for CreateTime, as in Kafka. */
  logAppendTimeMs: number;
}

/** ListOffsets special timestamp: the log end offset. */
export const LATEST_TIMESTAMP = -1;
/** ListOffsets special timestamp: the log start offset. */
export const EARLIEST_TIMESTAMP = -2;

/** Result of {@linkcode PartitionLog.offsetForTimestamp}. */
export interface TimestampOffset {
  /** The first offset whose timestamp is at or after the target. */
  offset: number;
  /** That record's timestamp, or -1 for the special timestamps. */
  timestamp: number;
}

function _checkOffset(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot create partition log as ${name} is invalid: current value is ${value}`,
    );
  }
}

/**
 * Offset state of one partition.
 *
 * @example
 * ```ts
 * import { PartitionLog } from "./partition_log.ts";
 * import { buildBatch, readBatchHeader } from "../../protocol/record/record_batch.ts";
 * import assert from "node:assert/strict";
 * const log = new PartitionLog({ nowMs: () => 0, logEndOffset: 10 });
 * const batch = await buildBatch([{ value: null, timestamp: 1 }, { value: null, timestamp: 2 }]);
 * assert.deepEqual(log.assign(batch), { baseOffset: 10, lastOffset: 11, logAppendTimeMs: -1 });
 * assert.equal(readBatchHeader(batch).baseOffset, 10);
 * assert.equal(log.logEndOffset, 12);
 * ```
 */
export class PartitionLog {
  readonly #nowMs: () => number;
  #timestampType: TimestampType;
  #logStartOffset: number;
  #logEndOffset: number;
  #highWatermark: number;
  #leaderEpoch: number;

  constructor(options: PartitionLogOptions) {
    const start = options.logStartOffset ?? 0;
    const end = options.logEndOffset ?? start;
    _checkOffset("logStartOffset", start);
    _checkOffset("logEndOffset", end);
    if (end < start) {
      throw new RangeError(
        `Cannot create partition log as logEndOffset ${end} < logStartOffset ${start}`,
      );
    }
    this.#nowMs = options.nowMs;
    this.#timestampType = options.timestampType ?? "CreateTime";
    this.#logStartOffset = start;
    this.#logEndOffset = end;
    // Everything present at construction was durable before, so it is all readable.
    this.#highWatermark = end;
    this.#leaderEpoch = options.leaderEpoch ?? 0;
  }

  /** First offset still in the log. */
  get logStartOffset(): number {
    return this.#logStartOffset;
  }
  /** Next offset to assign (LEO). */
  get logEndOffset(): number {
    return this.#logEndOffset;
  }
  /** Offsets below this are replicated as required and readable by consumers. */
  get highWatermark(): number {
    return this.#highWatermark;
  }
  /** Epoch stamped into appended batches. */
  get leaderEpoch(): number {
    return this.#leaderEpoch;
  }
  /** The topic's timestamp type. */
  get timestampType(): TimestampType {
    return this.#timestampType;
  }

  /** Changes the timestamp type, for a dynamic topic config update. */
  setTimestampType(type: TimestampType): void {
    this.#timestampType = type;
  }

  /** Sets the leader epoch; epochs only grow. */
  setLeaderEpoch(epoch: number): void {
    if (!Number.isSafeInteger(epoch) || epoch < this.#leaderEpoch) {
      throw new RangeError(
        `Cannot set leader epoch as it must not decrease: ${this.#leaderEpoch} -> ${epoch}`,
      );
    }
    this.#leaderEpoch = epoch;
  }

  /**
   * Moves the high watermark forward. It never passes the LEO and never moves back: both would
   * be replication bugs.
   */
  advanceHighWatermark(offset: number): void {
    assertLog(
      offset >= this.#highWatermark && offset <= this.#logEndOffset,
      `high watermark must stay in [${this.#highWatermark}, ${this.#logEndOffset}]: got ${offset}`,
    );
    this.#highWatermark = offset;
  }

  /**
   * Cuts the log back to `offset` (a follower removing a divergent suffix after a leader
   * change). A follower's high watermark is only what its leader last told it, so, as in Kafka,
   * it comes down with the log end when the new leader's log is shorter; what is really
   * committed is on every ISR member, which the controller chose the new leader from.
   */
  truncateTo(offset: number): void {
    assertLog(
      Number.isSafeInteger(offset) && offset >= this.#logStartOffset &&
        offset <= this.#logEndOffset,
      `truncation must stay in [${this.#logStartOffset}, ${this.#logEndOffset}]: got ${offset}`,
    );
    this.#logEndOffset = offset;
    this.#highWatermark = Math.min(this.#highWatermark, offset);
  }

  /**
   * Restarts an empty-tailed log at `offset` (a follower whose leader's log start moved past
   * its end: the data below lives in object storage).
   */
  resetTo(offset: number): void {
    assertLog(Number.isSafeInteger(offset) && offset >= 0, `cannot reset the log to ${offset}`);
    this.#logStartOffset = offset;
    this.#logEndOffset = offset;
    this.#highWatermark = offset;
  }

  /**
   * Moves a follower's log end (and high watermark) up to `offset`, keeping the log start: the
   * offsets below are in object storage, which the leader uploaded them to and every replica
   * reads, so they are not copied.
   */
  skipTo(offset: number): void {
    assertLog(
      Number.isSafeInteger(offset) && offset >= this.#logEndOffset,
      `a skip must not move the log end back: ${this.#logEndOffset} -> ${offset}`,
    );
    this.#logEndOffset = offset;
    this.#highWatermark = offset;
  }

  /**
   * Moves the log start offset forward (retention, DeleteRecords). It never passes the high
   * watermark.
   */
  advanceLogStartOffset(offset: number): void {
    if (
      !Number.isSafeInteger(offset) || offset < this.#logStartOffset || offset > this.#highWatermark
    ) {
      throw new RangeError(
        `Cannot move log start offset to ${offset} as it must be in [${this.#logStartOffset}, ${this.#highWatermark}]`,
      );
    }
    this.#logStartOffset = offset;
  }

  /**
   * Assigns the next offsets to a validated batch and patches it in place: baseOffset, leader
   * epoch and, for LogAppendTime topics, the append time (which re-computes the CRC). The
   * record count is taken from lastOffsetDelta, which validation tied to the count.
   */
  assign(batch: Uint8Array): AssignedOffsets {
    const header = readBatchHeader(batch);
    const delta = header.lastOffsetDelta;
    assertLog(delta >= 0, `assign needs a validated batch: lastOffsetDelta is ${delta}`);
    const baseOffset = this.#logEndOffset;
    setBaseOffset(batch, baseOffset);
    setPartitionLeaderEpoch(batch, this.#leaderEpoch);
    let logAppendTimeMs = -1;
    if (this.#timestampType === "LogAppendTime") {
      logAppendTimeMs = this.#nowMs();
      setLogAppendTime(batch, logAppendTimeMs);
    }
    this.#logEndOffset = baseOffset + delta + 1;
    return { baseOffset, lastOffset: baseOffset + delta, logAppendTimeMs };
  }

  /**
   * Appends a batch whose offsets were assigned elsewhere (a WAL entry being recovered, or a
   * batch fetched from the leader). It must start exactly at the LEO.
   */
  appendAssigned(batch: Uint8Array): AssignedOffsets {
    const header = readBatchHeader(batch);
    const baseOffset = header.baseOffset;
    assertLog(
      baseOffset === this.#logEndOffset,
      `offsets must be contiguous: batch starts at ${baseOffset}, log end offset is ${this.#logEndOffset}`,
    );
    const lastOffset = baseOffset + header.lastOffsetDelta;
    assertLog(lastOffset >= baseOffset, `batch at ${baseOffset} has a negative offset delta`);
    this.#logEndOffset = lastOffset + 1;
    return {
      baseOffset,
      lastOffset,
      logAppendTimeMs: header.isLogAppendTime ? header.maxTimestamp : -1,
    };
  }

  /**
   * Rebuilds the LEO from WAL entries in WAL order. Entries wholly below the LEO given at
   * construction are already in object storage and are skipped; the rest must continue the log
   * without a gap or overlap. Returns the entries that were applied, for the log cache.
   */
  recover(entries: Iterable<Uint8Array>): Uint8Array[] {
    const applied: Uint8Array[] = [];
    let previousLast: number | null = null;
    for (const batch of entries) {
      const header = readBatchHeader(batch);
      const lastOffset = header.baseOffset + header.lastOffsetDelta;
      // Even the skipped prefix must be gapless: a hole anywhere means the WAL lost a write.
      assertLog(
        previousLast === null || header.baseOffset === previousLast + 1,
        `recovered offsets must be contiguous: ${header.baseOffset} follows ${previousLast}`,
      );
      previousLast = lastOffset;
      if (applied.length === 0 && lastOffset < this.#logEndOffset) continue;
      this.appendAssigned(batch);
      applied.push(batch);
    }
    // Recovered entries were durable in the WAL, which is what the HW may count on a single
    // replica; with replication the leader re-establishes it from followers.
    this.#highWatermark = Math.max(this.#highWatermark, this.#logEndOffset);
    return applied;
  }

  /**
   * ListOffsets by timestamp over batches in offset order (typically the log cache's): the
   * first record whose timestamp is at or after `timestampMs`. -1 gives the LEO, -2 the log
   * start offset. Returns null when no given batch has such a record; the caller then looks in
   * object storage's index. Decodes at most one batch.
   */
  async offsetForTimestamp(
    timestampMs: number,
    batches: Iterable<Uint8Array>,
  ): Promise<TimestampOffset | null> {
    if (timestampMs === LATEST_TIMESTAMP) return { offset: this.#logEndOffset, timestamp: -1 };
    if (timestampMs === EARLIEST_TIMESTAMP) return { offset: this.#logStartOffset, timestamp: -1 };
    if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) {
      throw new RangeError(
        `Cannot look up offset as timestamp is invalid: current value is ${timestampMs}`,
      );
    }
    for (const batch of batches) {
      const header = readBatchHeader(batch);
      if (header.lastOffset < this.#logStartOffset || header.maxTimestamp < timestampMs) continue;
      if (header.isLogAppendTime) {
        return {
          offset: Math.max(header.baseOffset, this.#logStartOffset),
          timestamp: header.maxTimestamp,
        };
      }
      // CreateTime records need not be ordered within a batch: scan for the first that matches.
      const { records } = await decodeRecords(batch);
      for (const r of records) {
        if (r.offset >= this.#logStartOffset && r.timestamp >= timestampMs) {
          return { offset: r.offset, timestamp: r.timestamp };
        }
      }
    }
    return null;
  }
}
