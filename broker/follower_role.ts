/**
 * The follower role of a hosted partition: what a replica fetcher applies to it. Fetched batches
 * are appended durably (WAL, then cache) before the next fetch tells the leader they are here;
 * a divergent suffix is cut behind a durable WAL marker; offsets the leader already holds in
 * object storage are skipped, not copied.
 *
 * @module
 */

import {
  type BatchHeader,
  readBatchHeader,
  validateBatch,
} from "../protocol/record/record_batch.ts";
import type { LogCache } from "./log/log_cache.ts";
import type { Wal } from "./wal/wal.ts";
import type { FetchWaiter } from "./fetch/fetch_waiter.ts";
import type { Logger } from "../ops/logger.ts";
import { markerCoordinatorEpoch } from "./txn/txn_marker.ts";
import { KafkaProtocolError } from "./broker_errors.ts";
import { type AppendRollbacks, spaceErrorMessage } from "./append_rollback.ts";
import { assignEpochsFromBatches } from "./replication/leader_epoch_cache.ts";
import type { FollowerLogView } from "./replication/follower_state.ts";
import { encodeTruncationMarker, markerWalBaseOffset } from "./replication/wal_truncation.ts";
import type { HostedPartition } from "./hosted_partition.ts";

/** What the follower role writes to. */
export interface FollowerRoleOptions {
  readonly wal: Wal;
  readonly cache: LogCache;
  readonly waiter: FetchWaiter;
  readonly rollbacks: AppendRollbacks;
  readonly logger: Logger;
}

/** Applies what replica fetchers fetched to the partitions this broker follows. */
export class FollowerRole {
  readonly #o: FollowerRoleOptions;

  constructor(options: FollowerRoleOptions) {
    this.#o = options;
  }

  /** The follower's log as the replica fetcher reads it. */
  view(p: HostedPartition): FollowerLogView {
    // The fetcher keeps this view for as long as it follows: getters, so it always sees the
    // log as it is now, not as it was when following started.
    return {
      get logStartOffset() {
        return p.log.logStartOffset;
      },
      get logEndOffset() {
        return p.log.logEndOffset;
      },
      get highWatermark() {
        return p.log.highWatermark;
      },
      epochs: p.epochs,
    };
  }

  /** Appends fetched batches durably, then moves the follower's high watermark. */
  async append(
    p: HostedPartition,
    batches: readonly Uint8Array[],
    leaderHighWatermark: number,
    leaderLogStartOffset: number,
  ): Promise<void> {
    if (p.role !== "follower") return;
    const appends: Promise<unknown>[] = [];
    const own: Uint8Array[] = [];
    // After a rejection the log was cut back: appending the next batch would leave a gap.
    let rejected = false;
    for (const fetched of batches) {
      if (rejected) break;
      validateBatch(fetched, { maxBytes: Number.MAX_SAFE_INTEGER, strictCount: false });
      const batch = fetched.slice();
      const h = readBatchHeader(batch);
      if (h.lastOffset < p.log.logEndOffset) continue; // already have it
      await this.#o.cache.reserve(batch.length);
      p.log.appendAssigned(batch);
      this.#o.cache.appendReserved(p.key, batch);
      const base = h.baseOffset;
      appends.push(
        this.#o.wal.append(p.streamId, BigInt(base), batch).catch((err) => {
          rejected = true;
          if (!this.#o.rollbacks.rollBackFollower(p, base, err)) throw err;
          throw new KafkaProtocolError("KAFKA_STORAGE_ERROR", spaceErrorMessage(p.key, err), {
            retriable: true,
            cause: err,
          });
        }),
      );
      own.push(batch);
      learnProducerState(p, batch, h);
    }
    // The next fetch tells the leader this follower has the data: it must be durable by then.
    // Rejected appends are a suffix: each cuts the log back to itself, the first one wins.
    const settled = await Promise.allSettled(appends);
    const failed = settled.find((r) => r.status === "rejected");
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    if (assignEpochsFromBatches(p.epochs, own)) await p.epochCheckpoint.save(p.epochs);
    const hw = Math.min(leaderHighWatermark, p.log.logEndOffset);
    if (hw > p.log.highWatermark) p.log.advanceHighWatermark(hw);
    if (
      leaderLogStartOffset > p.log.logStartOffset && leaderLogStartOffset <= p.log.highWatermark
    ) {
      p.log.advanceLogStartOffset(leaderLogStartOffset);
    }
    this.#o.waiter.notify(p.key);
  }

  /** Removes a divergent suffix: a durable WAL marker first, so a crash cannot resurrect it. */
  async truncateTo(p: HostedPartition, offset: number): Promise<void> {
    if (offset >= p.log.logEndOffset) return;
    const marker = encodeTruncationMarker({ kind: "truncate", offset, leaderEpoch: p.leaderEpoch });
    await this.#o.wal.append(p.streamId, markerWalBaseOffset(offset, p.log.logEndOffset), marker);
    // Batches are never split: a batch straddling `offset` goes too.
    const { endOffset } = this.#o.cache.truncateTo(p.key, offset);
    p.log.truncateTo(Math.max(p.log.logStartOffset, endOffset));
    p.producers.clear();
    if (p.epochs.truncateFromEnd(p.log.logEndOffset)) await p.epochCheckpoint.save(p.epochs);
    this.#o.logger.warn("truncated a divergent suffix", {
      partition: p.key,
      logEndOffset: p.log.logEndOffset,
    });
  }

  /**
   * The leader's data below `offset` is in object storage: move the log end there without
   * copying. No WAL marker is needed: on restart a partition's log starts at the manifest's
   * stored end, which is at least `offset`.
   */
  async skipTo(
    p: HostedPartition,
    offset: number,
    epoch: number,
  ): Promise<void> {
    if (offset <= p.log.logEndOffset) return;
    const from = p.log.logEndOffset;
    this.#o.cache.drop(p.key);
    this.#o.wal.checkpoint(p.streamId, BigInt(offset));
    p.log.skipTo(offset);
    // The next fetch names this epoch as the last one fetched, so the leader does not see a
    // divergence at the stored end (epochs above it here were never committed).
    if (epoch >= 0 && p.epochs.latestEpoch !== epoch && p.epochs.assign(epoch, offset)) {
      await p.epochCheckpoint.save(p.epochs);
    }
    this.#o.waiter.notify(p.key);
    this.#o.logger.info("follower skipped offsets held in object storage", {
      partition: p.key,
      from,
      to: offset,
      epoch,
    });
  }

  /** The leader's log starts past ours: start over at `offset` (older data is in storage). */
  async resetTo(p: HostedPartition, offset: number): Promise<void> {
    const marker = encodeTruncationMarker({ kind: "reset", offset, leaderEpoch: p.leaderEpoch });
    await this.#o.wal.append(p.streamId, markerWalBaseOffset(offset, p.log.logEndOffset), marker);
    this.#o.cache.drop(p.key);
    p.log.resetTo(offset);
    p.producers.clear();
    p.epochs.clear();
    await p.epochCheckpoint.save(p.epochs);
    this.#o.logger.info("reset a follower log", { partition: p.key, logStartOffset: offset });
  }
}

/**
 * Records a stored batch in its partition's producer state, so that a producer's retry is
 * recognised on whichever replica serves it next (after a restart or a leader change). A
 * transaction marker carries no sequence: it only moves the producer's epoch, as on the leader.
 */
export function learnProducerState(
  p: HostedPartition,
  batch: Uint8Array,
  h: BatchHeader = readBatchHeader(batch),
): void {
  if (h.producerId < 0) return;
  if (h.isControl) {
    p.producers.fence(h.producerId, h.producerEpoch, markerCoordinatorEpoch(batch));
    return;
  }
  p.producers.record({
    producerId: h.producerId,
    producerEpoch: h.producerEpoch,
    baseSequence: h.baseSequence,
    lastOffsetDelta: h.lastOffsetDelta,
  }, h.baseOffset);
}
