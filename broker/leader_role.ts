/**
 * The leader role of a hosted partition, for reads: consumers' fetches (never past the high
 * watermark), followers' fetches (up to the log end, after the epoch checks of KIP-320),
 * timestamp lookups and DeleteRecords. The leader's write path is the produce pipeline in
 * `produce/`.
 *
 * @module
 */

import { readBatchHeader } from "../protocol/record/record_batch.ts";
import type { LogCache } from "./log/log_cache.ts";
import type { TimestampOffset } from "./log/partition_log.ts";
import type { Logger } from "../ops/logger.ts";
import type { ObjectManifest } from "../model/object_manifest.ts";
import type { TieredReader } from "./tiering/tiered_reader.ts";
import type { ObjectRange } from "./tiering/stream_object.ts";
import { KafkaProtocolError } from "./broker_errors.ts";
import type { AppendRollbacks } from "./append_rollback.ts";
import { validateReplicaFetch } from "./replication/replica_fetch_validation.ts";
import type { HostedPartition } from "./hosted_partition.ts";

/** The object-storage half of a partition's log, when tiering is on. */
export interface Tiering {
  readonly manifest: ObjectManifest;
  readonly reader: TieredReader;
  /** Forgets a deleted partition's objects. */
  removePartition(key: string): Promise<void>;
  /** Uploads what is pending now (one object's worth); DeleteRecords waits on it. */
  uploadNow?(): Promise<unknown>;
  /** Deletes objects the manifest no longer references. */
  deleteObjects?(keys: readonly string[]): Promise<void>;
}

/** What a replica fetch returns: batches, or where the follower's log diverged. */
export type ReplicaRead =
  | {
    readonly kind: "read";
    readonly batches: Uint8Array[];
    readonly sizeBytes: number;
    readonly highWatermark: number;
    readonly logStartOffset: number;
  }
  | {
    readonly kind: "diverging";
    readonly epoch: number;
    readonly endOffset: number;
    readonly highWatermark: number;
    readonly logStartOffset: number;
  }
  | {
    /** Everything below `endOffset` is in object storage: the follower skips, not copies. */
    readonly kind: "skip";
    readonly endOffset: number;
    /** The epoch of the leader that wrote `endOffset - 1`. */
    readonly epoch: number;
    readonly highWatermark: number;
    readonly logStartOffset: number;
  };

/** The result of a fetch read from one partition. */
export interface FetchRead {
  readonly batches: Uint8Array[];
  readonly sizeBytes: number;
  readonly highWatermark: number;
  readonly logStartOffset: number;
}

/** What the leader role reads from. */
export interface LeaderRoleOptions {
  readonly cache: LogCache;
  /** Object storage for data that left the log cache. @default none: the cache holds all */
  readonly tiering?: Tiering;
  readonly rollbacks: AppendRollbacks;
  readonly logger: Logger;
  readonly nowMs: () => number;
}

/** Serves reads of the partitions this broker leads. */
export class LeaderRole {
  readonly #o: LeaderRoleOptions;

  constructor(options: LeaderRoleOptions) {
    this.#o = options;
  }

  /**
   * Reads whole batches from `offset`, at most `maxBytes` (but at least one batch), below the
   * high watermark (or below `stableOffset`, a read_committed consumer's last stable offset):
   * from the log cache, or from object storage for older offsets.
   *
   * @throws {KafkaProtocolError} UNKNOWN_TOPIC_OR_PARTITION, OFFSET_OUT_OF_RANGE
   */
  async read(
    p: HostedPartition,
    offset: number,
    maxBytes: number,
    stableOffset: (highWatermark: number) => number = (hw) => hw,
  ): Promise<FetchRead> {
    if (p.role !== "leader") {
      throw new KafkaProtocolError("NOT_LEADER_OR_FOLLOWER", `${p.key} is led by ${p.leaderId}`, {
        retriable: true,
      });
    }
    const start = p.log.logStartOffset;
    if (offset < start || offset > p.log.logEndOffset) {
      throw new KafkaProtocolError(
        "OFFSET_OUT_OF_RANGE",
        `Cannot fetch ${p.key} at offset ${offset} as the log spans ${start} to ${p.log.logEndOffset}`,
      );
    }
    const hw = p.log.highWatermark;
    const empty = { batches: [], sizeBytes: 0, highWatermark: hw, logStartOffset: start };
    const end = Math.min(hw, stableOffset(hw));
    if (offset >= end) return empty;
    let hit = this.#o.cache.read(p.key, offset, maxBytes) ??
      await this.#o.tiering?.reader.read(p.key, offset, maxBytes) ?? null;
    // Key compaction emptied the stored tail from `offset` on: the log goes on in the cache.
    if (hit !== null && hit.batches.length === 0 && hit.nextOffset < end) {
      hit = this.#o.cache.read(p.key, hit.nextOffset, maxBytes);
    }
    if (hit === null) {
      throw new KafkaProtocolError(
        "OFFSET_OUT_OF_RANGE",
        `Cannot fetch ${p.key} at offset ${offset} as no cached or stored batch holds it`,
      );
    }
    const batches: Uint8Array[] = [];
    let sizeBytes = 0;
    for (const b of hit.batches) {
      if (readBatchHeader(b).baseOffset >= end) break;
      batches.push(b);
      sizeBytes += b.length;
    }
    return { batches, sizeBytes, highWatermark: hw, logStartOffset: p.log.logStartOffset };
  }

  /**
   * A follower's Fetch from this leader: whole batches from `fetchOffset` up to the log end
   * (not the high watermark, which can only advance once followers have the data), after the
   * epoch checks of KIP-320. Records the follower's progress for the ISR and acks.
   *
   * @throws {KafkaProtocolError} NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH,
   *   UNKNOWN_LEADER_EPOCH, OFFSET_OUT_OF_RANGE
   */
  async readForReplica(
    p: HostedPartition,
    replicaId: number,
    fetch: { fetchOffset: number; currentLeaderEpoch: number; lastFetchedEpoch: number },
    maxBytes: number,
  ): Promise<ReplicaRead> {
    if (p.role !== "leader" || p.leader === null) {
      throw new KafkaProtocolError("NOT_LEADER_OR_FOLLOWER", `${p.key} is not led here`, {
        retriable: true,
      });
    }
    const verdict = validateReplicaFetch(fetch, {
      leaderEpoch: p.leaderEpoch,
      epochs: p.epochs,
      logStartOffset: p.log.logStartOffset,
      logEndOffset: p.log.logEndOffset,
    });
    const positions = { highWatermark: p.log.highWatermark, logStartOffset: p.log.logStartOffset };
    if (verdict.kind === "error") {
      throw new KafkaProtocolError(
        verdict.code,
        `Replica fetch of ${p.key} refused: ${verdict.code}`,
        {
          retriable: true,
        },
      );
    }
    if (verdict.kind === "diverging") {
      return {
        kind: "diverging",
        epoch: verdict.epoch,
        endOffset: verdict.endOffset,
        ...positions,
      };
    }
    p.leader.followerFetched(replicaId, fetch.fetchOffset);
    const empty = {
      kind: "read" as const,
      batches: [],
      sizeBytes: 0,
      ...positions,
      highWatermark: p.log.highWatermark,
    };
    if (fetch.fetchOffset >= p.log.logEndOffset) return empty;
    this.#o.rollbacks.served(p, p.log.logEndOffset);
    const cached = this.#o.cache.read(p.key, fetch.fetchOffset, maxBytes);
    const stored = this.#o.tiering?.manifest.partition(p.key)?.uploadedEndOffset ?? -1;
    if (cached === null && fetch.fetchOffset < stored) {
      // Object storage already holds these offsets for every replica: the follower skips to
      // the stored end instead of copying them (key compaction's gaps never reach its log).
      return {
        kind: "skip",
        endOffset: stored,
        epoch: p.epochs.epochForOffset(stored - 1),
        ...positions,
        highWatermark: p.log.highWatermark,
      };
    }
    const hit = cached ??
      await this.#o.tiering?.reader.read(p.key, fetch.fetchOffset, maxBytes) ?? null;
    if (hit === null) {
      throw new KafkaProtocolError(
        "OFFSET_OUT_OF_RANGE",
        `Cannot serve ${p.key} at ${fetch.fetchOffset} to replica ${replicaId}: no cached or stored batch holds it`,
      );
    }
    return {
      ...empty,
      batches: hit.batches,
      sizeBytes: hit.sizeBytes,
      highWatermark: p.log.highWatermark,
    };
  }

  /**
   * The first offset at or after `timestampMs` (ListOffsets by time), looking in object storage
   * first (older data), then in the cache. Null when no record is that new.
   */
  async offsetForTimestamp(
    p: HostedPartition,
    timestampMs: number,
  ): Promise<TimestampOffset | null> {
    const hw = p.log.highWatermark;
    const below = (bs: Iterable<Uint8Array>) =>
      [...bs].filter((b) => readBatchHeader(b).baseOffset < hw);
    for (const { range } of this.#o.tiering?.manifest.ranges(p.key) ?? []) {
      if (range.maxTimestamp < timestampMs) continue;
      const from = Math.max(range.baseOffset, p.log.logStartOffset);
      const read = await this.#o.tiering!.reader.read(p.key, from, range.length);
      const found = read && await p.log.offsetForTimestamp(timestampMs, below(read.batches));
      if (found) return found;
    }
    return await p.log.offsetForTimestamp(timestampMs, below(this.#o.cache.batches(p.key)));
  }

  /**
   * DeleteRecords: moves the log start of a partition this broker leads up to `offset` (-1: the
   * high watermark) and returns the new log start. Offsets below it are refused from then on;
   * whole objects below it are deleted. The log start lives in the object manifest, so the
   * offsets below are uploaded first (within `timeoutMs`): a restart must not bring back
   * records the WAL still holds. Followers learn the new start from their next fetch.
   */
  async deleteRecords(
    p: HostedPartition,
    offset: number,
    timeoutMs: number,
  ): Promise<number> {
    if (p.role !== "leader") {
      throw new KafkaProtocolError("NOT_LEADER_OR_FOLLOWER", `${p.key} is led by ${p.leaderId}`, {
        retriable: true,
      });
    }
    const target = offset === -1 ? p.log.highWatermark : offset;
    if (!Number.isSafeInteger(target) || target < 0 || target > p.log.highWatermark) {
      throw new KafkaProtocolError(
        "OFFSET_OUT_OF_RANGE",
        `Cannot delete records of ${p.key} below ${offset}: the high watermark is ${p.log.highWatermark}`,
      );
    }
    if (target <= p.log.logStartOffset) return p.log.logStartOffset;
    const tiering = this.#o.tiering;
    if (tiering === undefined) {
      throw new KafkaProtocolError("INVALID_REQUEST", "Deleting records needs object storage");
    }
    const deadline = this.#o.nowMs() + Math.max(0, timeoutMs);
    while ((tiering.manifest.partition(p.key)?.uploadedEndOffset ?? -1) < target) {
      if (this.#o.nowMs() > deadline || tiering.uploadNow === undefined) {
        throw new KafkaProtocolError(
          "REQUEST_TIMED_OUT",
          `Cannot delete records of ${p.key} below ${target} yet: they are not all in object storage`,
          { retriable: true },
        );
      }
      await tiering.uploadNow();
    }
    const dropped = await tiering.manifest.advanceLogStart(p.key, target);
    if (target > p.log.logStartOffset) p.log.advanceLogStartOffset(target);
    if (p.epochs.truncateFromStart(target)) await p.epochCheckpoint.save(p.epochs);
    await tiering.deleteObjects?.(dropped);
    this.#o.logger.info("deleted records", {
      partition: p.key,
      logStartOffset: target,
      deletedObjects: dropped.length,
    });
    return p.log.logStartOffset;
  }

  /** The partition's ranges in object storage, in offset order. */
  storedRanges(p: HostedPartition): ObjectRange[] {
    return (this.#o.tiering?.manifest.ranges(p.key) ?? []).map((r) => r.range);
  }

  /** The partition's cached batches in offset order (for timestamp lookups). */
  cachedBatches(p: HostedPartition): Iterable<Uint8Array> {
    return this.#o.cache.batches(p.key);
  }
}
