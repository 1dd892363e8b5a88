/**
 * Typed errors of the frame transports. Callers branch on `code` and
 * `retriable`; `cause` keeps the underlying socket or QUIC error.
 *
 * @module
 */

/** Stable codes carried by {@linkcode TransportError}s. */
export type TransportErrorCode =
  | "CONNECTION_FAILED"
  | "CONNECTION_CLOSED"
  | "PROTOCOL_ERROR"
  | "CONNECT_TIMEOUT"
  | "REQUEST_TIMEOUT"
  | "FRAME_TOO_LARGE"
  | "QUEUE_FULL";

/** Base class of every error a transport raises on purpose. */
export class TransportError extends Error {
  /** Stable machine-readable code. */
  readonly code: TransportErrorCode;
  /** True when the same request may succeed if sent again (on a new connection). */
  readonly retriable: boolean;

  /** Creates an error with a code, a retriable flag and an optional cause. */
  constructor(
    code: TransportErrorCode,
    message: string,
    options: { retriable: boolean; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TransportError";
    this.code = code;
    this.retriable = options.retriable;
  }
}

/**
 * The connection could not be established, was closed, or carried bytes that
 * do not follow the framing; outstanding requests fail with it.
 *
 * @example
 * ```ts
 * import { ConnectionError } from "./errors.ts";
 * const error = new ConnectionError("CONNECTION_CLOSED", "Cannot send as the connection is closed");
 * if (!error.retriable) throw new Error();
 * ```
 */
export class ConnectionError extends TransportError {
  /** True when the TLS/QUIC handshake failed because the server's certificate is not trusted. */
  readonly untrustedCertificate: boolean;
  /** Creates a connection error; only `PROTOCOL_ERROR` is not retriable. */
  constructor(
    code: "CONNECTION_FAILED" | "CONNECTION_CLOSED" | "PROTOCOL_ERROR",
    message: string,
    options: { cause?: unknown; untrustedCertificate?: boolean } = {},
  ) {
    const { untrustedCertificate = false, ...rest } = options;
    // Retrying cannot make an untrusted certificate trusted.
    super(code, message, {
      retriable: code !== "PROTOCOL_ERROR" && !untrustedCertificate,
      ...rest,
    });
    this.name = "ConnectionError";
    this.untrustedCertificate = untrustedCertificate;
  }
}

/**
 * Connecting or a request took longer than its deadline. A timed-out request
 * may still have been processed by the broker.
 *
 * @example
 * ```ts
 * import { TimeoutError } from "./errors.ts";
 * const error = new TimeoutError("REQUEST_TIMEOUT", 30_000);
 * if (error.timeoutMs !== 30_000 || !error.retriable) throw new Error();
 * ```
 */
export class TimeoutError extends TransportError {
  /** The deadline that was exceeded, in milliseconds. */
  readonly timeoutMs: number;

  /** Creates a timeout error for a connect or a request deadline. */
  constructor(
    code: "CONNECT_TIMEOUT" | "REQUEST_TIMEOUT",
    timeoutMs: number,
    options: { cause?: unknown } = {},
  ) {
    const action = code === "CONNECT_TIMEOUT" ? "connect" : "complete the request";
    super(code, `Cannot ${action} as the deadline passed: timeoutMs is ${timeoutMs}`, {
      retriable: true,
      ...options,
    });
    this.name = "TimeoutError";
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A size prefix announced a frame larger than the configured maximum. The
 * frame is never allocated; the connection has to be dropped because the byte
 * stream cannot be resynchronised.
 *
 * @example
 * ```ts
 * import { FrameTooLargeError } from "./errors.ts";
 * const error = new FrameTooLargeError(200, 100);
 * if (error.retriable || error.sizeBytes !== 200) throw new Error();
 * ```
 */
export class FrameTooLargeError extends TransportError {
  /** The announced frame size. */
  readonly sizeBytes: number;
  /** The configured maximum. */
  readonly maxBytes: number;

  /** Creates the error from the announced size and the limit. */
  constructor(sizeBytes: number, maxBytes: number) {
    super(
      "FRAME_TOO_LARGE",
      `Cannot accept a frame as it exceeds the maximum of ${maxBytes} bytes: current value is ${sizeBytes}`,
      { retriable: false },
    );
    this.name = "FrameTooLargeError";
    this.sizeBytes = sizeBytes;
    this.maxBytes = maxBytes;
  }
}

/**
 * More requests are waiting for an in-flight slot than the queue allows; the
 * caller should slow down.
 *
 * @example
 * ```ts
 * import { QueueFullError } from "./errors.ts";
 * if (!new QueueFullError(1000).retriable) throw new Error();
 * ```
 */
export class QueueFullError extends TransportError {
  /** Creates the error from the queue limit. */
  constructor(maxQueuedRequests: number) {
    super(
      "QUEUE_FULL",
      `Cannot queue the request as the queue is full: maxQueuedRequests is ${maxQueuedRequests}`,
      { retriable: true },
    );
    this.name = "QueueFullError";
  }
}
