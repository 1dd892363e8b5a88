/**
 * The produce pipeline's "cache" stage: room for the batch is reserved in the log cache before
 * offsets are assigned (a full cache is backpressure, not a hole in the log), and the assigned
 * batch is placed there in the same synchronous step as its WAL submission. It becomes visible
 * to consumers only when the high watermark passes it, after the WAL (and the ISR) has it.
 *
 * @module
 */

import type { LogCache } from "../log/log_cache.ts";
import type { HostedPartition } from "../hosted_partition.ts";

/** The part of the log cache the produce pipeline uses. */
export type ProduceCache = Pick<LogCache, "reserve" | "cancelReservation" | "appendReserved">;

/**
 * Reserves `batch.length` bytes, then runs `admit` (the checks that must hold once the wait is
 * over) and returns what it returns; gives the reservation back if `admit` throws.
 *
 * @throws {StorageFullError} when no room frees within the cache's wait
 */
export async function reserveCache<T>(
  cache: ProduceCache,
  batch: Uint8Array,
  admit: () => T,
): Promise<T> {
  await cache.reserve(batch.length);
  try {
    return admit();
  } catch (err) {
    cache.cancelReservation(batch.length);
    throw err;
  }
}

/** Places an assigned batch in the cache, using the reservation {@linkcode reserveCache} made. */
export function cacheBatch(cache: ProduceCache, p: HostedPartition, batch: Uint8Array): void {
  cache.appendReserved(p.key, batch);
}
