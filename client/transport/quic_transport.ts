/**
 * One QUIC connection carrying Kafka requests, one bidirectional stream per
 * request (see the stream grammar in `broker/net/quic_listener.ts`). Requests
 * are independent: a slow one never delays another.
 *
 * @module
 */
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  requestCorrelationId,
  responseCorrelationId,
} from "./frame_decoder.ts";
import { ConnectionError, type TransportError } from "./errors.ts";
import { readOptionalFrame } from "./quic_stream.ts";
import type { RequestOptions, Transport, TransportLimits } from "./transport.ts";
import {
  _RequestEntry,
  _RequestWindow,
  _validateLimit,
  _validateTimeout,
} from "./_request_window.ts";

/**
 * A {@linkcode Transport} over an established `Deno.QuicConn`. Use
 * `connect("quic://...")` to create one from a URL.
 *
 * @example
 * ```ts ignore
 * import { QuicTransport } from "./quic_transport.ts";
 * const conn = await Deno.connectQuic({ hostname: "localhost", port: 9092, alpnProtocols: ["rustmq"] });
 * const transport = new QuicTransport(conn);
 * ```
 */
export class QuicTransport implements Transport {
  /** Always "quic". */
  readonly protocol = "quic" as const;
  /** Resolves once the connection is closed, by either side. */
  readonly closed: Promise<void>;
  readonly #conn: Deno.QuicConn;
  readonly #window: _RequestWindow;
  readonly #maxResponseBytes: number;
  readonly #open = new Set<_RequestEntry>();
  #failure: TransportError | null = null;

  /** Takes ownership of `conn`. */
  constructor(conn: Deno.QuicConn, limits: TransportLimits = {}) {
    this.#conn = conn;
    this.#window = new _RequestWindow(
      _validateLimit("maxInFlightRequests", limits.maxInFlightRequests, 100),
      _validateLimit("maxQueuedRequests", limits.maxQueuedRequests, 1000),
    );
    this.#maxResponseBytes = _validateLimit(
      "maxResponseBytes",
      limits.maxResponseBytes,
      DEFAULT_MAX_FRAME_BYTES,
    );
    this.closed = conn.closed.then(
      (info) => this.#fail(_closedError(info)),
      (error) =>
        this.#fail(
          new ConnectionError("CONNECTION_CLOSED", "Cannot use the connection as it failed", {
            cause: error,
          }),
        ),
    );
  }

  /** Opens a stream for `frame` once a slot is free and resolves to its response. */
  request(frame: Uint8Array, options: RequestOptions): Promise<Uint8Array | null> {
    _validateTimeout(options.timeoutMs);
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const entry = new _RequestEntry(options.timeoutMs, (e) => this.#window.forget(e));
    try {
      this.#window.enter(entry, () => {
        this.#open.add(entry);
        this.#exchange(entry, frame, options.expectResponse).finally(() => {
          this.#open.delete(entry);
          this.#window.release();
        });
      });
    } catch (error) {
      entry.fail(error);
    }
    return entry.promise;
  }

  /** Closes the connection; outstanding requests fail with `CONNECTION_CLOSED`. */
  close(): void {
    this.#fail(
      new ConnectionError(
        "CONNECTION_CLOSED",
        "Cannot complete the request as the transport was closed",
      ),
    );
  }

  async #exchange(entry: _RequestEntry, frame: Uint8Array, expectResponse: boolean): Promise<void> {
    let stream: Deno.QuicBidirectionalStream | null = null;
    try {
      stream = await this.#conn.createBidirectionalStream({ waitUntilAvailable: true });
      const writer = stream.writable.getWriter();
      await writer.write(encodeFrame(frame));
      await writer.close();
      if (!expectResponse) {
        entry.succeed(null);
        // Read to the broker's FIN anyway: the slot is held until the broker
        // is done with the request, which is the backpressure we want.
        await readOptionalFrame(stream.readable, this.#maxResponseBytes).catch(() => {});
        return;
      }
      const response = await this.#readResponse(entry, stream.readable);
      if (response === undefined) return;
      this.#check(entry, frame, response);
    } catch (error) {
      entry.fail(this.#failure ?? _streamError(error));
      // Tell the broker to stop working on a request nobody waits for.
      stream?.readable.cancel().catch(() => {});
    }
  }

  async #readResponse(
    entry: _RequestEntry,
    readable: ReadableStream<Uint8Array>,
  ): Promise<Uint8Array | null | undefined> {
    // A timed-out request cancels its stream so the slot is freed at once.
    const timedOut = entry.promise.then(() => undefined, () => undefined);
    const read = readOptionalFrame(readable, this.#maxResponseBytes);
    const result = await Promise.race([read, timedOut]);
    if (result === undefined) {
      read.catch(() => {});
      await readable.cancel().catch(() => {});
      return undefined;
    }
    return result === null ? null : result.frame;
  }

  #check(entry: _RequestEntry, frame: Uint8Array, response: Uint8Array | null): void {
    if (entry.settled) return;
    if (response === null) {
      return entry.fail(
        new ConnectionError("PROTOCOL_ERROR", "Cannot read the response as the broker sent none"),
      );
    }
    const expected = requestCorrelationId(frame);
    const actual = responseCorrelationId(response);
    if (expected !== null && expected !== actual) {
      return entry.fail(
        new ConnectionError(
          "PROTOCOL_ERROR",
          `Cannot match a response as its correlation id differs: expected ${expected}, current value is ${actual}`,
        ),
      );
    }
    entry.succeed(response);
  }

  #fail(error: TransportError): void {
    if (this.#failure !== null) return;
    this.#failure = error;
    try {
      this.#conn.close({ closeCode: 0, reason: "closed" });
    } catch {
      // Already closed by the broker or the idle timeout.
    }
    for (const entry of this.#open) entry.fail(error);
    this.#window.failQueued(error);
  }
}

function _closedError(info: Deno.QuicCloseInfo): ConnectionError {
  return new ConnectionError(
    "CONNECTION_CLOSED",
    `Cannot use the connection as it was closed: code ${info.closeCode}, reason "${info.reason}"`,
  );
}

function _streamError(error: unknown): TransportError {
  if (error instanceof ConnectionError) return error;
  if (error instanceof Error && error.name === "FrameTooLargeError") {
    return new ConnectionError("PROTOCOL_ERROR", `Cannot read a response as ${error.message}`, {
      cause: error,
    });
  }
  if (error instanceof Error && error.name === "StreamFramingError") {
    return new ConnectionError("PROTOCOL_ERROR", `Cannot read a response as ${error.message}`, {
      cause: error,
    });
  }
  return new ConnectionError(
    "CONNECTION_CLOSED",
    "Cannot complete the request as its stream failed",
    {
      cause: error,
    },
  );
}
