/**
 * A tiny synchronous cluster for the Raft unit tests: FIFO delivery, directed link cuts, and
 * in-memory storage. The simulator is the randomized test; this one is for exact scenarios.
 *
 * @module
 */

import { RaftNode, type RaftNodeOptions } from "./node.ts";
import { SeededRandom } from "../../ops/random.ts";
import { MemoryStorage } from "./storage.ts";
import type { Entry, NodeId, PersistedState, RaftMessage, ReadState } from "./types.ts";

/** One node of a {@linkcode TestCluster}. */
export interface TestMember {
  raft: RaftNode;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
  bootstrapVoters: NodeId[];
}

/** Node options the tests may override. */
export type TestNodeOptions = Partial<Omit<RaftNodeOptions, "id" | "random" | "state">>;

/** A deterministic in-process cluster for unit tests. */
export class TestCluster {
  readonly members = new Map<NodeId, TestMember>();
  readonly queue: RaftMessage[] = [];
  /** Every message delivered, for assertions about traffic. */
  readonly delivered: RaftMessage[] = [];
  readonly #cut = new Set<string>();
  /** Drops every message for which it returns true, on top of the cut links. */
  dropIf: ((m: RaftMessage) => boolean) | null = null;
  readonly #options: TestNodeOptions;
  #seed = 1;

  constructor(
    ids: NodeId[],
    options: TestNodeOptions = {},
    states: Record<NodeId, PersistedState> = {},
  ) {
    this.#options = options;
    for (const id of ids) this.add(id, ids, states[id]);
  }

  add(id: NodeId, bootstrapVoters: NodeId[], state?: PersistedState): TestMember {
    const storage = new MemoryStorage(state);
    const member: TestMember = {
      raft: this.#makeNode(id, storage, bootstrapVoters),
      storage,
      applied: [],
      readStates: [],
      bootstrapVoters,
    };
    this.members.set(id, member);
    this.drive(id);
    return member;
  }

  node(id: NodeId): RaftNode {
    return this.members.get(id)!.raft;
  }

  /** Persists, then queues messages, then records applied entries, for every Ready of `id`. */
  drive(id: NodeId): void {
    const m = this.members.get(id)!;
    while (m.raft.hasReady()) {
      const rd = m.raft.ready();
      m.storage.write({ snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState });
      m.storage.sync();
      this.queue.push(...rd.messages);
      if (rd.snapshotToApply !== null) m.applied = [];
      m.applied.push(...rd.committedEntries);
      m.readStates.push(...rd.readStates);
      m.raft.advance(rd);
    }
  }

  /** Delivers queued messages (and those they cause) until none are left. */
  deliverAll(limit = 100_000): void {
    for (let n = 0; this.queue.length > 0; n++) {
      if (n >= limit) throw new Error("message storm: the queue never drained");
      const msg = this.queue.shift()!;
      if (this.#cut.has(`${msg.from}>${msg.to}`) || !this.members.has(msg.to)) continue;
      if (this.dropIf?.(msg)) continue;
      this.delivered.push(msg);
      this.node(msg.to).step(msg);
      this.drive(msg.to);
    }
  }

  /** Ticks the given nodes (all by default) `n` times, delivering after each tick. */
  tick(n: number, ids: NodeId[] = [...this.members.keys()]): void {
    for (let i = 0; i < n; i++) {
      for (const id of ids) {
        this.node(id).tick();
        this.drive(id);
      }
      this.deliverAll();
    }
  }

  /** Ticks only `id` until it leads (others just answer); fails after many ticks. */
  elect(id: NodeId): void {
    for (let i = 0; i < 200 && this.node(id).status().role !== "leader"; i++) this.tick(1, [id]);
    if (this.node(id).status().role !== "leader") throw new Error(`${id} did not become leader`);
    this.deliverAll();
  }

  /** Cuts every link to and from `id`. */
  isolate(id: NodeId): void {
    for (const other of this.members.keys()) {
      if (other === id) continue;
      this.#cut.add(`${id}>${other}`);
      this.#cut.add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.#cut.clear();
  }

  /** Proposes `count` commands on `leader` and delivers until they commit. */
  proposeMany(leader: NodeId, count: number, prefix = "cmd"): void {
    for (let i = 0; i < count; i++) {
      this.node(leader).propose(`${prefix}-${i}`);
      this.drive(leader);
      this.deliverAll();
    }
  }

  /** Restarts `id` from what its storage made durable. */
  restart(id: NodeId): void {
    const m = this.members.get(id)!;
    m.raft = this.#makeNode(id, m.storage, m.bootstrapVoters);
    m.applied = [];
    m.readStates = [];
    this.drive(id);
  }

  #makeNode(id: NodeId, storage: MemoryStorage, bootstrapVoters: NodeId[]): RaftNode {
    return new RaftNode({
      ...this.#options,
      id,
      random: new SeededRandom(this.#seed++),
      state: storage.loadSync(),
      bootstrapVoters,
    });
  }
}

/** Data of the normal, non-empty entries a member applied. */
export function appliedData(m: TestMember): string[] {
  return m.applied.filter((e) => e.kind === "normal" && e.data !== "").map((e) => e.data);
}
