/**
 * The controller's gRPC services, defined in code (no `.proto` read at run time, so a compiled
 * binary is whole). Every message is UTF-8 JSON of an object carrying `v: 1`; the version is
 * checked when a message is decoded, so a later format can be told apart.
 *
 * ```
 * service RaftService   (raft_listen, controller <-> controller)
 *   Send(RaftBatch{v, from, messages[]})            -> Ack{v}
 *   Forward(ForwardRequest{v, kind, ...})           -> ForwardReply{v, ok, value|error, index}
 * service BrokerService (rpc_listen, broker -> controller)
 *   Register(RegisterRequest)                       -> RegisterReply{v, brokerEpoch, leaseMs, clusterId}
 *   Heartbeat(HeartbeatRequest{v, nodeId, brokerEpoch, load?}) -> HeartbeatReply{v, leaseMs}
 *   GetMetadata(Empty{v})                           -> MetadataImage{v, index, state}
 *   WatchMetadata(WatchRequest{v})                  -> stream WatchEvent{v, type: image|delta, ...}
 *   AlterIsr(AlterIsrRequest)                       -> Reply{v, ok, value|error, index}
 *   Propose(ProposeRequest{v, cmd})                 -> Reply{v, ok, value|error, index}
 *   GetWasmModule(Request{v, sha256})               -> Reply{v, ok, value{bytesBase64}|error, index}
 * ```
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { isIP } from "node:net";
import { checkServerIdentity } from "node:tls";
import type { InternalTls } from "../../ops/internal_tls.ts";

/** Largest gRPC message either side accepts: a metadata snapshot must fit. */
export const GRPC_MESSAGE_BYTES_MAX = 256 * 1024 * 1024;

const _enc = new TextEncoder();
const _dec = new TextDecoder();

/** Encodes a versioned message as JSON. */
export function encodeJson(value: unknown): Buffer {
  return Buffer.from(_enc.encode(JSON.stringify(value)));
}

/** Decodes a JSON message and checks its version. */
export function decodeJson(bytes: Buffer): unknown {
  const value = JSON.parse(_dec.decode(bytes));
  if (typeof value !== "object" || value === null || (value as { v?: unknown }).v !== 1) {
    throw new RangeError(
      `Cannot decode a message as its version must be 1: current value is ${
        (value as { v?: unknown })?.v
      }`,
    );
  }
  return value;
}

function _method(
  service: string,
  name: string,
  responseStream = false,
): grpc.MethodDefinition<unknown, unknown> {
  return {
    path: `/rustmq.controller.v1.${service}/${name}`,
    requestStream: false,
    responseStream,
    requestSerialize: encodeJson,
    requestDeserialize: decodeJson,
    responseSerialize: encodeJson,
    responseDeserialize: decodeJson,
  };
}

/** Raft traffic between controllers. */
export const RAFT_SERVICE: grpc.ServiceDefinition = {
  Send: _method("RaftService", "Send"),
  Forward: _method("RaftService", "Forward"),
};

/** The API brokers (and tools) use. */
export const BROKER_SERVICE: grpc.ServiceDefinition = {
  Register: _method("BrokerService", "Register"),
  Heartbeat: _method("BrokerService", "Heartbeat"),
  GetMetadata: _method("BrokerService", "GetMetadata"),
  WatchMetadata: _method("BrokerService", "WatchMetadata", true),
  AlterIsr: _method("BrokerService", "AlterIsr"),
  Propose: _method("BrokerService", "Propose"),
  GetWasmModule: _method("BrokerService", "GetWasmModule"),
};

/** Channel options for every controller client: fast reconnects, big messages. */
export const GRPC_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.max_receive_message_length": GRPC_MESSAGE_BYTES_MAX,
  "grpc.max_send_message_length": GRPC_MESSAGE_BYTES_MAX,
  // A restarted peer must be reachable again within a fraction of an election timeout.
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.min_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1000,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
};

/** Generic client constructors for the two services. */
export const RaftServiceClient = grpc.makeGenericClientConstructor(RAFT_SERVICE, "RaftService");
export const BrokerServiceClient = grpc.makeGenericClientConstructor(
  BROKER_SERVICE,
  "BrokerService",
);

/** Calls a unary method on a generic client, with a deadline. */
export function unaryCall<T>(
  client: grpc.Client,
  method: string,
  request: unknown,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!;
    fn.call(
      client,
      request,
      { deadline: Date.now() + timeoutMs },
      (err: grpc.ServiceError | null, reply: T) => (err ? reject(err) : resolve(reply)),
    );
  });
}

/**
 * Server credentials: mutual TLS with `tls` (the caller's certificate must chain to its CA),
 * plaintext without (`security.internal_tls_*` unset).
 */
export function serverCredentials(tls: InternalTls | null): grpc.ServerCredentials {
  if (tls === null) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    Buffer.from(tls.caPem),
    [{ cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) }],
    true,
  );
}

/** Credentials and channel options for a client of `address` (`host:port`). */
export interface ChannelSecurity {
  readonly credentials: grpc.ChannelCredentials;
  readonly options: grpc.ChannelOptions;
}

// The SNI name sent to a peer dialled by IP address (see channelSecurity).
const _IP_PEER_SNI = "rustmq-peer";

/**
 * Channel credentials: with `tls`, verify the server against its CA and host name and present
 * this node's certificate; plaintext without. Deno's node:tls refuses an IP address as the SNI
 * server name, which grpc-js sends for a peer dialled by IP, so such a peer gets a fixed SNI
 * name and its certificate is checked against the IP address itself (its IP SAN) instead.
 */
export function channelSecurity(tls: InternalTls | null, address: string): ChannelSecurity {
  if (tls === null) return { credentials: grpc.credentials.createInsecure(), options: {} };
  const host = parseHostPort(address).host;
  const byIp = isIP(host) !== 0;
  const credentials = grpc.credentials.createSsl(
    Buffer.from(tls.caPem),
    Buffer.from(tls.keyPem),
    Buffer.from(tls.certPem),
    byIp ? { checkServerIdentity: (_sni, cert) => checkServerIdentity(host, cert) } : {},
  );
  return {
    credentials,
    options: byIp ? { "grpc.ssl_target_name_override": _IP_PEER_SNI } : {},
  };
}

/**
 * Binds a gRPC server to `host:port` (port 0 picks one) and returns the bound port; with `tls`
 * the port speaks mutual TLS only.
 */
export function bindServer(
  server: grpc.Server,
  address: string,
  tls: InternalTls | null = null,
): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(
      address,
      serverCredentials(tls),
      (err, port) => (err ? reject(err) : resolve(port)),
    )
  );
}

/** Splits `host:port`, accepting `[v6]:port`. */
export function parseHostPort(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(address.trim());
  const port = m ? Number(m[2]) : NaN;
  if (m === null || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Cannot parse address '${address}': expected host:port`);
  }
  return { host: m[1]!, port };
}
