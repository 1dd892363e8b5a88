/**
 * Typed errors of the broker's partition log and log cache.
 *
 * @module
 */

import { AssertionError } from "../../ops/assert.ts";

/**
 * The log cache stayed full for longer than its wait bound: uploads are not keeping up. The
 * produce request fails with KAFKA_STORAGE_ERROR, which clients retry after a metadata refresh.
 *
 * @example
 * ```ts
 * import { StorageFullError } from "./log_errors.ts";
 * import assert from "node:assert/strict";
 * const e = new StorageFullError("Cannot reserve 10 bytes as the log cache is full");
 * assert.equal(e.code, "KAFKA_STORAGE_ERROR");
 * assert.equal(e.retriable, true);
 * ```
 */
export class StorageFullError extends Error {
  /** Stable name of the condition, equal to Kafka's error name. */
  readonly code = "KAFKA_STORAGE_ERROR";
  /** Kafka protocol error code to put in a response. */
  readonly kafkaErrorCode = 56;
  /** Space frees up as uploads complete, so the producer should retry. */
  readonly retriable = true;

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StorageFullError";
  }
}

/**
 * A broken invariant of the log (an offset gap, a non-monotonic append). This is a bug, not an
 * operating condition: callers must not catch it and carry on.
 */
export class LogInvariantError extends AssertionError {
  constructor(message: string) {
    super(`Invariant broken: ${message}`);
    this.name = "LogInvariantError";
  }
}

/** Throws {@linkcode LogInvariantError} when `condition` is false. */
export function assertLog(condition: boolean, message: string): asserts condition {
  if (!condition) throw new LogInvariantError(message);
}
