/**
 * A TLS listener that asks clients for certificates (mutual TLS), behind the small accept, read,
 * write and close surface the TCP listener uses.
 *
 * Why node:tls: `Deno.listenTls` (Deno 2.9) can neither request a client certificate nor verify
 * one against a CA, nor show the peer's certificate (denoland/deno#26825). Deno's node:tls can:
 * `createServer({ requestCert, rejectUnauthorized, ca })` sends a CertificateRequest, verifies
 * the chain, and `getPeerCertificate()` gives the verified certificate's DER bytes.
 *
 * @module
 */

import tls from "node:tls";

/** How a listener treats client certificates (Kafka's `ssl.client.auth`). */
export type ClientAuthMode = "none" | "requested" | "required";

/** A client certificate that verified against the listener's CA. */
export interface PeerCertificate {
  /** The leaf certificate, DER. */
  readonly der: Uint8Array;
}

/** One accepted connection; the subset of `Deno.Conn` the TCP listener uses. */
export interface MutualTlsConn {
  /** The client's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** The verified client certificate, or null when the client sent none (mode "requested"). */
  readonly peerCertificate: PeerCertificate | null;
  /** Reads into `buffer`; null at end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes all of `bytes` (resolves once the socket has taken them). */
  write(bytes: Uint8Array): Promise<number>;
  /** Closes the connection. */
  close(): void;
}

/** Options for {@linkcode listenMutualTls}. */
export interface MutualTlsListenOptions {
  /** Address to bind. */
  hostname: string;
  /** Port to bind; 0 picks one. */
  port: number;
  /** PEM certificate chain the listener presents. */
  cert: string;
  /** PEM private key of `cert`. */
  key: string;
  /** PEM CA certificates that client certificates must chain to. */
  ca: string;
  /** "required" refuses a client without a certificate; "requested" lets it in anonymously. */
  mode: "requested" | "required";
  /** Told why a handshake failed (no certificate, untrusted certificate). */
  onHandshakeError(reason: string, remote: string): void;
}

/** Binds a TLS listener that requests client certificates. Resolves once bound. */
export async function listenMutualTls(options: MutualTlsListenOptions): Promise<MutualTlsListener> {
  const listener = new MutualTlsListener(options);
  await listener.bound;
  return listener;
}

/** A bound mutual-TLS listener; `accept()` yields connections whose handshake succeeded. */
export class MutualTlsListener {
  /** Settles once the socket is bound (rejects with the bind error). */
  readonly bound: Promise<void>;
  readonly #server: tls.Server;
  readonly #ready: MutualTlsConn[] = [];
  #waiter: ((conn: MutualTlsConn | null) => void) | null = null;
  #closed = false;

  /** Starts binding; prefer {@linkcode listenMutualTls}. */
  constructor(options: MutualTlsListenOptions) {
    this.#server = tls.createServer({
      cert: options.cert,
      key: options.key,
      ca: options.ca,
      requestCert: true,
      // "requested" must still refuse a certificate that does not verify, so the check is ours.
      rejectUnauthorized: options.mode === "required",
    }, (socket) => this.#onSecure(socket, options));
    this.#server.on("tlsClientError", (error: Error, socket: tls.TLSSocket) => {
      options.onHandshakeError(error.message, _peerOf(socket));
    });
    this.bound = new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(options.port, options.hostname, () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
  }

  /** The bound address. */
  get addr(): Deno.NetAddr {
    const a = this.#server.address();
    if (a === null || typeof a === "string") throw new Error("The listener is not bound");
    return { transport: "tcp", hostname: a.address, port: a.port };
  }

  /** The next accepted connection; rejects once the listener is closed, as Deno's does. */
  async accept(): Promise<MutualTlsConn> {
    const ready = this.#ready.shift();
    if (ready !== undefined) return ready;
    if (this.#closed) throw new Deno.errors.BadResource("The listener is closed");
    const conn = await new Promise<MutualTlsConn | null>((resolve) => this.#waiter = resolve);
    if (conn === null) throw new Deno.errors.BadResource("The listener is closed");
    return conn;
  }

  /** Stops accepting; connections already accepted stay open. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    for (const conn of this.#ready.splice(0)) conn.close();
    const wake = this.#waiter;
    this.#waiter = null;
    wake?.(null);
  }

  #onSecure(socket: tls.TLSSocket, options: MutualTlsListenOptions): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const cert = socket.getPeerCertificate();
    const presented = cert !== null && cert.raw !== undefined;
    if (presented && !socket.authorized) {
      options.onHandshakeError(
        `the client certificate does not verify: ${socket.authorizationError}`,
        remote,
      );
      socket.destroy();
      return;
    }
    if (this.#closed) return void socket.destroy();
    const conn = new _NodeTlsConn(socket, presented ? { der: new Uint8Array(cert.raw) } : null);
    const wake = this.#waiter;
    this.#waiter = null;
    if (wake !== null) wake(conn);
    else this.#ready.push(conn);
  }
}

// After a failed handshake Deno's TLS socket no longer knows its peer; the TCP socket under it does.
function _peerOf(socket: tls.TLSSocket): string {
  const raw = socket.remoteAddress === undefined
    ? (socket as unknown as { _parent?: { remoteAddress?: string; remotePort?: number } })._parent
    : socket;
  return raw?.remoteAddress === undefined ? "unknown" : `${raw.remoteAddress}:${raw.remotePort}`;
}

// Reading pauses the socket once this much is buffered, so a client cannot fill memory faster
// than requests are taken (the TCP listener's own backpressure sits behind read()).
const _BUFFERED_BYTES_MAX = 1 << 20;

class _NodeTlsConn implements MutualTlsConn {
  readonly remoteAddr: Deno.NetAddr;
  readonly peerCertificate: PeerCertificate | null;
  readonly #socket: tls.TLSSocket;
  readonly #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;

  constructor(socket: tls.TLSSocket, peer: PeerCertificate | null) {
    this.#socket = socket;
    this.peerCertificate = peer;
    this.remoteAddr = {
      transport: "tcp",
      hostname: socket.remoteAddress ?? "",
      port: socket.remotePort ?? 0,
    };
    socket.setNoDelay(true);
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered >= _BUFFERED_BYTES_MAX) socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (error: Error) => {
      this.#error = error;
      this.#notify();
    });
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error !== null) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const head = this.#chunks[0]!;
    const n = Math.min(head.length, buffer.length);
    buffer.set(head.subarray(0, n));
    if (n === head.length) this.#chunks.shift();
    else this.#chunks[0] = head.subarray(n);
    this.#buffered -= n;
    if (this.#buffered < _BUFFERED_BYTES_MAX && this.#socket.isPaused()) this.#socket.resume();
    return n;
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.#error !== null) return Promise.reject(this.#error);
    // The callback runs once the bytes are handed to the socket, so the caller may reuse them.
    return new Promise((resolve, reject) => {
      this.#socket.write(bytes, (error) => error ? reject(error) : resolve(bytes.length));
    });
  }

  close(): void {
    this.#socket.destroy();
    this.#ended = true;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
