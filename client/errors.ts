/**
 * Typed errors of the SDK. Every error a caller can act on has a stable `code` (the Kafka error
 * name for broker errors), a `retriable` flag and an optional `cause`. One table,
 * {@linkcode KAFKA_ERROR_CLASSES}, maps Kafka error codes to classes; {@linkcode brokerError}
 * is the only place that turns a code from the wire into an error.
 *
 * @module
 */

import { ErrorCode, errorCodeInfo } from "../protocol/kafka/errors.ts";
import {
  ConnectionError,
  TimeoutError as TransportTimeoutError,
  TransportError,
} from "../protocol/transport/errors.ts";

/** Where in the cluster an error happened, when known. */
export interface ErrorContext {
  /** Topic of the request. */
  topic?: string;
  /** Partition of the request. */
  partition?: number;
  /** Offset involved (fetch position, produce batch). */
  offset?: number;
  /** Message the broker sent along with the code. */
  brokerMessage?: string | null;
  /** Leader the broker named in its answer (NOT_LEADER_OR_FOLLOWER), when it did. */
  leaderId?: number | null;
  /** Underlying error. */
  cause?: unknown;
}

/** Base class of every error the SDK raises on purpose. */
export class RustMqError extends Error {
  /** Stable machine-readable code, e.g. `NOT_LEADER_OR_FOLLOWER` or `PRODUCER_CLOSED`. */
  readonly code: string;
  /** True when the same operation may succeed if tried again. */
  readonly retriable: boolean;

  /** Creates an error with a code, a retriable flag and an optional cause. */
  constructor(code: string, message: string, options: { retriable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RustMqError";
    this.code = code;
    this.retriable = options.retriable;
  }
}

/**
 * A broker answered with a Kafka error code. `code` is the Kafka name (`UNKNOWN_SERVER_ERROR`,
 * `INVALID_REQUIRED_ACKS`, ...) and `kafkaCode` the number on the wire.
 *
 * @example
 * ```ts
 * import { brokerError, BrokerError } from "./errors.ts";
 * const error = brokerError(21, { topic: "t" });
 * if (!(error instanceof BrokerError) || error.code !== "INVALID_REQUIRED_ACKS") throw new Error();
 * ```
 */
export class BrokerError extends RustMqError {
  /** The Kafka error code number. */
  readonly kafkaCode: number;
  /** Topic of the failed request, when known. */
  readonly topic: string | undefined;
  /** Partition of the failed request, when known. */
  readonly partition: number | undefined;

  /** Creates the error from a Kafka error code. */
  constructor(kafkaCode: number, context: ErrorContext = {}) {
    const info = errorCodeInfo(kafkaCode);
    const name = info?.name ?? `KAFKA_ERROR_${kafkaCode}`;
    super(name, _message(name, info?.message, context), {
      retriable: info?.retriable ?? false,
      cause: context.cause,
    });
    this.name = "BrokerError";
    this.kafkaCode = kafkaCode;
    this.topic = context.topic;
    this.partition = context.partition;
  }
}

function _message(name: string, text: string | undefined, context: ErrorContext): string {
  const where = context.topic === undefined
    ? ""
    : ` on ${context.topic}${context.partition === undefined ? "" : `/${context.partition}`}`;
  const detail = context.brokerMessage ? `: ${context.brokerMessage}` : "";
  return `Cannot complete the request${where} as the broker answered ${name} (${
    text ?? "unknown error"
  })${detail}`;
}

/** The broker is not the leader of the partition; refresh metadata and retry. */
export class NotLeaderError extends BrokerError {
  /** The leader the broker named, or null when it did not know. */
  readonly leaderId: number | null;

  /** Creates the error; `leaderId` comes from the response's current-leader field. */
  constructor(kafkaCode: number, context: ErrorContext = {}) {
    super(kafkaCode, context);
    this.name = "NotLeaderError";
    this.leaderId = context.leaderId ?? null;
  }
}

/** The fetch offset is outside the partition's log; seek or use `autoOffsetReset`. */
export class OffsetOutOfRangeError extends BrokerError {
  /** The offset that was out of range. */
  readonly offset: number | undefined;

  /** Creates the error for `context.offset`. */
  constructor(kafkaCode: number = ErrorCode.OFFSET_OUT_OF_RANGE, context: ErrorContext = {}) {
    super(kafkaCode, context);
    this.name = "OffsetOutOfRangeError";
    this.offset = context.offset;
  }
}

/**
 * A record or batch is larger than the client's `maxMessageSize` or the topic's
 * `max.message.bytes`. Never retriable.
 */
export class MessageTooLargeError extends BrokerError {
  /** Size of the record or batch, when known. */
  readonly sizeBytes: number | undefined;

  /** Creates the error; pass `sizeBytes` for a client-side check. */
  constructor(
    kafkaCode: number = ErrorCode.MESSAGE_TOO_LARGE,
    context: ErrorContext & { sizeBytes?: number } = {},
  ) {
    super(kafkaCode, context);
    this.name = "MessageTooLargeError";
    this.sizeBytes = context.sizeBytes;
  }
}

/** The topic or partition does not exist (and was not auto-created). */
export class UnknownTopicError extends BrokerError {
  /** Creates the error for `context.topic`. */
  constructor(
    kafkaCode: number = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    context: ErrorContext = {},
  ) {
    super(kafkaCode, context);
    this.name = "UnknownTopicError";
  }
}

/**
 * A deadline passed: a request, a connect, the broker's own `REQUEST_TIMED_OUT`, or a
 * producer's delivery timeout. The operation may still have taken effect.
 *
 * @example
 * ```ts
 * import { TimeoutError } from "./errors.ts";
 * const error = new TimeoutError("REQUEST_TIMEOUT", "Cannot complete the request as the deadline passed");
 * if (!error.retriable || error.code !== "REQUEST_TIMEOUT") throw new Error();
 * ```
 */
export class TimeoutError extends RustMqError {
  /** The Kafka code when the broker reported the timeout, else null. */
  readonly kafkaCode: number | null;

  /** Creates a timeout error with a code such as `REQUEST_TIMEOUT` or `DELIVERY_TIMEOUT`. */
  constructor(
    code: string,
    message: string,
    options: { cause?: unknown; kafkaCode?: number } = {},
  ) {
    super(code, message, { retriable: true, cause: options.cause });
    this.name = "TimeoutError";
    this.kafkaCode = options.kafkaCode ?? null;
  }
}

/** The client, producer or consumer was closed before the operation completed. */
export class ClosedError extends RustMqError {
  /** Creates the error for `what` ("client", "producer", "consumer"). */
  constructor(what: string) {
    super(`${what.toUpperCase()}_CLOSED`, `Cannot use the ${what} as it is closed`, {
      retriable: false,
    });
    this.name = "ClosedError";
  }
}

/** The producer's buffer is full; `sendAsync` does not wait, so the caller must slow down. */
export class BufferFullError extends RustMqError {
  /** Creates the error from the limit that was hit. */
  constructor(limit: string, value: number) {
    super("BUFFER_FULL", `Cannot queue the record as the buffer is full: ${limit} is ${value}`, {
      retriable: true,
    });
    this.name = "BufferFullError";
  }
}

type _BrokerErrorClass = new (kafkaCode: number, context: ErrorContext) => BrokerError;

/**
 * The one table from Kafka error codes to SDK classes; codes not listed become a plain
 * {@linkcode BrokerError}, and `REQUEST_TIMED_OUT` becomes a {@linkcode TimeoutError}.
 */
export const KAFKA_ERROR_CLASSES: ReadonlyMap<number, _BrokerErrorClass> = new Map<
  number,
  _BrokerErrorClass
>([
  [ErrorCode.NOT_LEADER_OR_FOLLOWER, NotLeaderError],
  [ErrorCode.LEADER_NOT_AVAILABLE, NotLeaderError],
  [ErrorCode.FENCED_LEADER_EPOCH, NotLeaderError],
  [ErrorCode.UNKNOWN_LEADER_EPOCH, NotLeaderError],
  [ErrorCode.OFFSET_OUT_OF_RANGE, OffsetOutOfRangeError],
  [ErrorCode.MESSAGE_TOO_LARGE, MessageTooLargeError],
  [ErrorCode.RECORD_LIST_TOO_LARGE, MessageTooLargeError],
  [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, UnknownTopicError],
]);

/**
 * Turns a Kafka error code from a response into the matching typed error.
 *
 * @example
 * ```ts
 * import { brokerError, NotLeaderError } from "./errors.ts";
 * const error = brokerError(6, { topic: "t", partition: 0 });
 * if (!(error instanceof NotLeaderError) || !error.retriable) throw new Error();
 * ```
 */
export function brokerError(kafkaCode: number, context: ErrorContext = {}): RustMqError {
  if (kafkaCode === ErrorCode.REQUEST_TIMED_OUT) {
    return new TimeoutError(
      "REQUEST_TIMED_OUT",
      _message("REQUEST_TIMED_OUT", undefined, context),
      {
        kafkaCode,
        cause: context.cause,
      },
    );
  }
  const Class = KAFKA_ERROR_CLASSES.get(kafkaCode) ?? BrokerError;
  return new Class(kafkaCode, context);
}

/**
 * Normalises an error from a transport: its timeouts become the SDK's {@linkcode TimeoutError};
 * connection errors stay as they are (they already carry `code` and `retriable`).
 */
export function fromTransportError(error: unknown): unknown {
  if (error instanceof TransportTimeoutError) {
    return new TimeoutError(error.code, error.message, { cause: error });
  }
  return error;
}

/**
 * Whether an operation that failed with `error` may be retried: typed errors say so themselves;
 * programmer errors (`TypeError`, `RangeError`) and unknown errors are never retried.
 */
export function isRetriable(error: unknown): boolean {
  if (error instanceof RustMqError || error instanceof TransportError) return error.retriable;
  return false;
}

export { ConnectionError };
