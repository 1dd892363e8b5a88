/**
 * The contract between the network listeners and request handling: a
 * listener hands every request frame to a {@linkcode FrameHandler} and writes
 * back what it returns.
 *
 * @module
 */

import type { FramePayload } from "../../protocol/transport/frame_decoder.ts";

/** Which transport carried a connection. */
export type TransportKind = "tcp" | "tls" | "quic";

/** Structured log sink used by the listeners. */
export interface NetLogger {
  /** Routine events (connection opened or closed). */
  debug(message: string, fields?: Record<string, unknown>): void;
  /** Notable events. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** A client misbehaved or a limit was hit; the broker carries on. */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** A handler failed. */
  error(message: string, fields?: Record<string, unknown>): void;
}

/** What a handler knows about the connection a frame arrived on. */
export interface ConnectionContext {
  /** Listener-unique connection id, also used in log lines. */
  readonly connectionId: number;
  /** The client's address. */
  readonly remoteAddr: { readonly hostname: string; readonly port: number };
  /** The transport that carried the frame. */
  readonly transport: TransportKind;
  /** Logger whose lines already name this connection. */
  readonly logger: NetLogger;
  /**
   * Who the connection acts as, in Kafka's `User:<name>` form. Every connection starts as
   * {@link ANONYMOUS_PRINCIPAL}; authentication (SASL, mTLS) is what may change it, so it is
   * writable.
   */
  principal: string;
  /**
   * Set by a handler to close the connection once the response it returns is written, as Kafka
   * does after a failed SASL authentication (the client gets the error, then the close).
   */
  closeAfterResponse?: boolean;
  /**
   * True on the broker-to-broker (replication) listener: requests come from other brokers,
   * such as a transaction coordinator applying a committed transaction's offsets.
   */
  interBroker?: boolean;
}

/** The principal of a connection that has not authenticated, as Kafka names it. */
export const ANONYMOUS_PRINCIPAL = "User:ANONYMOUS";

/**
 * Handles one request frame (the payload after the size prefix, starting with
 * int16 apiKey, int16 apiVersion, int32 correlationId) and returns the
 * response payload without its size prefix (one buffer, or slices such as a Fetch response's
 * stored batches, written in order without joining), or null when the request takes no
 * response (Produce with acks=0). A handler that throws gets its connection
 * closed; other connections are not affected.
 *
 * The frame is the handler's own: both listeners give every request a fresh buffer
 * (`FrameDecoder`) and never write it again, so views of it may be kept and changed (Produce
 * appends its batches from the frame in place).
 */
export type FrameHandler = (
  frame: Uint8Array,
  ctx: ConnectionContext,
) => Promise<FramePayload | null>;

/** Logs JSON lines to stderr through `console`; debug lines are dropped. */
export const consoleNetLogger: NetLogger = {
  debug() {},
  info: (message, fields) => console.info(_line("info", message, fields)),
  warn: (message, fields) => console.warn(_line("warn", message, fields)),
  error: (message, fields) => console.error(_line("error", message, fields)),
};

/** A logger that drops everything, for tests. */
export const silentNetLogger: NetLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/**
 * Returns a logger that adds `fields` to every line of `base`.
 *
 * @example
 * ```ts
 * import { silentNetLogger, withFields } from "./frame_handler.ts";
 * withFields(silentNetLogger, { connectionId: 1 }).warn("hello");
 * ```
 */
export function withFields(base: NetLogger, fields: Record<string, unknown>): NetLogger {
  return {
    debug: (message, extra) => base.debug(message, { ...fields, ...extra }),
    info: (message, extra) => base.info(message, { ...fields, ...extra }),
    warn: (message, extra) => base.warn(message, { ...fields, ...extra }),
    error: (message, extra) => base.error(message, { ...fields, ...extra }),
  };
}

function _line(level: string, message: string, fields?: Record<string, unknown>): string {
  return JSON.stringify(
    { level, message, ...fields },
    (_key, value) => value instanceof Error ? `${value.name}: ${value.message}` : value,
  );
}

/** Counters a listener keeps for metrics; all are monotonic except `connectionsOpen`. */
export interface NetCounters {
  /** Connections currently open. */
  connectionsOpen: number;
  /** Connections accepted since start. */
  connectionsAccepted: number;
  /** Connections refused because `maxConnections` was reached. */
  connectionsRejected: number;
  /** Connections closed because the client broke a limit or the framing, or a handler threw. */
  connectionsErrored: number;
  /** Bytes read from clients, size prefixes included. */
  bytesIn: number;
  /** Bytes written to clients, size prefixes included. */
  bytesOut: number;
  /** Request frames handed to the handler. */
  requests: number;
  /** Streams accepted (QUIC; a TCP connection counts none). */
  streams: number;
}

/** Returns a zeroed {@linkcode NetCounters}. */
export function newNetCounters(): NetCounters {
  return {
    connectionsOpen: 0,
    connectionsAccepted: 0,
    connectionsRejected: 0,
    connectionsErrored: 0,
    bytesIn: 0,
    bytesOut: 0,
    requests: 0,
    streams: 0,
  };
}

/** Smallest valid request: int16 apiKey, int16 apiVersion, int32 correlationId. */
export const MIN_REQUEST_BYTES = 8;

// Failures a client causes by what it sends (garbage, an API or version not served): they say
// nothing about the broker's health, so they are warnings, not errors, and rate-limited with
// the rest (see ops/log_rate_limiter.ts).
const _CLIENT_FAULTS = new Set(["MalformedFrameError", "UnsupportedRequestError"]);

/** The level to log a handler failure at: `warn` when the client's request caused it. */
export function handlerFailureLevel(error: unknown): "warn" | "error" {
  return error instanceof Error && _CLIENT_FAULTS.has(error.name) ? "warn" : "error";
}
