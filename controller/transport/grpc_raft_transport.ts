/**
 * Raft between controllers over gRPC (`RaftService` on `raft_listen`). Each peer has one bounded
 * outbound queue and at most one `Send` call in flight; whatever queued meanwhile goes in the
 * next call, so messages to one peer keep their order. A failed call drops its batch: Raft
 * retransmits, and a bounded queue is how backpressure shows up as loss, which Raft tolerates.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type { NodeId, RaftMessage } from "../raft/mod.ts";
import type { Logger } from "../../ops/logger.ts";
import type { ClusterSecret } from "../../ops/cluster_secret.ts";
import type { InternalTls } from "../../ops/internal_tls.ts";
import { clientInterceptors, serverInterceptors } from "./cluster_auth.ts";
import {
  bindServer,
  channelSecurity,
  GRPC_CHANNEL_OPTIONS,
  GRPC_MESSAGE_BYTES_MAX,
  RAFT_SERVICE,
  RaftServiceClient,
  unaryCall,
} from "./grpc_codec.ts";
import type {
  CloseOptions,
  ForwardReply,
  ForwardRequest,
  PeerStatus,
  RaftTransport,
  RaftTransportHandler,
} from "./raft_transport.ts";

/** Options of {@linkcode GrpcRaftTransport.start}. */
export interface GrpcRaftTransportOptions {
  selfId: NodeId;
  /** Where to listen, `host:port` (port 0 picks one). */
  listen: string;
  /** Every other voter's `raft_listen` address. */
  peers: Readonly<Record<NodeId, string>>;
  logger: Logger;
  /** Messages queued per peer at most. @default 4096 */
  queueMessagesMax?: number;
  /** Messages per `Send` call at most. @default 256 */
  batchMessagesMax?: number;
  /** Deadline of one `Send` call. @default 2000 */
  sendTimeoutMs?: number;
  /** Presented to peers and required of them (`security.cluster_secret_file`). @default null */
  clusterSecret?: ClusterSecret | null;
  /** Mutual TLS with peers (`security.internal_tls_*`). @default null (plaintext) */
  tls?: InternalTls | null;
}

interface _Peer {
  id: NodeId;
  address: string;
  client: grpc.Client;
  queue: RaftMessage[];
  inFlight: boolean;
  lastHeardMs: number | null;
  failures: number;
}

interface _Batch {
  v: 1;
  from: NodeId;
  messages: RaftMessage[];
}

/** The gRPC Raft transport. */
export class GrpcRaftTransport implements RaftTransport {
  readonly #selfId: NodeId;
  readonly #server: grpc.Server;
  readonly #peers = new Map<NodeId, _Peer>();
  readonly #log: Logger;
  readonly #queueMax: number;
  readonly #batchMax: number;
  readonly #sendTimeoutMs: number;
  #handler: RaftTransportHandler | null = null;
  #port = 0;
  #closed = false;

  private constructor(options: GrpcRaftTransportOptions) {
    this.#selfId = options.selfId;
    this.#log = options.logger;
    this.#queueMax = options.queueMessagesMax ?? 4096;
    this.#batchMax = options.batchMessagesMax ?? 256;
    this.#sendTimeoutMs = options.sendTimeoutMs ?? 2000;
    const secret = options.clusterSecret ?? null;
    this.#server = new grpc.Server({
      "grpc.max_receive_message_length": GRPC_MESSAGE_BYTES_MAX,
      "grpc.max_send_message_length": GRPC_MESSAGE_BYTES_MAX,
      ...serverInterceptors(secret, options.logger, "Raft"),
    });
    for (const [id, address] of Object.entries(options.peers)) {
      if (id === options.selfId) continue;
      const channel = channelSecurity(options.tls ?? null, address);
      const client = new RaftServiceClient(
        address,
        channel.credentials,
        { ...GRPC_CHANNEL_OPTIONS, ...channel.options, ...clientInterceptors(secret) },
      );
      this.#peers.set(id, {
        id,
        address,
        client,
        queue: [],
        inFlight: false,
        lastHeardMs: null,
        failures: 0,
      });
    }
  }

  /** Starts listening. */
  static async start(options: GrpcRaftTransportOptions): Promise<GrpcRaftTransport> {
    const t = new GrpcRaftTransport(options);
    t.#server.addService(RAFT_SERVICE, {
      Send: (call: grpc.ServerUnaryCall<_Batch, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        t.#onSend(call.request, cb),
      Forward: (
        call: grpc.ServerUnaryCall<ForwardRequest, ForwardReply>,
        cb: grpc.sendUnaryData<ForwardReply>,
      ) => t.#onForward(call.request, cb),
    });
    t.#port = await bindServer(t.#server, options.listen, options.tls ?? null);
    return t;
  }

  /** The port bound. */
  get port(): number {
    return this.#port;
  }

  setHandler(handler: RaftTransportHandler): void {
    this.#handler = handler;
  }

  send(messages: readonly RaftMessage[]): void {
    if (this.#closed) return;
    for (const m of messages) {
      const peer = this.#peers.get(m.to);
      if (peer === undefined || peer.queue.length >= this.#queueMax) continue;
      peer.queue.push(m);
    }
    for (const peer of this.#peers.values()) this.#flush(peer);
  }

  async forward(to: NodeId, request: ForwardRequest, timeoutMs: number): Promise<ForwardReply> {
    const peer = this.#peers.get(to);
    if (peer === undefined || this.#closed) {
      return { v: 1, ok: false, error: { code: "UNAVAILABLE", message: `Unknown peer ${to}` } };
    }
    try {
      return await unaryCall<ForwardReply>(peer.client, "Forward", request, timeoutMs);
    } catch (err) {
      const e = err as grpc.ServiceError;
      return {
        v: 1,
        ok: false,
        error: {
          code: "UNAVAILABLE",
          message: `Cannot reach leader ${to} at ${peer.address}: ${e.details ?? e.message}`,
        },
      };
    }
  }

  peers(): PeerStatus[] {
    const now = performance.now();
    return [...this.#peers.values()].map((p) => ({
      id: p.id,
      address: p.address,
      lastHeardAgoMs: p.lastHeardMs === null ? null : Math.round(now - p.lastHeardMs),
    }));
  }

  async close(options: CloseOptions = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // No GOAWAY to the peers: the exit drops the connections (CloseOptions).
    if (options.processExit === true) return;
    for (const p of this.#peers.values()) p.client.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, 1000);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #flush(peer: _Peer): void {
    if (peer.inFlight || peer.queue.length === 0 || this.#closed) return;
    const messages = peer.queue.splice(0, this.#batchMax);
    peer.inFlight = true;
    const batch: _Batch = { v: 1, from: this.#selfId, messages };
    unaryCall(peer.client, "Send", batch, this.#sendTimeoutMs).then(
      () => {
        peer.failures = 0;
      },
      (err: grpc.ServiceError) => {
        // Logged once per outage, not once per heartbeat.
        if (peer.failures++ === 0) {
          this.#log.warn("cannot reach peer", { peer: peer.id, err: err.details ?? err.message });
        }
      },
    ).finally(() => {
      peer.inFlight = false;
      this.#flush(peer);
    });
  }

  #onSend(batch: _Batch, cb: grpc.sendUnaryData<unknown>): void {
    const peer = this.#peers.get(batch.from);
    if (peer !== undefined) peer.lastHeardMs = performance.now();
    if (this.#handler !== null && Array.isArray(batch.messages)) {
      for (const m of batch.messages) this.#handler.onMessage(m);
    }
    cb(null, { v: 1 });
  }

  #onForward(request: ForwardRequest, cb: grpc.sendUnaryData<ForwardReply>): void {
    if (this.#handler === null) {
      cb(null, { v: 1, ok: false, error: { code: "UNAVAILABLE", message: "Controller starting" } });
      return;
    }
    this.#handler.onForward(request).then((reply) => cb(null, reply), (err) => cb(err as Error));
  }
}
