/**
 * One connection to one broker that speaks Kafka requests: it negotiates versions with
 * ApiVersions when it opens, numbers requests, frames them with their header, and decodes
 * responses. It sits on a {@linkcode Transport}, so it is the same over TCP, TLS and QUIC.
 *
 * @module
 */

import { ErrorCode } from "../protocol/kafka/errors.ts";
import { decodeResponseHeader, encodeRequestHeader } from "../protocol/kafka/header.ts";
import { createApiVersionsRequest } from "../protocol/kafka/messages/mod.ts";
import { Reader, Writer } from "../protocol/kafka/wire.ts";
import { API_VERSIONS, type ApiSpec, SASL_AUTHENTICATE, SASL_HANDSHAKE } from "./api_specs.ts";
import { saslAuthenticate, type SaslOptions } from "./sasl.ts";
import { BrokerError, fromTransportError } from "./errors.ts";
import type { Transport } from "../protocol/transport/transport.ts";
import { VERSION } from "../config/version.ts";

/** Opens a transport to a URL; injected so tests can wrap or fault connections. */
export type Dialer = (url: string) => Promise<Transport>;

/** Options of {@linkcode BrokerConnection.open}. */
export interface BrokerConnectionOptions {
  /** Client id sent in every request header. */
  clientId: string;
  /** Deadline of each request unless the call gives its own. */
  requestTimeoutMs: number;
  /** SASL credentials: the connection authenticates right after ApiVersions. */
  sasl?: SaslOptions;
}

/** Options of one {@linkcode BrokerConnection.request}. */
export interface BrokerRequestOptions {
  /** Deadline of this request. @default {the connection's requestTimeoutMs} */
  timeoutMs?: number;
  /** False for Produce with acks=0, which gets no response. @default {true} */
  expectResponse?: boolean;
}

const _CORRELATION_ID_MAX = 0x7fffffff;

/**
 * A negotiated connection to one broker.
 *
 * @example
 * ```ts ignore
 * import { connect } from "../protocol/transport/connect.ts";
 * import { BrokerConnection } from "./broker_connection.ts";
 * import { METADATA } from "./api_specs.ts";
 * const conn = await BrokerConnection.open("tcp://localhost:9092", (u) => connect(u), {
 *   clientId: "demo",
 *   requestTimeoutMs: 30_000,
 * });
 * const version = conn.version(METADATA);
 * conn.close();
 * ```
 */
export class BrokerConnection {
  /** The URL this connection was opened to. */
  readonly url: string;
  readonly #transport: Transport;
  readonly #options: BrokerConnectionOptions;
  readonly #versions = new Map<number, { min: number; max: number }>();
  #nextCorrelationId = 1;
  #closed = false;

  private constructor(url: string, transport: Transport, options: BrokerConnectionOptions) {
    this.url = url;
    this.#transport = transport;
    this.#options = options;
    transport.closed.then(() => this.#closed = true, () => this.#closed = true);
  }

  /** Dials `url` and negotiates API versions; the transport is closed if that fails. */
  static async open(
    url: string,
    dial: Dialer,
    options: BrokerConnectionOptions,
  ): Promise<BrokerConnection> {
    const transport = await dial(url);
    const conn = new BrokerConnection(url, transport, options);
    try {
      await conn.#negotiate();
      if (options.sasl !== undefined) await conn.#authenticate(options.sasl);
    } catch (error) {
      conn.close();
      throw error;
    }
    return conn;
  }

  /** True once the connection is closed by either side; it cannot be reused. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Resolves once the transport is closed. */
  get closed(): Promise<void> {
    return this.#transport.closed;
  }

  /** Closes the transport; outstanding requests fail with a `ConnectionError`. */
  close(): void {
    this.#closed = true;
    this.#transport.close();
  }

  /**
   * The version to use for `spec`: the highest both sides support. Throws a `BrokerError`
   * `UNSUPPORTED_VERSION` when the ranges do not overlap or the broker lacks the API.
   */
  version<Req, Res>(spec: ApiSpec<Req, Res>): number {
    const broker = this.#versions.get(spec.apiKey);
    const version = Math.min(spec.maxVersion, broker?.max ?? -1);
    if (broker === undefined || version < Math.max(spec.minVersion, broker.min)) {
      throw new BrokerError(ErrorCode.UNSUPPORTED_VERSION, {
        brokerMessage: `${spec.name}: client ${spec.minVersion}-${spec.maxVersion}, broker ${
          broker === undefined ? "none" : `${broker.min}-${broker.max}`
        }`,
      });
    }
    return version;
  }

  /** Sends one request and decodes its response (null when none is expected). */
  async request<Req, Res>(
    spec: ApiSpec<Req, Res>,
    body: Req,
    options: BrokerRequestOptions = {},
  ): Promise<Res | null> {
    return await this.#send(spec, this.version(spec), body, options);
  }

  async #send<Req, Res>(
    spec: ApiSpec<Req, Res>,
    version: number,
    body: Req,
    options: BrokerRequestOptions,
  ): Promise<Res | null> {
    const w = new Writer({ initialBytes: 4096 });
    const correlationId = this.#nextCorrelationId;
    this.#nextCorrelationId = correlationId >= _CORRELATION_ID_MAX ? 1 : correlationId + 1;
    encodeRequestHeader(w, {
      apiKey: spec.apiKey,
      apiVersion: version,
      correlationId,
      clientId: this.#options.clientId,
    });
    spec.encode(w, body, version);
    let payload: Uint8Array | null;
    try {
      payload = await this.#transport.request(w.finish(), {
        expectResponse: options.expectResponse ?? true,
        timeoutMs: options.timeoutMs ?? this.#options.requestTimeoutMs,
      });
    } catch (error) {
      throw fromTransportError(error);
    }
    if (payload === null) return null;
    const r = new Reader(payload);
    decodeResponseHeader(r, spec.apiKey, version);
    return spec.decode(r, version);
  }

  /** SaslHandshake v1, then the mechanism's SaslAuthenticate rounds; throws a BrokerError. */
  async #authenticate(sasl: SaslOptions): Promise<void> {
    const hs = await this.request(SASL_HANDSHAKE, { mechanism: sasl.mechanism });
    if (hs === null || hs.errorCode !== ErrorCode.NONE) {
      throw new BrokerError(hs?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR, {
        brokerMessage: `SASL ${sasl.mechanism} is not enabled here (the broker offers ${
          hs?.mechanisms.join(", ") || "none"
        })`,
      });
    }
    await saslAuthenticate(sasl, async (authBytes) => {
      const res = await this.request(SASL_AUTHENTICATE, { authBytes });
      if (res === null || res.errorCode !== ErrorCode.NONE) {
        throw new BrokerError(res?.errorCode ?? ErrorCode.SASL_AUTHENTICATION_FAILED, {
          brokerMessage: res?.errorMessage ?? "SASL authentication failed",
        });
      }
      return res.authBytes;
    });
  }

  async #negotiate(): Promise<void> {
    const req = createApiVersionsRequest();
    req.clientSoftwareName = "rustmq-ts";
    req.clientSoftwareVersion = VERSION.replace(/[^A-Za-z0-9.-]/g, "-");
    let res;
    try {
      res = await this.#send(API_VERSIONS, API_VERSIONS.maxVersion, req, {});
    } catch (error) {
      // A broker without v3 answers UNSUPPORTED_VERSION in the v0 body, which v3 cannot read.
      if (!(error instanceof Error) || error.name !== "MalformedFrameError") throw error;
      res = null;
    }
    if (res === null || res.errorCode === ErrorCode.UNSUPPORTED_VERSION) {
      res = await this.#send(API_VERSIONS, 0, createApiVersionsRequest(), {});
    }
    if (res === null || res.errorCode !== ErrorCode.NONE) {
      throw new BrokerError(res?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR, {
        brokerMessage: "ApiVersions failed",
      });
    }
    for (const api of res.apiKeys) {
      this.#versions.set(api.apiKey, { min: api.minVersion, max: api.maxVersion });
    }
  }
}
