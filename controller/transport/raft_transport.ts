/**
 * What a controller needs from the network between controllers: best-effort delivery of Raft
 * messages, and request/reply forwarding of client work to the leader. The gRPC implementation
 * is {@linkcode GrpcRaftTransport}; a single-voter controller uses {@linkcode LoopbackTransport}.
 *
 * @module
 */

import type { NodeId, RaftMessage } from "../raft/mod.ts";
import type { MetadataCommand } from "../metadata/commands.ts";
import type { WireError } from "../metadata/errors.ts";

/** Work a follower hands to the leader. */
export type ForwardRequest =
  | { v: 1; kind: "propose"; cmd: MetadataCommand; key?: string }
  | { v: 1; kind: "read_index" }
  | { v: 1; kind: "heartbeat"; nodeId: number; brokerEpoch: number; load?: unknown };

/** The leader's answer; `index` is the log index the result is visible at. */
export type ForwardReply =
  | { v: 1; ok: true; value: unknown; index: number }
  | { v: 1; ok: false; error: WireError };

/** Handlers the transport calls for traffic that arrives. */
export interface RaftTransportHandler {
  onMessage(m: RaftMessage): void;
  onForward(request: ForwardRequest): Promise<ForwardReply>;
}

/** Reachability of one peer as this node sees it. */
export interface PeerStatus {
  id: NodeId;
  address: string;
  /** Milliseconds since something last arrived from it, or null if nothing ever did. */
  lastHeardAgoMs: number | null;
}

/** How a closing gRPC endpoint (Raft transport, broker service) treats its connections. */
export interface CloseOptions {
  /**
   * The process exits right after: leave the connections for the exit to drop instead of
   * shutting the gRPC server and channels down. A shutdown sends HTTP/2 GOAWAY, and Deno 2.9.6
   * aborts a process that receives one on a session with no open stream (denoland/deno#36788:
   * the `find_stream_on_goaway_func` assertion, or a silent SIGSEGV). A peer's Raft channel is
   * between two calls most of the time, so a graceful stop killed a peer controller in most
   * tries; a dropped connection is what a SIGKILL leaves, which peers reconnect after.
   */
  readonly processExit?: boolean;
}

/** The controller-to-controller network. */
export interface RaftTransport {
  /** Installs the receiving side; called once before traffic flows. */
  setHandler(handler: RaftTransportHandler): void;
  /** Sends messages, best effort: Raft tolerates loss, so a full queue drops. */
  send(messages: readonly RaftMessage[]): void;
  /** Forwards `request` to `to` and resolves with its reply. */
  forward(to: NodeId, request: ForwardRequest, timeoutMs: number): Promise<ForwardReply>;
  /** Reachability of each peer. */
  peers(): PeerStatus[];
  /** Stops sending and serving. */
  close(options?: CloseOptions): Promise<void>;
}

/** The transport of a controller that is the only voter: nothing to send, no one to forward to. */
export class LoopbackTransport implements RaftTransport {
  setHandler(_handler: RaftTransportHandler): void {}
  send(_messages: readonly RaftMessage[]): void {}
  forward(to: NodeId): Promise<ForwardReply> {
    return Promise.resolve({
      v: 1,
      ok: false,
      error: { code: "UNAVAILABLE", message: `Cannot forward as peer ${to} is unknown` },
    });
  }
  peers(): PeerStatus[] {
    return [];
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
