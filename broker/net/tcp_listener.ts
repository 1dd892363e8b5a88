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
  encodeFrameParts,
  FrameDecoder,
  type FramePayload,
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
import { bindOrExplain, ListenError } from "./listen_error.ts";
import { listenMutualTls, type MutualTlsConn } from "./node_tls_listener.ts";

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
   * Mutual TLS (with `cert`): client certificates are requested and verified against `ca`, and a
   * verified certificate's principal becomes the connection's. Needs {@linkcode openTcpListener}.
   */
  clientAuth?: TcpClientAuth;
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

/** How a TLS listener asks for and maps client certificates (Kafka's `ssl.client.auth`). */
export interface TcpClientAuth {
  /** "required" refuses a client without a certificate; "requested" serves it as anonymous. */
  readonly mode: "requested" | "required";
  /** PEM CA certificates client certificates must chain to. */
  readonly ca: string;
  /** The principal for a verified certificate (DER), or why it is refused. */
  principalOf(der: Uint8Array): { principal: string } | { refused: string };
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
  clientAuth: TcpClientAuth | null;
}

// What the listener needs of a socket; Deno's and the mutual-TLS listener's both have it.
type _Conn = Pick<Deno.Conn, "read" | "write" | "close" | "remoteAddr"> & {
  readonly peerCertificate?: MutualTlsConn["peerCertificate"];
};
interface _AcceptSource {
  accept(): Promise<_Conn>;
  close(): void;
  readonly addr: Deno.Addr;
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

/**
 * Like {@linkcode listenTcp}, and also serves `clientAuth` (mutual TLS), whose listener binds
 * asynchronously.
 */
export async function openTcpListener(
  handler: FrameHandler,
  options: TcpListenerOptions = {},
): Promise<TcpListener> {
  const auth = options.clientAuth;
  if (auth === undefined) return new TcpListener(handler, options);
  if (options.cert === undefined || options.key === undefined) {
    throw new RangeError("Cannot ask for client certificates without TLS (cert and key)");
  }
  const hostname = options.hostname ?? "0.0.0.0";
  const port = options.port ?? 9092;
  const what = options.listenerName ?? "Kafka TCP listener";
  const logger = options.logger ?? consoleNetLogger;
  try {
    const source = await listenMutualTls({
      hostname,
      port,
      cert: options.cert,
      key: options.key,
      ca: auth.ca,
      mode: auth.mode,
      onHandshakeError: (reason, client) =>
        logger.warn("Refusing a TLS client as its certificate is missing or untrusted", {
          client,
          reason,
        }),
    });
    return new TcpListener(handler, options, source);
  } catch (error) {
    throw new ListenError(`Cannot start the ${what} on ${hostname}:${port}: ${error}`, {
      cause: error,
    });
  }
}

/** A running TCP/TLS listener; create it with {@linkcode listenTcp}. */
export class TcpListener {
  /** Live counters for metrics. */
  readonly counters: NetCounters = newNetCounters();
  readonly #listener: _AcceptSource;
  readonly #handler: FrameHandler;
  readonly #options: _ResolvedTcpOptions;
  readonly #connections = new Set<_TcpConnection>();
  readonly #acceptLoop: Promise<void>;
  #nextConnectionId = 1;
  #closing = false;

  /**
   * Binds the socket and starts accepting; prefer {@linkcode listenTcp}. `bound` is an already
   * bound source (the mutual-TLS one, from {@linkcode openTcpListener}).
   */
  constructor(handler: FrameHandler, options: TcpListenerOptions = {}, bound?: _AcceptSource) {
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
      clientAuth: options.clientAuth ?? null,
    };
    if (this.#options.clientAuth !== null && bound === undefined) {
      throw new RangeError(
        "Cannot ask for client certificates from listenTcp: use openTcpListener",
      );
    }
    const bind = { hostname: options.hostname ?? "0.0.0.0", port: options.port ?? 9092 };
    this.#listener = bound ?? bindOrExplain(
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
      let conn: _Conn;
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

  #admit(conn: _Conn): void {
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
    const principal = this.#certificatePrincipal(conn, logger);
    if (principal === null) return _closeQuietly(conn);
    const ctx: ConnectionContext = {
      connectionId,
      remoteAddr: { hostname: remote.hostname, port: remote.port },
      transport: this.#options.transport,
      logger,
      principal,
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

  /** The principal a client certificate maps to, anonymous without one, null when refused. */
  #certificatePrincipal(conn: _Conn, logger: NetLogger): string | null {
    const der = conn.peerCertificate?.der;
    const auth = this.#options.clientAuth;
    if (der === undefined || auth === null) return ANONYMOUS_PRINCIPAL;
    let mapped: { principal: string } | { refused: string };
    try {
      mapped = auth.principalOf(der);
    } catch (error) {
      mapped = { refused: `the certificate cannot be read (${error})` };
    }
    if ("principal" in mapped) return mapped.principal;
    this.counters.connectionsErrored += 1;
    logger.warn("Refusing a TLS client as its certificate maps to no principal", {
      reason: mapped.refused,
    });
    return null;
  }
}

type _Outcome = { ok: true; value: FramePayload | null } | { ok: false; error: unknown };

/** One accepted connection: a read loop feeding an ordered write chain. */
class _TcpConnection {
  readonly #conn: _Conn;
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
    conn: _Conn,
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
        // The rest of a large request is read into the request itself: one copy fewer.
        const direct = this.#decoder.directTarget(buffer.length);
        const n = await this.#conn.read(direct ?? buffer);
        if (n === null || this.#closed) return;
        this.#counters.bytesIn += n;
        this.#lastActivityMs = performance.now();
        if (direct === null) this.#decoder.push(buffer.subarray(0, n));
        else this.#decoder.received(n);
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

  async #invoke(frame: Uint8Array): Promise<FramePayload | null> {
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
      // Slices are written in order, never joined: a Fetch response's batches go out as stored.
      const wire = encodeFrameParts(outcome.value);
      try {
        for (const part of wire) await _writeAll(this.#conn, part);
      } catch (error) {
        this.#ctx.logger.debug("Connection write failed", { error });
        return this.#close();
      }
      for (const part of wire) this.#counters.bytesOut += part.length;
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

async function _writeAll(conn: _Conn, bytes: Uint8Array): Promise<void> {
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
