/**
 * An in-process network of controllers, for tests: messages are delivered on a later macrotask
 * (never re-entrantly), and a node can be cut off to model a crash or a partition.
 *
 * @module
 */

import type { NodeId, RaftMessage } from "../raft/mod.ts";
import type {
  ForwardReply,
  ForwardRequest,
  PeerStatus,
  RaftTransport,
  RaftTransportHandler,
} from "./raft_transport.ts";

/** The shared medium; each node gets its transport from {@linkcode MemoryNetwork.transport}. */
export class MemoryNetwork {
  readonly #handlers = new Map<NodeId, RaftTransportHandler>();
  readonly #down = new Set<NodeId>();

  /** The transport of node `id`. */
  transport(id: NodeId, peers: readonly NodeId[]): RaftTransport {
    return new _MemoryTransport(this, id, peers.filter((p) => p !== id));
  }

  /** Cuts `id` off: nothing reaches it and nothing it sends arrives. */
  down(id: NodeId): void {
    this.#down.add(id);
  }

  /** Reconnects `id`. */
  up(id: NodeId): void {
    this.#down.delete(id);
  }

  /** @internal */
  register(id: NodeId, handler: RaftTransportHandler): void {
    this.#handlers.set(id, handler);
  }

  /** @internal */
  deliver(from: NodeId, m: RaftMessage): void {
    setTimeout(() => {
      if (this.#down.has(from) || this.#down.has(m.to)) return;
      this.#handlers.get(m.to)?.onMessage(m);
    }, 0);
  }

  /** @internal */
  async forward(from: NodeId, to: NodeId, request: ForwardRequest): Promise<ForwardReply> {
    await new Promise((r) => setTimeout(r, 0));
    const h = this.#handlers.get(to);
    if (h === undefined || this.#down.has(from) || this.#down.has(to)) {
      return { v: 1, ok: false, error: { code: "UNAVAILABLE", message: `${to} is unreachable` } };
    }
    return await h.onForward(structuredClone(request));
  }
}

class _MemoryTransport implements RaftTransport {
  readonly #net: MemoryNetwork;
  readonly #id: NodeId;
  readonly #peers: NodeId[];
  #closed = false;

  constructor(net: MemoryNetwork, id: NodeId, peers: NodeId[]) {
    this.#net = net;
    this.#id = id;
    this.#peers = peers;
  }

  setHandler(handler: RaftTransportHandler): void {
    this.#net.register(this.#id, handler);
  }

  send(messages: readonly RaftMessage[]): void {
    if (this.#closed) return;
    for (const m of messages) this.#net.deliver(this.#id, structuredClone(m));
  }

  forward(to: NodeId, request: ForwardRequest): Promise<ForwardReply> {
    return this.#net.forward(this.#id, to, request);
  }

  peers(): PeerStatus[] {
    return this.#peers.map((id) => ({ id, address: `memory:${id}`, lastHeardAgoMs: null }));
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#net.down(this.#id);
    return Promise.resolve();
  }
}
