/**
 * The produce pipeline's "append to the WAL" stage, in two halves around offset assignment:
 *
 * - before it, {@linkcode AppendGate} admits the append: it waits (bounded, on the WAL's
 *   space-freed event, not a polling timer) while the WAL is above its high-water mark, and
 *   refuses appends once a WAL failure has made the broker unsafe to append to;
 * - after it, {@linkcode submitToWal} hands the batch to the WAL in the same synchronous step as
 *   the assignment (so each partition's batches enter the WAL in offset order), and
 *   {@linkcode awaitWalDurable} turns the WAL's answer into the producer's: a space rejection is
 *   cut back by the rollbacks and is retriable, any other failure stops appends for good.
 *
 * @module
 */

import type { Wal } from "../wal/wal.ts";
import type { Logger } from "../../ops/logger.ts";
import type { HostedPartition } from "../hosted_partition.ts";
import { type AppendRollbacks, spaceErrorMessage } from "../append_rollback.ts";
import { KafkaProtocolError } from "../broker_errors.ts";

/** The part of the WAL the gate reads: its fill and its space-freed event. */
export type WalSpace = Pick<Wal, "stats" | "whenSpaceFreed">;

/** Options of {@linkcode AppendGate}. */
export interface AppendGateOptions {
  readonly wal: WalSpace;
  /** Appends are refused (before offsets are assigned) when the WAL uses more than this. */
  readonly highWaterBytes: number;
  /** Why the WAL is full, for the producer's error (e.g. the object store is down). */
  readonly fullReason?: () => string | null;
  /** How long an append waits for the WAL to drop below its high-water mark. @default 2000 */
  readonly fullWaitMs?: number;
  readonly nowMs: () => number;
  readonly logger: Logger;
}

/** Admits appends while the WAL has room and has not failed. */
export class AppendGate {
  readonly #o: AppendGateOptions;
  #fatal: Error | null = null;

  constructor(options: AppendGateOptions) {
    this.#o = options;
  }

  /** The fatal storage error that stopped appends, if any. */
  get fatalError(): Error | null {
    return this.#fatal;
  }

  /**
   * Waits (bounded by `fullWaitMs`) while the WAL is above its high-water mark, since an upload
   * in progress usually frees space within moments; then fails with a retriable error. It wakes
   * when the WAL reclaims segments, not on a polling timer.
   *
   * @throws {KafkaProtocolError} KAFKA_STORAGE_ERROR (retriable)
   */
  async awaitSpace(): Promise<void> {
    const deadline = this.#o.nowMs() + (this.#o.fullWaitMs ?? 2000);
    while (this.#fatal === null && this.#o.wal.stats.usedBytes > this.#o.highWaterBytes) {
      const leftMs = deadline - this.#o.nowMs();
      if (leftMs <= 0) break;
      await this.#o.wal.whenSpaceFreed(leftMs);
    }
    this.checkWritable();
  }

  /**
   * Refuses an append after a fatal WAL failure, or while the WAL is above its high-water mark.
   *
   * @throws {KafkaProtocolError} KAFKA_STORAGE_ERROR (retriable)
   */
  checkWritable(): void {
    if (this.#fatal !== null) {
      throw new KafkaProtocolError(
        "KAFKA_STORAGE_ERROR",
        `Cannot append as the WAL failed: ${this.#fatal.message}`,
        { retriable: true, cause: this.#fatal },
      );
    }
    const used = this.#o.wal.stats.usedBytes;
    if (used > this.#o.highWaterBytes) {
      const why = this.#o.fullReason?.();
      throw new KafkaProtocolError(
        "KAFKA_STORAGE_ERROR",
        `Cannot append as the WAL is nearly full: ${used} bytes used of ${this.#o.highWaterBytes} allowed` +
          (why ? `, ${why}` : ""),
        { retriable: true },
      );
    }
  }

  /**
   * A WAL append failed after offsets were assigned. The partition now has a hole that later
   * appends must not paper over, so the broker stops taking appends: nothing acknowledged is
   * lost, and a restart recovers the WAL's durable prefix.
   */
  fail(err: unknown): void {
    if (this.#fatal !== null) return;
    this.#fatal = err instanceof Error ? err : new Error(String(err));
    this.#o.logger.error(
      "WAL append failed after offsets were assigned; refusing further appends",
      {
        err: this.#fatal,
      },
    );
  }
}

/**
 * Submits an assigned batch to the WAL and records it as the partition's last durable point. A
 * synchronous throw becomes a rejection, so the rollbacks' count of appends in flight settles.
 */
export function submitToWal(
  wal: Pick<Wal, "append">,
  p: HostedPartition,
  baseOffset: number,
  batch: Uint8Array,
): Promise<unknown> {
  const appended = (() => {
    try {
      return wal.append(p.streamId, BigInt(baseOffset), batch);
    } catch (err) {
      return Promise.reject(err);
    }
  })();
  p.durable = appended.then(() => {}, () => {});
  return appended;
}

/**
 * Waits for a submitted append. A rejection for lack of space is cut back by `rollbacks` and
 * answered with a retriable error; any other failure is fatal to appends (`gate.fail`).
 *
 * @throws {KafkaProtocolError} KAFKA_STORAGE_ERROR (retriable)
 */
export async function awaitWalDurable(
  appended: Promise<unknown>,
  p: HostedPartition,
  baseOffset: number,
  deps: { readonly rollbacks: AppendRollbacks; readonly gate: AppendGate },
): Promise<void> {
  try {
    await appended;
    deps.rollbacks.settled(p, baseOffset, null);
  } catch (err) {
    if (deps.rollbacks.settled(p, baseOffset, err)) {
      throw new KafkaProtocolError("KAFKA_STORAGE_ERROR", spaceErrorMessage(p.key, err), {
        retriable: true,
        cause: err,
      });
    }
    deps.gate.fail(err);
    throw new KafkaProtocolError(
      "KAFKA_STORAGE_ERROR",
      `Cannot append to ${p.key}: ${(err as Error).message}`,
      { retriable: true, cause: err },
    );
  }
}
