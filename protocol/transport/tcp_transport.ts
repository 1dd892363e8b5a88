/**
 * One TCP (or TLS) connection carrying pipelined Kafka requests. Responses
 * come back in request order (Kafka guarantees it per connection), so they are
 * matched first-in first-out and the correlation id is checked on each.
 *
 * @module
 */
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  FrameDecoder,
  requestCorrelationId,
  responseCorrelationId,
} from "./frame_decoder.ts";
import { ConnectionError, FrameTooLargeError, type TransportError } from "./errors.ts";
import type { RequestOptions, Transport, TransportLimits } from "./transport.ts";
import {
  _RequestEntry,
  _RequestWindow,
  _validateLimit,
  _validateTimeout,
} from "./_request_window.ts";

/**
 * What the transport needs of its connection: a `Deno.Conn`, or one QUIC stream seen as a
 * byte stream (see `quic_transport.ts`).
 */
export interface ByteConn {
  /** Reads into `p`; resolves to the byte count, or null at the end of the stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`; resolves to the byte count written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes both directions. */
  close(): void;
}

interface _Awaiting {
  entry: _RequestEntry;
  correlationId: number | null;
}

/**
 * A {@linkcode Transport} over an established `Deno.Conn` (plain or TLS).
 * Use `connect("tcp://...")` to create one from a URL.
 *
 * @example
 * ```ts ignore
 * import { TcpTransport } from "./tcp_transport.ts";
 * const transport = new TcpTransport(await Deno.connect({ port: 9092 }), "tcp");
 * const response = await transport.request(frame, { expectResponse: true, timeoutMs: 30_000 });
 * transport.close();
 * ```
 */
export class TcpTransport implements Transport {
  /** "tcp" or "tls" ("quic" for a QUIC transport's ordered lane). */
  readonly protocol: "tcp" | "tls" | "quic";
  /** Resolves once the connection is closed. */
  readonly closed: Promise<void>;
  readonly #conn: ByteConn;
  readonly #window: _RequestWindow;
  readonly #decoder: FrameDecoder;
  readonly #awaiting: _Awaiting[] = [];
  #writeChain: Promise<void> = Promise.resolve();
  #failure: TransportError | null = null;
  #resolveClosed!: () => void;

  /** Takes ownership of `conn` and starts reading responses. */
  constructor(conn: ByteConn, protocol: "tcp" | "tls" | "quic", limits: TransportLimits = {}) {
    this.protocol = protocol;
    this.#conn = conn;
    this.#window = new _RequestWindow(
      _validateLimit("maxInFlightRequests", limits.maxInFlightRequests, 5),
      _validateLimit("maxQueuedRequests", limits.maxQueuedRequests, 1000),
    );
    this.#decoder = new FrameDecoder({
      maxFrameBytes: _validateLimit(
        "maxResponseBytes",
        limits.maxResponseBytes,
        DEFAULT_MAX_FRAME_BYTES,
      ),
    });
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    this.#readLoop();
  }

  /** Sends `frame` once an in-flight slot is free and resolves to its response. */
  request(frame: Uint8Array, options: RequestOptions): Promise<Uint8Array | null> {
    _validateTimeout(options.timeoutMs);
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const entry = new _RequestEntry(options.timeoutMs, (e) => this.#window.forget(e));
    try {
      this.#window.enter(entry, () => this.#send(entry, frame, options.expectResponse));
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

  #send(entry: _RequestEntry, frame: Uint8Array, expectResponse: boolean): void {
    if (this.#failure !== null) return entry.fail(this.#failure);
    // Registered before the write so that the FIFO order of #awaiting is
    // exactly the order of the frames on the wire.
    if (expectResponse) {
      this.#awaiting.push({ entry, correlationId: requestCorrelationId(frame) });
    }
    const wire = encodeFrame(frame);
    this.#writeChain = this.#writeChain.then(async () => {
      if (this.#failure !== null) return;
      try {
        let offset = 0;
        while (offset < wire.length) offset += await this.#conn.write(wire.subarray(offset));
      } catch (error) {
        return this.#fail(
          new ConnectionError("CONNECTION_CLOSED", "Cannot send the request as the write failed", {
            cause: error,
          }),
        );
      }
      if (!expectResponse) {
        entry.succeed(null);
        this.#window.release();
      }
    });
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(65_536);
    try {
      while (this.#failure === null) {
        // The rest of a large response (a Fetch) is read into the frame itself: one copy fewer.
        const direct = this.#decoder.directTarget(buffer.length);
        const n = await this.#conn.read(direct ?? buffer);
        if (n === null) break;
        if (direct === null) this.#decoder.push(buffer.subarray(0, n));
        else this.#decoder.received(n);
        for (let frame = this.#decoder.next(); frame !== null; frame = this.#decoder.next()) {
          this.#onResponse(frame);
        }
      }
      this.#fail(
        new ConnectionError("CONNECTION_CLOSED", "Cannot read as the broker closed the connection"),
      );
    } catch (error) {
      this.#fail(_readFailure(error));
    }
  }

  #onResponse(frame: Uint8Array): void {
    // Peek, not shift: on a mismatch #fail must still find and fail this entry.
    const awaiting = this.#awaiting[0];
    if (awaiting === undefined) {
      throw new ConnectionError(
        "PROTOCOL_ERROR",
        "Cannot match a response as no request is awaiting one",
      );
    }
    const correlationId = responseCorrelationId(frame);
    if (awaiting.correlationId !== null && correlationId !== awaiting.correlationId) {
      throw new ConnectionError(
        "PROTOCOL_ERROR",
        `Cannot match a response as its correlation id differs: expected ${awaiting.correlationId}, current value is ${correlationId}`,
      );
    }
    this.#awaiting.shift();
    // A request that already timed out still held its slot until now.
    awaiting.entry.succeed(frame);
    this.#window.release();
  }

  #fail(error: TransportError): void {
    if (this.#failure !== null) return;
    this.#failure = error;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    for (const { entry } of this.#awaiting.splice(0)) entry.fail(error);
    this.#window.failQueued(error);
    this.#resolveClosed();
  }
}

function _readFailure(error: unknown): ConnectionError {
  if (error instanceof ConnectionError) return error;
  if (error instanceof FrameTooLargeError) {
    return new ConnectionError("PROTOCOL_ERROR", `Cannot read a response as ${error.message}`, {
      cause: error,
    });
  }
  return new ConnectionError("CONNECTION_CLOSED", "Cannot read as the connection failed", {
    cause: error,
  });
}
