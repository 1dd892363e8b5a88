/**
 * Cutting a partition back after appends that the WAL rejected for lack of space.
 *
 * A leader assigns offsets before the WAL write. When the write fails with ENOSPC (or the WAL
 * stays full past its wait bound), the WAL rejects that append and every one queued behind
 * it, so a partition's rejected appends are a suffix of its log. The partition is cut back to
 * the first of them: the offsets were never acknowledged nor visible (the high watermark only
 * moves over durable data), so they are reused by the next append and no hole is left. Only a
 * follower having copied the rejected batches (the leader serves followers up to its log end)
 * rules that out; the caller then stops appends as before.
 *
 * @module
 */

import type { LogCache } from "./log/log_cache.ts";
import type { HostedPartition } from "./hosted_partition.ts";
import { WalDiskFullError, WalFullError } from "./wal/wal_errors.ts";
import { KafkaProtocolError } from "./broker_errors.ts";
import type { Logger } from "../ops/logger.ts";

interface _State {
  /** Appends whose WAL write has not settled. */
  inflight: number;
  /** Lowest base offset of a rejected append, while the cut waits for the others to settle. */
  cutTo: number | null;
  /** The first rejection's error, for the log and for `unsafe`. */
  cutError: unknown;
  /** Offsets below this may be on a follower. */
  servedEnd: number;
}

/** Whether a WAL rejection is for lack of space (it clears by itself) rather than a bad device. */
export function isSpaceError(error: unknown): boolean {
  return error instanceof WalDiskFullError || error instanceof WalFullError;
}

/** The message a producer gets when its append was rejected for lack of WAL space. */
export function spaceErrorMessage(key: string, error: unknown): string {
  if (error instanceof WalDiskFullError) {
    return `Cannot append to ${key} as the WAL's disk is full: ${error.message}; appends resume ` +
      `by themselves once space is freed`;
  }
  return `Cannot append to ${key}: ${(error as Error).message}`;
}

/**
 * Per-partition bookkeeping of appends in flight. Rejections do not arrive in offset order (an
 * append made while the WAL repairs is rejected at once, before older ones still in the failed
 * write), so the cut waits until every append issued before it has settled, then goes to the
 * lowest rejected offset; meanwhile the partition takes no new append.
 */
export class AppendRollbacks {
  readonly #state = new WeakMap<HostedPartition, _State>();
  readonly #cache: LogCache;
  readonly #logger: Logger;
  readonly #unsafe: (error: Error) => void;

  /** `unsafe` is told when a cut is impossible (a follower may hold the batches). */
  constructor(cache: LogCache, logger: Logger, unsafe: (error: Error) => void) {
    this.#cache = cache;
    this.#logger = logger;
    this.#unsafe = unsafe;
  }

  #of(p: HostedPartition): _State {
    let s = this.#state.get(p);
    if (s === undefined) {
      s = { inflight: 0, cutTo: null, cutError: null, servedEnd: 0 };
      this.#state.set(p, s);
    }
    return s;
  }

  /**
   * Call before assigning offsets.
   *
   * @throws {KafkaProtocolError} KAFKA_STORAGE_ERROR (retriable) while a cut is pending
   */
  checkAppendable(p: HostedPartition): void {
    if (this.#of(p).cutTo === null) return;
    throw new KafkaProtocolError(
      "KAFKA_STORAGE_ERROR",
      `Cannot append to ${p.key} as appends the WAL rejected are being undone; retry`,
      { retriable: true },
    );
  }

  /** Call when offsets are assigned and the WAL append is issued. */
  issued(p: HostedPartition): void {
    this.#of(p).inflight += 1;
  }

  /** Call when the leader serves a follower: everything below `endOffset` may now be copied. */
  served(p: HostedPartition, endOffset: number): void {
    const s = this.#of(p);
    s.servedEnd = Math.max(s.servedEnd, endOffset);
  }

  /**
   * The append at `baseOffset` settled, with `error` if the WAL rejected it. Returns true when
   * it succeeded or was rejected for lack of space (its offsets will be cut, so the producer
   * gets a retriable error); false for any other failure, which the caller treats as fatal.
   */
  settled(p: HostedPartition, baseOffset: number, error: unknown): boolean {
    const s = this.#of(p);
    s.inflight -= 1;
    const space = error === null || isSpaceError(error);
    if (error !== null && space) {
      s.cutError ??= error;
      s.cutTo = Math.min(s.cutTo ?? baseOffset, baseOffset);
    }
    if (s.inflight === 0 && s.cutTo !== null) this.#cut(p, s);
    return space;
  }

  #cut(p: HostedPartition, s: _State): void {
    const to = s.cutTo!;
    const error = s.cutError;
    s.cutTo = null;
    s.cutError = null;
    if (to >= p.log.logEndOffset) return;
    if (s.servedEnd > to) {
      this.#unsafe(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    const { endOffset } = this.#cache.truncateTo(p.key, to);
    p.log.truncateTo(Math.max(p.log.logStartOffset, endOffset));
    p.producers.forgetFrom(to);
    this.#logger.warn("cut a partition back to its durable end after a WAL append failed", {
      partition: p.key,
      offset: endOffset,
      error,
    });
  }

  /**
   * A follower's rejected append: cut back to it (rejections are a suffix; the lowest wins).
   * Returns false for a failure that is not for lack of space.
   */
  rollBackFollower(p: HostedPartition, baseOffset: number, error: unknown): boolean {
    if (!isSpaceError(error)) return false;
    if (baseOffset < p.log.logEndOffset) {
      const { endOffset } = this.#cache.truncateTo(p.key, baseOffset);
      p.log.truncateTo(Math.max(p.log.logStartOffset, endOffset));
      p.producers.forgetFrom(baseOffset);
    }
    return true;
  }
}
