/**
 * The client side of the frame transports: one connection to one broker that
 * carries Kafka request frames and returns their responses.
 *
 * @module
 */

/** Options of one {@linkcode Transport.request}. */
export interface RequestOptions {
  /**
   * False for requests the broker does not answer (Produce with acks=0): the
   * promise resolves to null once the frame is sent.
   */
  expectResponse: boolean;
  /**
   * Deadline for the whole request, queueing included; it rejects with a
   * `TimeoutError` (code `REQUEST_TIMEOUT`).
   */
  timeoutMs: number;
}

/** Which protocol a transport speaks. */
export type TransportProtocol = "tcp" | "tls" | "quic";

/**
 * A connection that carries request frames (payload after the size prefix,
 * starting with int16 apiKey, int16 apiVersion, int32 correlationId) and
 * returns response payloads (starting with the int32 correlationId).
 *
 * Errors are `TransportError`s: `ConnectionError` when the connection fails or
 * is closed (every outstanding request fails with it), `TimeoutError` when a
 * request's deadline passes, `QueueFullError` when too many requests wait.
 */
export interface Transport {
  /** The protocol of this connection. */
  readonly protocol: TransportProtocol;
  /** Sends one request frame and resolves to its response payload (or null). */
  request(frame: Uint8Array, options: RequestOptions): Promise<Uint8Array | null>;
  /** Closes the connection; outstanding requests fail with `CONNECTION_CLOSED`. */
  close(): void;
  /** Resolves once the connection is closed, by either side. */
  readonly closed: Promise<void>;
}

/** Limits shared by the transports. */
export interface TransportLimits {
  /**
   * Requests sent and not yet answered. Over TCP this is Kafka's
   * max.in.flight.requests.per.connection; over QUIC, open streams.
   * @default {5} for TCP, {100} for QUIC
   */
  maxInFlightRequests?: number;
  /**
   * Requests waiting for an in-flight slot before `request` rejects with
   * `QueueFullError`.
   * @default {1000}
   */
  maxQueuedRequests?: number;
  /**
   * Largest response payload accepted; a larger one fails the connection.
   * @default {104857600}
   */
  maxResponseBytes?: number;
}
