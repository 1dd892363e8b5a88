/**
 * Typed errors of the broker's data path, and the one function that maps any error to a Kafka
 * error code. Every typed error in RustMQ carries a `code`; where that code is a Kafka error
 * name (`CORRUPT_MESSAGE`, `UNKNOWN_TOPIC_OR_PARTITION`, ...) it maps directly, and the few
 * internal codes (WAL errors) are mapped here.
 *
 * @module
 */

import { ErrorCode } from "../protocol/kafka/errors.ts";
import { AssertionError } from "../ops/assert.ts";

/** A data-path error with a Kafka error name as its code. */
export class KafkaProtocolError extends Error {
  readonly code: keyof typeof ErrorCode;
  readonly retriable: boolean;
  constructor(
    code: keyof typeof ErrorCode,
    message: string,
    options: { retriable?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "KafkaProtocolError";
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

// Internal codes that are not Kafka error names, and the Kafka code a client should see.
const _INTERNAL: Readonly<Record<string, number>> = {
  WAL_FULL: ErrorCode.KAFKA_STORAGE_ERROR,
  WAL_DISK_FULL: ErrorCode.KAFKA_STORAGE_ERROR,
  WAL_IO: ErrorCode.KAFKA_STORAGE_ERROR,
  WAL_CLOSED: ErrorCode.KAFKA_STORAGE_ERROR,
  WAL_CORRUPTION: ErrorCode.KAFKA_STORAGE_ERROR,
  INVALID_CONFIG: ErrorCode.INVALID_CONFIG,
  // A module failed under the topic's `reject` policy; the message names module and reason.
  ETL_EXECUTION_FAILED: ErrorCode.INVALID_RECORD,
  ETL_POOL_BUSY: ErrorCode.REQUEST_TIMED_OUT,
};

/**
 * The Kafka error code for `err`: its `code` when that names a Kafka error, a mapped code for
 * known internal errors, and UNKNOWN_SERVER_ERROR otherwise. A broken invariant
 * ({@linkcode AssertionError}) is rethrown, never mapped.
 *
 * @example
 * ```ts
 * import { kafkaErrorCode, KafkaProtocolError } from "./broker_errors.ts";
 * import assert from "node:assert/strict";
 * assert.equal(kafkaErrorCode(new KafkaProtocolError("OFFSET_OUT_OF_RANGE", "x")), 1);
 * assert.equal(kafkaErrorCode(new TypeError("bug")), -1);
 * ```
 */
export function kafkaErrorCode(err: unknown): number {
  // A broken invariant is a bug: it must stop the process, never become a reply.
  if (err instanceof AssertionError) throw err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return ErrorCode.UNKNOWN_SERVER_ERROR;
  if (Object.hasOwn(ErrorCode, code)) return ErrorCode[code as keyof typeof ErrorCode];
  return _INTERNAL[code] ?? ErrorCode.UNKNOWN_SERVER_ERROR;
}
