/**
 * Opens a {@linkcode Transport} from a URL: `tcp://host:port`,
 * `tls://host:port` or `quic://host:port`.
 *
 * @module
 */
import { ConnectionError, TimeoutError } from "./errors.ts";
import { QuicTransport } from "./quic_transport.ts";
import { TcpTransport } from "./tcp_transport.ts";
import type { Transport, TransportLimits, TransportProtocol } from "./transport.ts";
import { _validateLimit } from "./_request_window.ts";

/** The ALPN protocol id RustMQ brokers announce over QUIC. */
export const RUSTMQ_ALPN = "rustmq";

/** Default Kafka port, used when the URL has none. */
export const DEFAULT_PORT = 9092;

/** Options for {@linkcode connect}. */
export interface ConnectOptions extends TransportLimits {
  /** Extra PEM root certificates to trust (for example a dev `ca.pem`), for TLS and QUIC. */
  caCerts?: string[];
  /**
   * TLS only: a PEM certificate and key to present to a server that asks for one (mutual TLS,
   * Kafka's `ssl.keystore.*`).
   * @default {undefined} (none)
   */
  clientCertificate?: { cert: string; key: string };
  /**
   * QUIC only: name to verify the certificate against (TLS always verifies the
   * URL's host).
   * @default {the URL's host}
   */
  serverName?: string;
  /**
   * Deadline for connecting, TLS/QUIC handshake included.
   * @default {10000}
   */
  connectTimeoutMs?: number;
  /**
   * QUIC only: the connection closes after this long without packets
   * (the minimum of this and the broker's value applies).
   * @default {undefined} (the broker decides)
   */
  quicIdleTimeoutMs?: number;
  /**
   * QUIC only: keep-alive interval that keeps an idle connection open.
   * @default {undefined} (none)
   */
  quicKeepAliveMs?: number;
}

/** A parsed transport URL. */
export interface TransportAddress {
  /** The protocol from the scheme. */
  protocol: TransportProtocol;
  /** Host name or IP address, without IPv6 brackets. */
  hostname: string;
  /** Port number. */
  port: number;
}

/**
 * Parses `tcp://host:port`, `tls://host:port` or `quic://host:port`; the port
 * defaults to 9092. Throws `RangeError` on anything else.
 *
 * @example
 * ```ts
 * import { parseTransportUrl } from "./connect.ts";
 * const address = parseTransportUrl("quic://[::1]:9092");
 * if (address.hostname !== "::1" || address.protocol !== "quic") throw new Error();
 * ```
 */
export function parseTransportUrl(url: string): TransportAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new RangeError(`Cannot connect as the URL is invalid: current value is ${url}`, {
      cause: error,
    });
  }
  const protocol = parsed.protocol.slice(0, -1);
  if (protocol !== "tcp" && protocol !== "tls" && protocol !== "quic") {
    throw new RangeError(
      `Cannot connect as the scheme must be tcp, tls or quic: current value is ${protocol}`,
    );
  }
  if (parsed.hostname === "") {
    throw new RangeError(`Cannot connect as the URL has no host: current value is ${url}`);
  }
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = parsed.port === "" ? DEFAULT_PORT : Number(parsed.port);
  return { protocol, hostname, port };
}

/**
 * Connects to a broker and returns a transport for the URL's protocol.
 * Rejects with `ConnectionError` (`CONNECTION_FAILED`) or `TimeoutError`
 * (`CONNECT_TIMEOUT`).
 *
 * @example
 * ```ts ignore
 * import { connect } from "./connect.ts";
 * const transport = await connect("quic://localhost:9092", { caCerts: [caPem] });
 * ```
 */
export async function connect(url: string, options: ConnectOptions = {}): Promise<Transport> {
  const address = parseTransportUrl(url);
  const timeoutMs = _validateLimit("connectTimeoutMs", options.connectTimeoutMs, 10_000);
  const limits: TransportLimits = {};
  if (options.maxInFlightRequests !== undefined) {
    limits.maxInFlightRequests = options.maxInFlightRequests;
  }
  if (options.maxQueuedRequests !== undefined) limits.maxQueuedRequests = options.maxQueuedRequests;
  if (options.maxResponseBytes !== undefined) limits.maxResponseBytes = options.maxResponseBytes;
  if (address.protocol === "quic") {
    const conn = await _withDeadline(_dialQuic(address, options), timeoutMs, (c) => c.close());
    return new QuicTransport(conn, limits);
  }
  const conn = await _withDeadline(_dialTcp(address, options), timeoutMs, (c) => c.close());
  return new TcpTransport(conn, address.protocol, limits);
}

async function _dialTcp(address: TransportAddress, options: ConnectOptions): Promise<Deno.Conn> {
  const { hostname, port } = address;
  try {
    if (address.protocol === "tcp") {
      const conn = await Deno.connect({ hostname, port });
      // Kafka requests are small and latency-bound; do not wait for Nagle.
      conn.setNoDelay(true);
      return conn;
    }
    const conn = await Deno.connectTls({
      hostname,
      port,
      ...(options.caCerts === undefined ? {} : { caCerts: options.caCerts }),
      ...(options.clientCertificate === undefined ? {} : options.clientCertificate),
    });
    // Finish the handshake now so certificate errors surface as connect errors.
    await conn.handshake();
    return conn;
  } catch (error) {
    throw _dialError(address, error);
  }
}

async function _dialQuic(
  address: TransportAddress,
  options: ConnectOptions,
): Promise<Deno.QuicConn> {
  try {
    return await Deno.connectQuic({
      hostname: address.hostname,
      port: address.port,
      alpnProtocols: [RUSTMQ_ALPN],
      ...(options.serverName === undefined ? {} : { serverName: options.serverName }),
      ...(options.caCerts === undefined ? {} : { caCerts: options.caCerts }),
      ...(options.quicIdleTimeoutMs === undefined
        ? {}
        : { maxIdleTimeout: options.quicIdleTimeoutMs }),
      ...(options.quicKeepAliveMs === undefined
        ? {}
        : { keepAliveInterval: options.quicKeepAliveMs }),
    });
  } catch (error) {
    throw _dialError(address, error);
  }
}

function _dialError(address: TransportAddress, error: unknown): ConnectionError {
  const target = `${address.protocol}://${address.hostname}:${address.port}`;
  const reason = error instanceof Error ? error.message : String(error);
  // rustls reports an unknown CA as "invalid peer certificate: UnknownIssuer"; name it plainly so
  // a user learns they must pass the CA rather than chase a network fault.
  if (/invalid peer certificate|UnknownIssuer|certificate/i.test(reason)) {
    return new ConnectionError(
      "CONNECTION_FAILED",
      `Cannot connect to ${target}: the server's TLS certificate is not trusted (${reason}); ` +
        "pass the CA that signed it (caCerts)",
      { cause: error, untrustedCertificate: true },
    );
  }
  return new ConnectionError("CONNECTION_FAILED", `Cannot connect to ${target}`, { cause: error });
}

/**
 * Races `dial` against a deadline; a connection that arrives after the
 * deadline is closed with `dispose` so it does not leak.
 */
async function _withDeadline<T>(
  dial: Promise<T>,
  timeoutMs: number,
  dispose: (value: T) => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new TimeoutError("CONNECT_TIMEOUT", timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([dial, deadline]);
  } catch (error) {
    dial.then(dispose, () => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
