/**
 * Invariant checks for every core (Raft, WAL, log, replication, groups, tiering). A failed
 * assertion is a bug, not an operating error: it throws an {@linkcode AssertionError}, which no
 * handler turns into a reply and no retry loop retries. The request path lets it escape, so the
 * process stops with the invariant's message (see `broker/kafka_api/request_router.ts`).
 *
 * @module
 */

/** Thrown when an internal invariant is broken. */
export class AssertionError extends Error {
  override name = "AssertionError";
}

/**
 * Throws an {@linkcode AssertionError} naming the invariant when `condition` is false.
 *
 * @example
 * ```ts
 * import { assert, AssertionError } from "./assert.ts";
 * assert(1 + 1 === 2, "arithmetic holds");
 * try {
 *   assert(false as boolean, "offsets are contiguous");
 * } catch (e) {
 *   if (!(e instanceof AssertionError)) throw e;
 * }
 * ```
 */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new AssertionError(`Invariant broken: ${message}`);
}
