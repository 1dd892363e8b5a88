/**
 * Kafka-protocol listener over TCP, or TLS when a certificate is given.
 *
 * Per connection, up to `maxInFlightRequests` requests are handled
 * concurrently while responses go out strictly in request order, as Kafka
 * clients require. When the window is full the connection stops reading, so a
 * fast producer is slowed by TCP flow control instead of filling memory.
 *
 * @module
 */
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  FrameDecoder,
} from "../../protocol/transport/frame_decoder.ts";
import { FrameTooLargeError } from "../../protocol/transport/errors.ts";
import {
  ANONYMOUS_PRINCIPAL,
  type ConnectionContext,
  consoleNetLogger,
  type FrameHandler,
  handlerFailureLevel,
  MIN_REQUEST_BYTES,
  type NetCounters,
  type NetLogger,
  newNetCounters,
  withFields,
} from "./frame_handler.ts";
import { _validateLimit } from "./_limits.ts";
import { bindOrExplain } from "./listen_error.ts";

/** Options for {@linkcode listenTcp}. */
export interface TcpListenerOptions {
  /** What start-up errors call this listener. @default "Kafka TCP listener" */
  listenerName?: string;
  /**
   * Address to bind.
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * Port to bind; 0 picks a free one (see {@linkcode TcpListener.addr}).
   * @default {9092}
   */
  port?: number;
  /** PEM certificate chain; with `key`, the listener speaks TLS. */
  cert?: string;
  /** PEM private key for `cert`. */
  key?: string;
  /**
   * Requests per connection handled concurrently (Kafka's max.in.flight).
   * @default {5}
   */
  maxInFlightRequests?: number;
  /**
   * Largest request payload (socket.request.max.bytes); a larger size prefix
   * closes the connection without allocating.
   * @default {104857600}
   */
  maxRequestBytes?: number;
  /**
   * A connection with no request in flight and no bytes read for this long is
   * closed (connections.max.idle.ms).
   * @default {600000}
   */
  connectionTimeoutMs?: number;
  /**
   * Open connections allowed; further ones are closed on accept.
   * @default {10000}
   */
  maxConnections?: number;
  /**
   * Size of the per-connection read buffer.
   * @default {65536}
   */
  readBufferBytes?: number;
  /** Where log lines go. @default {consoleNetLogger} */
  logger?: NetLogger;
}

/** Options for {@linkcode TcpListener.close}. */
export interface ListenerCloseOptions {
  /**
   * How long in-flight requests may take to be answered before their
   * connections are closed anyway.
   * @default {5000}
   */
  graceMs?: number;
}

interface _ResolvedTcpOptions {
  maxInFlightRequests: number;
  maxRequestBytes: number;
  connectionTimeoutMs: number;
  maxConnections: number;
  readBufferBytes: number;
  transport: "tcp" | "tls";
  logger: NetLogger;
}

/**
 * Binds a TCP (or TLS) listener and serves Kafka frames with `handler`.
 *
 * @example
 * ```ts
 * import { listenTcp } from "./tcp_listener.ts";
 * import { silentNetLogger } from "./frame_handler.ts";
 * const listener = listenTcp((frame) => Promise.resolve(frame.subarray(4)), {
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   logger: silentNetLogger,
 * });
 * await listener.close();
 * ```
 */
export function listenTcp(handler: FrameHandler, options: TcpListenerOptions = {}): TcpListener {
  return new TcpListener(handler, options);
}

/** A running TCP/TLS listener; create it with {@linkcode listenTcp}. */
export class TcpListener {
  /** Live counters for metrics. */
  readonly counters: NetCounters = newNetCounters();
  readonly #listener: Deno.Listener;
  readonly #handler: FrameHandler;
  readonly #options: _ResolvedTcpOptions;
  readonly #connections = new Set<_TcpConnection>();
  readonly #acceptLoop: Promise<void>;
  #nextConnectionId = 1;
  #closing = false;

  /** Binds the socket and starts accepting; prefer {@linkcode listenTcp}. */
  constructor(handler: FrameHandler, options: TcpListenerOptions = {}) {
    if ((options.cert === undefined) !== (options.key === undefined)) {
      throw new RangeError("Cannot listen with TLS as only one of cert and key is set");
    }
    this.#handler = handler;
    this.#options = {
      maxInFlightRequests: _validateLimit("maxInFlightRequests", options.maxInFlightRequests, 5),
      maxRequestBytes: _validateLimit(
        "maxRequestBytes",
        options.maxRequestBytes,
        DEFAULT_MAX_FRAME_BYTES,
      ),
      connectionTimeoutMs: _validateLimit(
        "connectionTimeoutMs",
        options.connectionTimeoutMs,
        600_000,
      ),
      maxConnections: _validateLimit("maxConnections", options.maxConnections, 10_000),
      readBufferBytes: _validateLimit("readBufferBytes", options.readBufferBytes, 65_536),
      transport: options.cert === undefined ? "tcp" : "tls",
      logger: options.logger ?? consoleNetLogger,
    };
    const bind = { hostname: options.hostname ?? "0.0.0.0", port: options.port ?? 9092 };
    this.#listener = bindOrExplain(
      options.listenerName ?? "Kafka TCP listener",
      bind.hostname,
      bind.port,
      () =>
        options.cert === undefined || options.key === undefined
          ? Deno.listen({ ...bind, transport: "tcp" })
          : Deno.listenTls({ ...bind, cert: options.cert, key: options.key }),
    );
    this.#acceptLoop = this.#accept();
  }

  /** The bound address (useful with port 0). */
  get addr(): Deno.NetAddr {
    return this.#listener.addr as Deno.NetAddr;
  }

  /** "tcp" or "tls". */
  get transport(): "tcp" | "tls" {
    return this.#options.transport;
  }

  /**
   * Stops accepting, stops reading new requests, waits up to `graceMs` for
   * in-flight responses to be written, then closes every connection.
   */
  async close(options: ListenerCloseOptions = {}): Promise<void> {
    if (this.#closing) return await this.#acceptLoop;
    this.#closing = true;
    this.#listener.close();
    await this.#acceptLoop;
    const graceMs = options.graceMs ?? 5000;
    await Promise.all([...this.#connections].map((c) => c.drain(graceMs)));
  }

  async #accept(): Promise<void> {
    while (!this.#closing) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing) return;
        this.#options.logger.warn("Accept failed", { error });
        // Out of descriptors and similar: back off instead of spinning.
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      this.#admit(conn);
    }
  }

  #admit(conn: Deno.Conn): void {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const client = `${remote.hostname}:${remote.port}`;
    if (this.counters.connectionsOpen >= this.#options.maxConnections) {
      this.counters.connectionsRejected += 1;
      this.#options.logger.warn("Cannot accept a connection as maxConnections is reached", {
        client,
        maxConnections: this.#options.maxConnections,
      });
      _closeQuietly(conn);
      return;
    }
    // Responses are latency-bound and written whole; do not wait for Nagle.
    if (this.#options.transport === "tcp") (conn as Deno.TcpConn).setNoDelay(true);
    const connectionId = this.#nextConnectionId++;
    const logger = withFields(this.#options.logger, {
      connectionId,
      client,
      transport: this.#options.transport,
    });
    const ctx: ConnectionContext = {
      connectionId,
      remoteAddr: { hostname: remote.hostname, port: remote.port },
      transport: this.#options.transport,
      logger,
      principal: ANONYMOUS_PRINCIPAL,
    };
    const connection = new _TcpConnection(conn, ctx, this.#handler, this.#options, this.counters);
    this.#connections.add(connection);
    this.counters.connectionsAccepted += 1;
    this.counters.connectionsOpen += 1;
    connection.run().finally(() => {
      this.#connections.delete(connection);
      this.counters.connectionsOpen -= 1;
    });
  }
}

type _Outcome = { ok: true; value: Uint8Array | null } | { ok: false; error: unknown };

/** One accepted connection: a read loop feeding an ordered write chain. */
class _TcpConnection {
  readonly #conn: Deno.Conn;
  readonly #ctx: ConnectionContext;
  readonly #handler: FrameHandler;
  readonly #options: _ResolvedTcpOptions;
  readonly #counters: NetCounters;
  readonly #decoder: FrameDecoder;
  #inFlight = 0;
  #slotFreed: (() => void) | null = null;
  #writeChain: Promise<void> = Promise.resolve();
  #closed = false;
  #draining = false;
  #lastActivityMs = performance.now();
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    conn: Deno.Conn,
    ctx: ConnectionContext,
    handler: FrameHandler,
    options: _ResolvedTcpOptions,
    counters: NetCounters,
  ) {
    this.#conn = conn;
    this.#ctx = ctx;
    this.#handler = handler;
    this.#options = options;
    this.#counters = counters;
    this.#decoder = new FrameDecoder({ maxFrameBytes: options.maxRequestBytes });
  }

  /** Serves the connection until it ends; never rejects. */
  async run(): Promise<void> {
    this.#ctx.logger.debug("Connection opened");
    this.#armIdleTimer(this.#options.connectionTimeoutMs);
    try {
      await this.#readLoop();
      // The client stopped sending; answer what it already asked for.
      await this.#writeChain;
    } catch (error) {
      this.#onReadError(error);
    } finally {
      this.#close();
    }
  }

  /** Stops reading and closes once in-flight responses are written or `graceMs` passes. */
  async drain(graceMs: number): Promise<void> {
    this.#draining = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs));
    await Promise.race([this.#writeChain, grace]);
    clearTimeout(timer);
    this.#close();
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(this.#options.readBufferBytes);
    while (!this.#closed && !this.#draining) {
      let frame = this.#decoder.next();
      while (frame === null) {
        const n = await this.#conn.read(buffer);
        if (n === null || this.#closed) return;
        this.#counters.bytesIn += n;
        this.#lastActivityMs = performance.now();
        this.#decoder.push(buffer.subarray(0, n));
        frame = this.#decoder.next();
      }
      if (frame.length < MIN_REQUEST_BYTES) {
        this.#ctx.logger.warn("Closing the connection as a request is shorter than its header", {
          sizeBytes: frame.length,
        });
        this.#counters.connectionsErrored += 1;
        return this.#close();
      }
      // Backpressure: while the window is full nothing more is read, so TCP
      // flow control pushes back on the client.
      await this.#acquireSlot();
      if (this.#closed || this.#draining) return;
      this.#dispatch(frame);
    }
  }

  #onReadError(error: unknown): void {
    if (this.#closed) return;
    if (error instanceof FrameTooLargeError) {
      this.#counters.connectionsErrored += 1;
      this.#ctx.logger.warn("Closing the connection as a request exceeds maxRequestBytes", {
        sizeBytes: error.sizeBytes,
        maxRequestBytes: error.maxBytes,
      });
    } else {
      this.#ctx.logger.debug("Connection read failed", { error });
    }
  }

  async #acquireSlot(): Promise<void> {
    while (this.#inFlight >= this.#options.maxInFlightRequests && !this.#closed) {
      await new Promise<void>((resolve) => this.#slotFreed = resolve);
    }
  }

  #releaseSlot(): void {
    this.#inFlight -= 1;
    const wake = this.#slotFreed;
    this.#slotFreed = null;
    wake?.();
  }

  #dispatch(frame: Uint8Array): void {
    this.#inFlight += 1;
    this.#counters.requests += 1;
    // Settle into an outcome at once so a rejection waiting behind an earlier
    // slow response is never reported as unhandled.
    const outcome = this.#invoke(frame).then(
      (value): _Outcome => ({ ok: true, value }),
      (error): _Outcome => ({ ok: false, error }),
    );
    this.#writeChain = this.#writeChain.then(() => this.#respond(frame, outcome));
  }

  async #invoke(frame: Uint8Array): Promise<Uint8Array | null> {
    return await this.#handler(frame, this.#ctx);
  }

  async #respond(frame: Uint8Array, pending: Promise<_Outcome>): Promise<void> {
    const outcome = await pending;
    if (this.#closed) return;
    if (!outcome.ok) {
      this.#counters.connectionsErrored += 1;
      this.#ctx.logger[handlerFailureLevel(outcome.error)](
        "Closing the connection as the request handler failed",
        {
          apiKey: new DataView(frame.buffer, frame.byteOffset).getInt16(0, false),
          error: outcome.error,
        },
      );
      return this.#close();
    }
    if (outcome.value !== null) {
      const wire = encodeFrame(outcome.value);
      try {
        await _writeAll(this.#conn, wire);
      } catch (error) {
        this.#ctx.logger.debug("Connection write failed", { error });
        return this.#close();
      }
      this.#counters.bytesOut += wire.length;
    }
    if (this.#ctx.closeAfterResponse) return this.#close();
    this.#lastActivityMs = performance.now();
    this.#releaseSlot();
  }

  #armIdleTimer(delayMs: number): void {
    this.#idleTimer = setTimeout(() => this.#checkIdle(), delayMs);
  }

  #checkIdle(): void {
    if (this.#closed) return;
    const idleMs = performance.now() - this.#lastActivityMs;
    const timeoutMs = this.#options.connectionTimeoutMs;
    // A connection waiting on a slow handler is busy, not idle.
    if (this.#inFlight > 0 || idleMs < timeoutMs) {
      return this.#armIdleTimer(this.#inFlight > 0 ? timeoutMs : timeoutMs - idleMs);
    }
    this.#ctx.logger.debug("Closing the idle connection", { idleMs: Math.round(idleMs) });
    this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    _closeQuietly(this.#conn);
    const wake = this.#slotFreed;
    this.#slotFreed = null;
    wake?.();
    this.#ctx.logger.debug("Connection closed");
  }
}

async function _writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

function _closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // Already closed by the peer or by an earlier error path.
  }
}
