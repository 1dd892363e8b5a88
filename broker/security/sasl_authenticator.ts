/**
 * SASL on the Kafka listeners: SaslHandshake (v1) and SaslAuthenticate (v0-2) with PLAIN,
 * SCRAM-SHA-256 and SCRAM-SHA-512, and the gate that serves an unauthenticated connection only
 * ApiVersions and the SASL APIs, in frames no larger than `maxUnauthenticatedBytes`.
 *
 * A failed authentication is answered with SASL_AUTHENTICATION_FAILED after a delay that doubles
 * per failure from the same address ({@linkcode AuthBackoff}), and the connection is then
 * closed, as Kafka does. PLAIN checks the password against the user's stored SCRAM credential,
 * so no password is ever stored. Re-authentication (KIP-368) is not offered: the session
 * lifetime is 0.
 *
 * @module
 */

import { createHmac } from "node:crypto";
import { Reader } from "../../protocol/kafka/wire.ts";
import { decodeRequestHeader } from "../../protocol/kafka/header.ts";
import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  createSaslAuthenticateResponse,
  createSaslHandshakeResponse,
  decodeSaslAuthenticateRequest,
  decodeSaslHandshakeRequest,
  encodeSaslAuthenticateResponse,
  encodeSaslHandshakeResponse,
  type SaslAuthenticateRequest,
  type SaslAuthenticateResponse,
  type SaslHandshakeRequest,
  type SaslHandshakeResponse,
} from "../../protocol/kafka/messages/mod.ts";
import { type Clock, sleep } from "../../ops/clock.ts";
import type { ConnectionContext, FrameHandler } from "../net/frame_handler.ts";
import { type AnyRoute, anyRoute, type ApiRoute } from "../kafka_api/request_router.ts";
import { AuthBackoff } from "./auth_backoff.ts";
import {
  type ScramCredential,
  ScramError,
  type ScramMechanism,
  ScramServer,
  verifyPassword,
} from "./scram.ts";
import type { SecurityDirectory } from "./security_store.ts";

/** Options of {@linkcode SaslAuthenticator}. */
export interface SaslAuthenticatorOptions {
  readonly store: SecurityDirectory;
  /** Mechanisms offered (`security.sasl_enabled_mechanisms`). */
  readonly mechanisms: readonly string[];
  /** Largest frame before authentication (`security.sasl_max_receive_bytes`). */
  readonly maxUnauthenticatedBytes: number;
  readonly failureDelayMs: number;
  readonly failureDelayMaxMs: number;
  readonly clock: Clock;
  /** Random bytes, for server nonces and the decoy-credential key. */
  readonly randomBytes: (n: number) => Uint8Array;
}

interface _Session {
  mechanism: string | null;
  scram: ScramServer | null;
  authenticated: boolean;
}

const _PRE_AUTH_APIS = new Set<number>([
  ApiKey.ApiVersions,
  ApiKey.SaslHandshake,
  ApiKey.SaslAuthenticate,
]);

/** Thrown by the gate when an unauthenticated connection sends something else. */
export class AuthenticationRequiredError extends Error {
  readonly code = "ILLEGAL_SASL_STATE";
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "AuthenticationRequiredError";
  }
}

/** Authenticates connections of SASL listeners. */
export class SaslAuthenticator {
  readonly #options: SaslAuthenticatorOptions;
  readonly #sessions = new WeakMap<ConnectionContext, _Session>();
  readonly #backoff: AuthBackoff;
  readonly #decoyKey: Uint8Array;

  /** An authenticator over `options.store`. */
  constructor(options: SaslAuthenticatorOptions) {
    this.#options = options;
    this.#backoff = new AuthBackoff({
      baseMs: options.failureDelayMs,
      maxMs: options.failureDelayMaxMs,
    });
    this.#decoyKey = options.randomBytes(32);
  }

  /** Addresses with recent failures (for tests and metrics). */
  get backoffEntries(): number {
    return this.#backoff.size;
  }

  /**
   * Wraps a listener's handler: until its connection authenticates, only ApiVersions and the
   * SASL APIs pass, and only in small frames; anything else closes the connection unanswered.
   */
  gate(handler: FrameHandler): FrameHandler {
    return (frame, conn) => {
      let session = this.#sessions.get(conn);
      if (session === undefined) {
        session = { mechanism: null, scram: null, authenticated: false };
        this.#sessions.set(conn, session);
      }
      if (!session.authenticated) {
        if (frame.length > this.#options.maxUnauthenticatedBytes) {
          throw new AuthenticationRequiredError(
            `Cannot accept a ${frame.length}-byte request before authentication: ` +
              `the limit is ${this.#options.maxUnauthenticatedBytes} bytes`,
          );
        }
        const apiKey = decodeRequestHeader(new Reader(frame)).apiKey;
        if (!_PRE_AUTH_APIS.has(apiKey)) {
          throw new AuthenticationRequiredError(
            `Cannot serve API key ${apiKey} before SASL authentication`,
          );
        }
      }
      return handler(frame, conn);
    };
  }

  /** The SaslHandshake and SaslAuthenticate routes, bound to this authenticator. */
  routes(): AnyRoute[] {
    const handshake: ApiRoute<SaslHandshakeRequest, SaslHandshakeResponse> = {
      apiKey: ApiKey.SaslHandshake,
      name: "SaslHandshake",
      // librdkafka looks for v0 in the range to detect SASL at all. A v0 client then sends raw
      // tokens, which the router refuses as malformed frames: only SaslAuthenticate is served.
      minVersion: 0,
      maxVersion: 1,
      advertised: true,
      decode: decodeSaslHandshakeRequest,
      encode: encodeSaslHandshakeResponse,
      handle: (req, ctx) => Promise.resolve(this.handshake(ctx.connection, req.mechanism)),
    };
    const authenticate: ApiRoute<SaslAuthenticateRequest, SaslAuthenticateResponse> = {
      apiKey: ApiKey.SaslAuthenticate,
      name: "SaslAuthenticate",
      minVersion: 0,
      maxVersion: 2,
      advertised: true,
      decode: decodeSaslAuthenticateRequest,
      encode: encodeSaslAuthenticateResponse,
      handle: (req, ctx) => this.authenticate(ctx.connection, req.authBytes),
    };
    return [anyRoute(handshake), anyRoute(authenticate)];
  }

  /** Answers a SaslHandshake: selects `mechanism` for the connection's next SaslAuthenticate. */
  handshake(conn: ConnectionContext, mechanism: string): SaslHandshakeResponse {
    const res = createSaslHandshakeResponse();
    const session = this.#sessions.get(conn);
    if (session === undefined || session.authenticated || session.mechanism !== null) {
      // Not a SASL listener, or a second handshake: Kafka closes the connection too.
      res.errorCode = ErrorCode.ILLEGAL_SASL_STATE;
      res.mechanisms = session === undefined ? [] : [...this.#options.mechanisms];
      conn.closeAfterResponse = true;
      return res;
    }
    res.mechanisms = [...this.#options.mechanisms];
    if (!this.#options.mechanisms.includes(mechanism)) {
      res.errorCode = ErrorCode.UNSUPPORTED_SASL_MECHANISM;
      conn.closeAfterResponse = true;
      return res;
    }
    session.mechanism = mechanism;
    if (mechanism !== "PLAIN") {
      session.scram = new ScramServer(
        mechanism as ScramMechanism,
        (user) => this.#options.store.credential(user, mechanism as ScramMechanism),
        { nonce: () => _nonce(this.#options.randomBytes(18)), decoy: (u) => this.#decoy(u) },
      );
    }
    return res;
  }

  /** Answers one SaslAuthenticate round trip. */
  async authenticate(
    conn: ConnectionContext,
    authBytes: Uint8Array,
  ): Promise<SaslAuthenticateResponse> {
    const res = createSaslAuthenticateResponse();
    const session = this.#sessions.get(conn);
    if (session === undefined || session.mechanism === null || session.authenticated) {
      res.errorCode = ErrorCode.ILLEGAL_SASL_STATE;
      res.errorMessage = "SaslAuthenticate must follow a successful SaslHandshake";
      conn.closeAfterResponse = true;
      return res;
    }
    try {
      const user = session.scram === null
        ? await this.#plain(authBytes)
        : this.#scramStep(session.scram, authBytes, res);
      if (user === null) return res;
      session.authenticated = true;
      conn.principal = `User:${user}`;
      this.#backoff.succeed(conn.remoteAddr.hostname);
      conn.logger.info("SASL authentication succeeded", {
        principal: conn.principal,
        mechanism: session.mechanism,
      });
      return res;
    } catch (error) {
      if (!(error instanceof ScramError)) throw error;
      const delayMs = this.#backoff.fail(conn.remoteAddr.hostname, this.#options.clock.nowMs());
      // The reason goes to the log and the client; the credentials themselves never do.
      conn.logger.warn("SASL authentication failed", {
        mechanism: session.mechanism,
        reason: error.message,
        delayMs,
      });
      if (delayMs > 0) await sleep(this.#options.clock, delayMs);
      res.errorCode = ErrorCode.SASL_AUTHENTICATION_FAILED;
      res.errorMessage = error.message;
      res.authBytes = new Uint8Array(0);
      conn.closeAfterResponse = true;
      return res;
    }
  }

  /** One SCRAM step; returns the user once the exchange is complete, else null. */
  #scramStep(
    scram: ScramServer,
    authBytes: Uint8Array,
    res: SaslAuthenticateResponse,
  ): string | null {
    const reply = scram.step(_utf8(authBytes));
    res.authBytes = new TextEncoder().encode(reply);
    return scram.done ? scram.user : null;
  }

  /** PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`, checked against SCRAM credentials. */
  async #plain(authBytes: Uint8Array): Promise<string> {
    const parts = _utf8(authBytes).split("\0");
    if (parts.length !== 3 || parts[1] === "") {
      throw new ScramError("Authentication failed: malformed PLAIN message");
    }
    const [authzid, user, password] = parts as [string, string, string];
    if (authzid !== "" && authzid !== user) {
      throw new ScramError("Authentication failed: authorization id must match the user");
    }
    for (const mechanism of ["SCRAM-SHA-512", "SCRAM-SHA-256"] as const) {
      const cred = this.#options.store.credential(user, mechanism);
      if (cred === null) continue;
      if (await verifyPassword(mechanism, password, cred)) return user;
      break;
    }
    throw new ScramError("Authentication failed: invalid username or password");
  }

  #decoy(user: string): ScramCredential {
    const salt = new Uint8Array(createHmac("sha256", this.#decoyKey).update(user).digest());
    return { salt, iterations: 4096, storedKey: new Uint8Array(64), serverKey: new Uint8Array(64) };
  }
}

function _utf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ScramError("Authentication failed: the SASL message is not UTF-8");
  }
}

function _nonce(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  // Base64 without commas is a valid printable nonce.
  return btoa(s);
}
