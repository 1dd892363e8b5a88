/**
 * Invariant checks for every core (Raft, WAL, log, replication, groups, tiering). A failed
 * assertion is a bug, not an operating error: it throws an {@linkcode AssertionError}, which no
 * handler turns into a reply and no retry loop retries. `kafkaErrorCode` refuses to map it to an
 * error code, and the request router hands it to {@linkcode stopOnBrokenInvariant}, so the
 * process stops with the invariant's message instead of serving from a state it cannot trust.
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

/**
 * What the broker does with a broken invariant: print it, say it is a bug, and exit with
 * status 70 (EX_SOFTWARE). The supervisor restarts the process, which recovers from the WAL.
 */
export function stopOnBrokenInvariant(error: AssertionError): never {
  console.error(
    `rustmq: stopping: ${error.message}. This is a bug in RustMQ; the process exits so that ` +
      "nothing is served from a state it cannot trust. Please report it with the log above.",
  );
  Deno.exit(70);
}
