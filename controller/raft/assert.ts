/**
 * Internal invariant checks. A failed assertion is a bug in the Raft code, not an operating
 * error, so it throws an {@linkcode AssertionError} that nobody should catch and retry.
 *
 * @module
 */

/** Thrown when an internal invariant of the Raft core is broken. */
export class AssertionError extends Error {
  override name = "AssertionError";
}

/** Throws an {@linkcode AssertionError} when `condition` is false. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
