/**
 * Broker-to-broker authentication on the replication port, with Kafka's own SASL frames: the
 * follower opens each connection to a leader with SaslHandshake v1 (PLAIN) and SaslAuthenticate
 * v1 carrying `\0broker-<id>\0<cluster secret>`, as a Kafka broker does on a SASL inter-broker
 * listener. Until that succeeds the leader serves nothing else on the connection; a wrong or
 * missing secret is answered with SASL_AUTHENTICATION_FAILED (or, for any other request, a
 * close) and logged. An authenticated follower acts as the principal `Broker:<id>`, which no
 * client login can produce (SASL and mTLS give `User:` principals), and which the authorizer
 * treats as the cluster itself (ClusterAction and everything else).
 *
 * See ops/cluster_secret.ts for why a shared secret.
 *
 * @module
 */

import { Reader, Writer } from "../../protocol/kafka/wire.ts";
import {
  decodeRequestHeader,
  decodeResponseHeader,
  encodeRequestHeader,
  encodeResponseHeader,
} from "../../protocol/kafka/header.ts";
import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  createSaslAuthenticateResponse,
  decodeSaslAuthenticateRequest,
  decodeSaslAuthenticateResponse,
  encodeSaslAuthenticateRequest,
  encodeSaslAuthenticateResponse,
} from "../../protocol/kafka/messages/sasl_authenticate.ts";
import {
  createSaslHandshakeResponse,
  decodeSaslHandshakeRequest,
  decodeSaslHandshakeResponse,
  encodeSaslHandshakeRequest,
  encodeSaslHandshakeResponse,
} from "../../protocol/kafka/messages/sasl_handshake.ts";
import type { ClusterSecret } from "../../ops/cluster_secret.ts";
import type { InternalTls } from "../../ops/internal_tls.ts";
import type { Transport } from "../../protocol/transport/mod.ts";
import { connect as connectTransport } from "../../protocol/transport/connect.ts";
import type { ConnectionContext, FrameHandler } from "../net/frame_handler.ts";

/** The principal type of an authenticated cluster peer. */
export const CLUSTER_PEER_PRINCIPAL_PREFIX = "Broker:";

/** Whether `principal` was given by cluster authentication (never by a client login). */
export function isClusterPeerPrincipal(principal: string): boolean {
  return principal.startsWith(CLUSTER_PEER_PRINCIPAL_PREFIX);
}

/** The only versions the follower sends, and so the only ones the gate takes. */
const _HANDSHAKE_VERSION = 1;
const _AUTHENTICATE_VERSION = 1;
/** Frames before authentication are a handshake or a ~1 KiB token; anything bigger is refused. */
const _PRE_AUTH_FRAME_BYTES_MAX = 4096;
const _MECHANISM = "PLAIN";

/** A replication connection did not present the cluster secret; the connection is closed. */
export class ClusterAuthenticationError extends Error {
  /** Stable name of the condition. */
  readonly code = "CLUSTER_AUTHENTICATION_FAILED";
  override name = "ClusterAuthenticationError";
}

type _State = "new" | "handshaken" | "authenticated";

/**
 * Wraps the replication listener's handler: a connection must authenticate with the cluster
 * secret before any other request reaches `handler`.
 */
export function replicationAuthGate(handler: FrameHandler, secret: ClusterSecret): FrameHandler {
  const states = new WeakMap<ConnectionContext, _State>();
  return (frame, conn) => {
    const state = states.get(conn) ?? "new";
    if (state === "authenticated") return handler(frame, conn);
    if (frame.length > _PRE_AUTH_FRAME_BYTES_MAX) {
      return _refuse(conn, `sent a ${frame.length}-byte request before authenticating`);
    }
    const r = new Reader(frame);
    const header = decodeRequestHeader(r);
    if (state === "new" && header.apiKey === ApiKey.SaslHandshake) {
      if (header.apiVersion !== _HANDSHAKE_VERSION) {
        return _refuse(conn, `sent SaslHandshake v${header.apiVersion}`);
      }
      const req = decodeSaslHandshakeRequest(r, header.apiVersion);
      const res = createSaslHandshakeResponse();
      res.mechanisms = [_MECHANISM];
      if (req.mechanism !== _MECHANISM) {
        res.errorCode = ErrorCode.UNSUPPORTED_SASL_MECHANISM;
        conn.closeAfterResponse = true;
      } else {
        states.set(conn, "handshaken");
      }
      return Promise.resolve(
        _response(header, (w) => encodeSaslHandshakeResponse(w, res, header.apiVersion)),
      );
    }
    if (
      state === "handshaken" && header.apiKey === ApiKey.SaslAuthenticate &&
      header.apiVersion === _AUTHENTICATE_VERSION
    ) {
      const req = decodeSaslAuthenticateRequest(r, header.apiVersion);
      const peer = _checkPlain(req.authBytes, secret);
      const res = createSaslAuthenticateResponse();
      if (peer === null) {
        conn.logger.warn("refused a replication peer: wrong cluster secret", {
          remote: conn.remoteAddr.hostname,
        });
        res.errorCode = ErrorCode.SASL_AUTHENTICATION_FAILED;
        res.errorMessage = "Cannot replicate as the cluster secret is wrong: set " +
          "security.cluster_secret_file to this cluster's secret";
        conn.closeAfterResponse = true;
      } else {
        states.set(conn, "authenticated");
        conn.principal = `${CLUSTER_PEER_PRINCIPAL_PREFIX}${peer}`;
      }
      return Promise.resolve(
        _response(header, (w) => encodeSaslAuthenticateResponse(w, res, header.apiVersion)),
      );
    }
    return _refuse(conn, `sent API key ${header.apiKey} before authenticating`);
  };
}

function _refuse(conn: ConnectionContext, what: string): Promise<never> {
  conn.logger.warn("refused an unauthenticated replication peer", {
    remote: conn.remoteAddr.hostname,
    reason: `it ${what}; brokers must set security.cluster_secret_file`,
  });
  return Promise.reject(
    new ClusterAuthenticationError(`Cannot serve a replication peer that ${what}`),
  );
}

/** The broker name of a PLAIN token whose password is the secret, or null. */
function _checkPlain(token: Uint8Array, secret: ClusterSecret): string | null {
  const parts = new TextDecoder().decode(token).split("\0");
  if (parts.length !== 3) return null;
  const [, user, password] = parts as [string, string, string];
  if (!secret.matches(password)) return null;
  return /^broker-\d{1,10}$/.test(user) ? user : null;
}

function _response(
  header: { apiKey: number; apiVersion: number; correlationId: number },
  body: (w: Writer) => void,
): Uint8Array {
  const w = new Writer({ initialBytes: 256 });
  encodeResponseHeader(w, header.apiKey, header.apiVersion, header.correlationId);
  body(w);
  return w.finish();
}

/**
 * Authenticates a fresh connection to a leader's replication port as broker `nodeId`. Throws
 * {@linkcode ClusterAuthenticationError} (with the leader's reason) when it is refused.
 */
export async function authenticateReplicaConnection(
  transport: Transport,
  nodeId: number,
  secret: ClusterSecret,
  timeoutMs: number,
): Promise<void> {
  const clientId = `rustmq-replica-${nodeId}`;
  const hs = await _call(transport, ApiKey.SaslHandshake, _HANDSHAKE_VERSION, clientId, timeoutMs, (
    w,
  ) => encodeSaslHandshakeRequest(w, { mechanism: _MECHANISM }, _HANDSHAKE_VERSION));
  const hsRes = decodeSaslHandshakeResponse(hs, _HANDSHAKE_VERSION);
  if (hsRes.errorCode !== ErrorCode.NONE) {
    throw new ClusterAuthenticationError(
      `Cannot authenticate to the leader as it refused SASL ${_MECHANISM} (error ${hsRes.errorCode})`,
    );
  }
  const token = new TextEncoder().encode(`\0broker-${nodeId}\0${secret.reveal()}`);
  const au = await _call(
    transport,
    ApiKey.SaslAuthenticate,
    _AUTHENTICATE_VERSION,
    clientId,
    timeoutMs,
    (w) => encodeSaslAuthenticateRequest(w, { authBytes: token }, _AUTHENTICATE_VERSION),
  );
  const auRes = decodeSaslAuthenticateResponse(au, _AUTHENTICATE_VERSION);
  if (auRes.errorCode !== ErrorCode.NONE) {
    throw new ClusterAuthenticationError(
      `Cannot replicate from the leader as it refused this broker's cluster secret: ${
        auRes.errorMessage ?? `error ${auRes.errorCode}`
      }`,
    );
  }
}

async function _call(
  transport: Transport,
  apiKey: number,
  apiVersion: number,
  clientId: string,
  timeoutMs: number,
  body: (w: Writer) => void,
): Promise<Reader> {
  const w = new Writer({ initialBytes: 256 });
  encodeRequestHeader(w, { apiKey, apiVersion, correlationId: 1, clientId });
  body(w);
  const payload = await transport.request(w.finish(), { expectResponse: true, timeoutMs });
  if (payload === null) {
    throw new ClusterAuthenticationError(
      "Cannot authenticate to the leader as it closed the connection (is its cluster secret set?)",
    );
  }
  const r = new Reader(payload);
  decodeResponseHeader(r, apiKey, apiVersion);
  return r;
}

/**
 * Opens a follower's connection to a leader's replication `url`, authenticated when the cluster
 * has a secret. A refused connection is closed and the error thrown, so the fetcher backs off and
 * logs it like any lost leader connection.
 */
export async function connectReplica(
  url: string,
  nodeId: number,
  secret: ClusterSecret | null,
  timeoutMs = 5000,
  tls: InternalTls | null = null,
): Promise<Transport> {
  // Leaders advertise tcp:// replication endpoints; with internal TLS every member's
  // replication port speaks mutual TLS, so the follower dials TLS and shows its certificate.
  const transport = tls === null
    ? await connectTransport(url, { connectTimeoutMs: timeoutMs })
    : await connectTransport(url.replace(/^tcp:\/\//, "tls://"), {
      connectTimeoutMs: timeoutMs,
      caCerts: [tls.caPem],
      clientCertificate: { cert: tls.certPem, key: tls.keyPem },
    });
  if (secret === null) return transport;
  try {
    await authenticateReplicaConnection(transport, nodeId, secret, timeoutMs);
  } catch (err) {
    transport.close();
    throw err;
  }
  return transport;
}
