/**
 * Typed errors of the RecordBatch codec. Each carries a stable `code` (the Kafka error name),
 * the numeric Kafka error code for responses, a `retriable` flag, and the `cause` when there is
 * one, so that the produce path can answer a client without inspecting messages.
 *
 * @module
 */

/** Options shared by every record error. */
export interface RecordErrorOptions {
  /** The lower-level error that led to this one, if any. */
  cause?: unknown;
}

/** Base class of every error raised by the record codec. */
export abstract class RecordError extends Error {
  /** Stable name of the condition, equal to Kafka's error name. */
  abstract readonly code: string;
  /** Kafka protocol error code to put in a response. */
  abstract readonly kafkaErrorCode: number;
  /** Whether the same request may succeed if sent again. */
  abstract readonly retriable: boolean;

  constructor(message: string, options: RecordErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/**
 * The bytes are not a well-formed RecordBatch v2: truncated, bad length, bad CRC, wrong magic,
 * inconsistent counts, or undecodable records or compressed data.
 *
 * @example
 * ```ts
 * import { CorruptRecordError } from "./record_errors.ts";
 * import assert from "node:assert/strict";
 * const e = new CorruptRecordError("Cannot read batch as it is truncated: length is 3");
 * assert.equal(e.code, "CORRUPT_MESSAGE");
 * assert.equal(e.retriable, true);
 * ```
 */
export class CorruptRecordError extends RecordError {
  readonly code = "CORRUPT_MESSAGE";
  readonly kafkaErrorCode = 2;
  // Kafka marks CORRUPT_MESSAGE retriable: the corruption may have happened in transit.
  readonly retriable = true;
}

/** A batch, or its decompressed records, exceed the configured maximum size. */
export class RecordTooLargeError extends RecordError {
  readonly code = "MESSAGE_TOO_LARGE";
  readonly kafkaErrorCode = 10;
  readonly retriable = false;
}

/** The batch attributes name a compression codec this build does not know (5, 6 or 7). */
export class UnsupportedCompressionTypeError extends RecordError {
  readonly code = "UNSUPPORTED_COMPRESSION_TYPE";
  readonly kafkaErrorCode = 76;
  readonly retriable = false;
}
