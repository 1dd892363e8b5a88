/**
 * Committed consumer offsets: an in-memory cache in front of the internal `__consumer_offsets`
 * topic. A commit is appended to the group's partition first and enters the cache only once the
 * append is durable, so an acknowledged commit survives a restart and a failed one is never
 * visible. At start-up the cache is rebuilt by replaying the topic ({@linkcode OffsetStore.replay}).
 *
 * The store does no I/O itself: it is given an {@linkcode OffsetLog} to append to.
 *
 * @module
 */

import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  decodeOffsetKey,
  decodeOffsetValue,
  encodeOffsetKey,
  encodeOffsetValue,
  offsetsPartitionFor,
  type OffsetValue,
} from "./offset_record.ts";

/** A key/value record for the internal topic; a null value is a tombstone. */
export interface OffsetLogRecord {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

/** Where the store makes commits durable: partitions of the internal topic. */
export interface OffsetLog {
  /** Appends the records to one partition; resolves once they are durable. */
  append(partition: number, records: readonly OffsetLogRecord[]): Promise<void>;
}

/** One partition's offset to commit. */
export interface OffsetCommitEntry {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly leaderEpoch: number;
  readonly metadata: string | null;
}

/** The outcome of one entry of a commit. */
export interface OffsetCommitOutcome {
  readonly topic: string;
  readonly partition: number;
  readonly errorCode: number;
}

/** A committed offset as OffsetFetch returns it (-1 and "" when none is committed). */
export interface FetchedOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly leaderEpoch: number;
  readonly metadata: string;
}

/** Options of {@linkcode OffsetStore}. */
export interface OffsetStoreOptions {
  readonly log: OffsetLog;
  /** Partitions of the internal topic (`offsets.topic.num.partitions`). @default 50 */
  readonly partitions?: number;
  /** `offset.metadata.max.bytes`. @default 4096 */
  readonly metadataBytesMax?: number;
  /**
   * Most committed partitions one group may hold; commits of further partitions fail with
   * OFFSET_METADATA_TOO_LARGE. @default 100000
   */
  readonly offsetsPerGroupMax?: number;
  /** Most records appended in one batch (a commit or expiry is split beyond it). @default 1000 */
  readonly recordsPerAppendMax?: number;
}

const _enc = new TextEncoder();

/** The cache of committed offsets and the writer of the internal topic. */
export class OffsetStore {
  readonly #log: OffsetLog;
  readonly #partitions: number;
  readonly #metadataBytesMax: number;
  readonly #perGroupMax: number;
  readonly #perAppendMax: number;
  /** group -> "topic\0partition" -> value. */
  readonly #cache = new Map<string, Map<string, OffsetValue>>();

  constructor(options: OffsetStoreOptions) {
    this.#log = options.log;
    this.#partitions = _int("partitions", options.partitions, 50, 1);
    this.#metadataBytesMax = _int("metadataBytesMax", options.metadataBytesMax, 4096, 0);
    this.#perGroupMax = _int("offsetsPerGroupMax", options.offsetsPerGroupMax, 100_000, 1);
    this.#perAppendMax = _int("recordsPerAppendMax", options.recordsPerAppendMax, 1000, 1);
  }

  /** Partitions of the internal topic. */
  get partitionCount(): number {
    return this.#partitions;
  }

  /** The internal-topic partition that holds `groupId`'s offsets. */
  partitionFor(groupId: string): number {
    return offsetsPartitionFor(groupId, this.#partitions);
  }

  /** Groups that have committed offsets. */
  groups(): string[] {
    return [...this.#cache.keys()];
  }

  /** The time of the group's latest commit, or undefined without offsets. */
  lastCommitMs(groupId: string): number | undefined {
    const cached = this.#cache.get(groupId);
    if (cached === undefined || cached.size === 0) return undefined;
    let last = -Infinity;
    for (const v of cached.values()) last = Math.max(last, v.commitTimestampMs);
    return last;
  }

  /** Whether the group has any committed offset. */
  hasOffsets(groupId: string): boolean {
    return (this.#cache.get(groupId)?.size ?? 0) > 0;
  }

  /**
   * Commits offsets (already authorised by the group coordinator). Entries with over-long
   * metadata fail on their own with OFFSET_METADATA_TOO_LARGE; a failed append fails all the
   * others with the append's error code.
   */
  async commit(
    groupId: string,
    entries: readonly OffsetCommitEntry[],
    nowMs: number,
  ): Promise<OffsetCommitOutcome[]> {
    const outcomes = entries.map((e) => ({
      topic: e.topic,
      partition: e.partition,
      errorCode: this.#entryError(groupId, e),
    }));
    const accepted: [string, OffsetValue][] = [];
    const records: OffsetLogRecord[] = [];
    entries.forEach((e, i) => {
      if (outcomes[i]!.errorCode !== ErrorCode.NONE) return;
      const value: OffsetValue = {
        offset: e.offset,
        leaderEpoch: e.leaderEpoch,
        metadata: e.metadata ?? "",
        commitTimestampMs: nowMs,
      };
      accepted.push([_slot(e.topic, e.partition), value]);
      const key = encodeOffsetKey({ group: groupId, topic: e.topic, partition: e.partition });
      records.push({ key, value: encodeOffsetValue(value) });
    });
    if (records.length === 0) return outcomes;
    const failed = await this.#append(this.partitionFor(groupId), records);
    if (failed !== null) {
      return outcomes.map((o) => o.errorCode === ErrorCode.NONE ? { ...o, errorCode: failed } : o);
    }
    const cached = this.#groupCache(groupId);
    for (const [slot, value] of accepted) cached.set(slot, value);
    return outcomes;
  }

  #entryError(groupId: string, e: OffsetCommitEntry): number {
    if (e.partition < 0) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    if (e.metadata !== null && _enc.encode(e.metadata).length > this.#metadataBytesMax) {
      return ErrorCode.OFFSET_METADATA_TOO_LARGE;
    }
    const cached = this.#cache.get(groupId);
    const size = cached?.size ?? 0;
    if (size >= this.#perGroupMax && !cached?.has(_slot(e.topic, e.partition))) {
      return ErrorCode.OFFSET_METADATA_TOO_LARGE;
    }
    return ErrorCode.NONE;
  }

  /** Appends in chunks; returns null, or the Kafka error code of the failed append. */
  async #append(partition: number, records: readonly OffsetLogRecord[]): Promise<number | null> {
    try {
      for (let i = 0; i < records.length; i += this.#perAppendMax) {
        await this.#log.append(partition, records.slice(i, i + this.#perAppendMax));
      }
      return null;
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      const known = typeof code === "string" && Object.hasOwn(ErrorCode, code);
      // Storage trouble is worth a retry for the client; Kafka answers the same way.
      return known
        ? ErrorCode[code as keyof typeof ErrorCode]
        : ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
  }

  #groupCache(groupId: string): Map<string, OffsetValue> {
    let m = this.#cache.get(groupId);
    if (m === undefined) this.#cache.set(groupId, m = new Map());
    return m;
  }

  /**
   * The group's committed offsets for the given topics and partitions, or for every committed
   * partition when `topics` is null.
   */
  fetch(
    groupId: string,
    topics: readonly { name: string; partitions: readonly number[] }[] | null,
  ): FetchedOffset[] {
    const cached = this.#cache.get(groupId);
    if (topics === null) {
      return [...cached?.entries() ?? []].map(([slot, v]) => {
        const [topic, partition] = _unslot(slot);
        return {
          topic,
          partition,
          offset: v.offset,
          leaderEpoch: v.leaderEpoch,
          metadata: v.metadata,
        };
      });
    }
    const out: FetchedOffset[] = [];
    for (const t of topics) {
      for (const partition of t.partitions) {
        const v = cached?.get(_slot(t.name, partition));
        out.push({
          topic: t.name,
          partition,
          offset: v?.offset ?? -1n,
          leaderEpoch: v?.leaderEpoch ?? -1,
          metadata: v?.metadata ?? "",
        });
      }
    }
    return out;
  }

  /**
   * Applies one record of the internal topic while loading. Group metadata records are
   * skipped; an undecodable record throws {@linkcode OffsetRecordError}.
   */
  replay(key: Uint8Array | null, value: Uint8Array | null): void {
    if (key === null) return;
    const k = decodeOffsetKey(key);
    if (k === null) return;
    const slot = _slot(k.topic, k.partition);
    if (value === null) {
      const cached = this.#cache.get(k.group);
      cached?.delete(slot);
      if (cached?.size === 0) this.#cache.delete(k.group);
      return;
    }
    this.#groupCache(k.group).set(slot, decodeOffsetValue(value));
  }

  /**
   * Expires offsets: every offset of a group for which `expiresAt(groupId, commitTimestampMs)`
   * returns a time at or before `nowMs` is tombstoned. Returns the groups left with no offsets.
   */
  async expire(
    nowMs: number,
    expiresAt: (groupId: string, commitTimestampMs: number) => number | null,
  ): Promise<string[]> {
    const emptied: string[] = [];
    for (const [groupId, cached] of [...this.#cache]) {
      const dead = [...cached].filter(([, v]) => {
        const at = expiresAt(groupId, v.commitTimestampMs);
        return at !== null && at <= nowMs;
      }).map(([slot]) => slot);
      if (dead.length === 0) continue;
      if (await this.#tombstone(groupId, dead) && !this.hasOffsets(groupId)) emptied.push(groupId);
    }
    return emptied;
  }

  /** Deletes every offset of a group (DeleteGroups). Returns NONE or an error code. */
  async deleteGroup(groupId: string): Promise<number> {
    const cached = this.#cache.get(groupId);
    if (cached === undefined) return ErrorCode.NONE;
    const ok = await this.#tombstone(groupId, [...cached.keys()]);
    return ok ? ErrorCode.NONE : ErrorCode.COORDINATOR_NOT_AVAILABLE;
  }

  async #tombstone(groupId: string, slots: readonly string[]): Promise<boolean> {
    const records = slots.map((slot) => {
      const [topic, partition] = _unslot(slot);
      return { key: encodeOffsetKey({ group: groupId, topic, partition }), value: null };
    });
    if (await this.#append(this.partitionFor(groupId), records) !== null) return false;
    const cached = this.#cache.get(groupId);
    for (const slot of slots) cached?.delete(slot);
    if (cached?.size === 0) this.#cache.delete(groupId);
    return true;
  }
}

function _slot(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function _unslot(slot: string): [string, number] {
  const at = slot.lastIndexOf("\u0000");
  return [slot.slice(0, at), Number(slot.slice(at + 1))];
}

function _int(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min) {
    throw new RangeError(`Cannot create OffsetStore as ${name} is ${v}: it must be >= ${min}`);
  }
  return v;
}
