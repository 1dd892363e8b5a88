/**
 * The controller driver: one {@linkcode RaftNode}, its durable storage, a transport and the
 * metadata state machine, run by a single event loop. Ticks, received messages, proposals and
 * reads are queued as events; the loop runs them against the node, then handles each Ready in
 * order (persist, then send, then apply) before it touches the node again, exactly as the
 * simulator drives it.
 *
 * Clients call {@linkcode ControllerNode.execute} on any controller: the leader proposes, a
 * follower forwards to the leader. Reads call {@linkcode ControllerNode.linearizableRead} first
 * (ReadIndex), then read the local state machine.
 *
 * @module
 */

import { type BrokerLoad, loadProblem } from "../model/broker_load.ts";
import { LoadBoard } from "./metadata/load_board.ts";
import {
  NotLeaderError,
  type RaftMessage,
  RaftNode,
  type RaftStatus,
  type RaftStorage,
  type Random,
  type Ready,
} from "./raft/mod.ts";
import {
  type CommandEnvelope,
  commandProblem,
  type MetadataCommand,
  REQUEST_KEY_CHARS_MAX,
} from "./metadata/commands.ts";
import { fromWireError, MetadataError, toWireError } from "./metadata/errors.ts";
import { LeaseTracker } from "./metadata/lease_tracker.ts";
import {
  type MetadataDelta,
  MetadataStateMachine,
  type MetadataStateMachineOptions,
} from "./metadata/state_machine.ts";
import type {
  CloseOptions,
  ForwardReply,
  ForwardRequest,
  PeerStatus,
  RaftTransport,
} from "./transport/raft_transport.ts";
import { type Clock, systemClock } from "../ops/clock.ts";
import type { Logger } from "../ops/logger.ts";

/** Options of {@linkcode ControllerNode.open}. */
export interface ControllerNodeOptions {
  id: string;
  /** The voters of a new cluster (ignored once storage holds a configuration). */
  voters: readonly string[];
  storage: RaftStorage;
  transport: RaftTransport;
  random: Random;
  logger: Logger;
  /**
   * The clock broker leases are measured with (tests freeze or jump it). Request deadlines use
   * real time, so a frozen test clock cannot hang a request. Only `monotonicMs` is read.
   * @default systemClock
   */
  clock?: Pick<Clock, "monotonicMs">;
  /** Milliseconds per Raft tick; the leader heartbeats every tick. @default 100 */
  tickMs?: number;
  /** Election timeout in ticks (randomised up to twice this). @default 10 */
  electionTicks?: number;
  /** Entries applied between snapshots. @default 10000 */
  snapshotEntries?: number;
  /** Broker lease; 0 disables lease checks (an embedded controller's own broker). @default 9000 */
  brokerLeaseMs?: number;
  /** Let a partition with no live ISR member elect any live replica. @default false */
  uncleanLeaderElection?: boolean;
  /** How long a proposal or read may wait. @default 10000 */
  requestTimeoutMs?: number;
  /** Events queued for the loop at most. @default 65536 */
  eventsMax?: number;
  stateMachine?: MetadataStateMachineOptions;
}

/** A command's outcome as the caller sees it. */
export interface ExecuteResult {
  /** The log index the change is visible at. */
  index: number;
  value: unknown;
}

interface _Pending {
  resolve(r: ExecuteResult): void;
  reject(e: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** The state of the node, for health reports. */
export interface ControllerStatus extends RaftStatus {
  peers: PeerStatus[];
}

/**
 * A running controller node.
 */
export class ControllerNode {
  readonly id: string;
  readonly sm: MetadataStateMachine;
  /** The brokers' latest load reports, kept while this node leads (from heartbeats). */
  readonly loads: LoadBoard = new LoadBoard();
  readonly #raft: RaftNode;
  readonly #storage: RaftStorage;
  readonly #transport: RaftTransport;
  readonly #log: Logger;
  readonly #clock: Pick<Clock, "monotonicMs">;
  readonly #tickMs: number;
  readonly #snapshotEntries: number;
  readonly #leases: LeaseTracker | null;
  readonly #unclean: boolean;
  readonly #timeoutMs: number;
  readonly #eventsMax: number;
  readonly #ridPrefix: string;
  #ridSeq = 0;
  #events: (() => void)[] = [];
  #pumping = false;
  #pumpDone: Promise<void> = Promise.resolve();
  #closed = false;
  #tickTimer: ReturnType<typeof setInterval> | null = null;
  #pending = new Map<string, _Pending>();
  #reads = new Map<string, _Pending>();
  #appliedWaiters: { index: number; resolve(): void; reject(e: Error): void }[] = [];
  #listeners = new Set<(delta: MetadataDelta) => void>();
  #wasLeader = false;
  #initInFlight = false;
  #fatal: Error | null = null;
  #onFatal: (err: Error) => void = () => {};
  readonly #failed: Promise<Error> = new Promise((resolve) => this.#onFatal = resolve);

  private constructor(options: ControllerNodeOptions, raft: RaftNode, sm: MetadataStateMachine) {
    this.id = options.id;
    this.#raft = raft;
    this.sm = sm;
    this.#storage = options.storage;
    this.#transport = options.transport;
    this.#log = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#tickMs = options.tickMs ?? 100;
    this.#snapshotEntries = options.snapshotEntries ?? 10_000;
    const leaseMs = options.brokerLeaseMs ?? 9000;
    this.#leases = leaseMs > 0 ? new LeaseTracker({ leaseMs }) : null;
    this.#unclean = options.uncleanLeaderElection ?? false;
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#eventsMax = options.eventsMax ?? 65_536;
    this.#ridPrefix = `${options.id}:${Math.floor(options.random.next() * 2 ** 32).toString(36)}:`;
  }

  /** Loads durable state and starts ticking. */
  static async open(options: ControllerNodeOptions): Promise<ControllerNode> {
    for (
      const [name, v] of [["tickMs", options.tickMs], ["snapshotEntries", options.snapshotEntries]]
    ) {
      if (v !== undefined && (!Number.isInteger(v) || (v as number) < 1)) {
        throw new RangeError(
          `Cannot open the controller as ${name} must be an integer >= 1: current value is ${v}`,
        );
      }
    }
    const state = await options.storage.load();
    const raft = new RaftNode({
      id: options.id,
      random: options.random,
      state,
      bootstrapVoters: options.voters,
      electionTicks: options.electionTicks ?? 10,
      heartbeatTicks: 1,
    });
    const node = new ControllerNode(options, raft, new MetadataStateMachine(options.stateMachine));
    options.transport.setHandler({
      onMessage: (m) => node.#onMessage(m),
      onForward: (r) => node.#onForward(r),
    });
    node.#tickTimer = setInterval(() => node.#enqueue(() => node.#tick()), node.#tickMs);
    node.#kick();
    return node;
  }

  /** The Raft status plus peer reachability. */
  status(): ControllerStatus {
    return { ...this.#raft.status(), peers: this.#transport.peers() };
  }

  /** The broker lease, or 0 when leases are off. */
  get brokerLeaseMs(): number {
    return this.#leases?.leaseMs ?? 0;
  }

  /** Set when the node stopped on an unrecoverable error (storage failure). */
  get fatalError(): Error | null {
    return this.#fatal;
  }

  /** Resolves with the error if the node ever stops on one; the process should then exit. */
  failed(): Promise<Error> {
    return this.#failed;
  }

  /** Calls `listener` with what each applied command changed. Returns an unsubscribe function. */
  onDelta(listener: (delta: MetadataDelta) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Runs a command through the log: proposes it on the leader, or forwards it there. Resolves
   * once it is applied locally, with its result; rejects with a {@linkcode MetadataError}
   * (`NOT_LEADER`/`NO_LEADER`/`TIMEOUT` are retriable) or with the state machine's refusal.
   * A `requestKey` makes retries safe: a command whose key was applied before is not applied
   * again, and the first outcome is returned.
   */
  async execute(
    cmd: MetadataCommand,
    options: { requestKey?: string } = {},
  ): Promise<ExecuteResult> {
    const problem = commandProblem(cmd) ?? _keyProblem(options.requestKey);
    if (problem !== null) throw new MetadataError("INVALID_REQUEST", `Invalid command: ${problem}`);
    const request: ForwardRequest = { v: 1, kind: "propose", cmd };
    if (options.requestKey !== undefined) request.key = options.requestKey;
    const reply = await this.#toLeader(request);
    await this.waitApplied(reply.index);
    return reply;
  }

  /** Waits until the local state reflects every write committed before the call (ReadIndex). */
  async linearizableRead(): Promise<void> {
    const reply = await this.#toLeader({ v: 1, kind: "read_index" });
    await this.waitApplied(reply.index);
  }

  /** Renews a broker's lease on the leader (forwarded when this node is not the leader). */
  async brokerHeartbeat(
    nodeId: number,
    brokerEpoch: number,
    load?: unknown,
  ): Promise<{ leaseMs: number }> {
    const reply = await this.#toLeader({
      v: 1,
      kind: "heartbeat",
      nodeId,
      brokerEpoch,
      ...(load === undefined ? {} : { load }),
    });
    return reply.value as { leaseMs: number };
  }

  /** Resolves once the local state machine has applied `index`. */
  waitApplied(index: number, timeoutMs = this.#timeoutMs): Promise<void> {
    if (this.sm.applied >= index) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        index,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.#appliedWaiters = this.#appliedWaiters.filter((w) => w !== waiter);
        reject(
          new MetadataError(
            "TIMEOUT",
            `Cannot serve the request as index ${index} was not applied within ${timeoutMs} ms: current value is ${this.sm.applied}`,
          ),
        );
      }, timeoutMs);
      this.#appliedWaiters.push(waiter);
    });
  }

  /** Hands leadership to `target` (for rolling restarts). */
  transferLeadership(target: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#enqueue(() => {
        try {
          this.#raft.transferLeadership(target);
          resolve();
        } catch (err) {
          reject(err);
        }
      })
    );
  }

  /**
   * Stops ticking and fails waiting requests; `options` go to the transport
   * ({@linkcode CloseOptions}). Storage is left as it is.
   */
  async close(options: CloseOptions = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#tickTimer !== null) clearInterval(this.#tickTimer);
    this.#failAll(
      new MetadataError("UNAVAILABLE", "Cannot serve the request as the controller is closing"),
    );
    // A Ready being persisted finishes first, so the directory is quiet once close resolves.
    await this.#pumpDone;
    await this.#transport.close(options);
  }

  // ---------------------------------------------------------------- routing

  /** Runs `request` on the leader, retrying across leader changes until the timeout. */
  async #toLeader(request: ForwardRequest): Promise<{ index: number; value: unknown }> {
    const deadline = performance.now() + this.#timeoutMs;
    let last: Error = new MetadataError(
      "NO_LEADER",
      "Cannot serve the request as no leader is known",
    );
    while (!this.#closed && performance.now() < deadline) {
      const status = this.#raft.status();
      let reply: ForwardReply;
      if (status.role === "leader") reply = await this.#onForward(request);
      else if (status.leaderId !== null && status.leaderId !== this.id) {
        const left = Math.max(1, deadline - performance.now());
        reply = await this.#transport.forward(status.leaderId, request, left);
      } else {
        await _sleep(Math.min(50, this.#tickMs));
        continue;
      }
      if (reply.ok) return reply;
      last = fromWireError(reply.error);
      // Leadership moved or the leader is unreachable: look again after a short pause.
      if (
        !["NOT_LEADER", "NO_LEADER", "UNAVAILABLE", "PROPOSAL_DROPPED"].includes(reply.error.code)
      ) {
        throw last;
      }
      await _sleep(Math.min(50, this.#tickMs));
    }
    if (this.#closed) {
      throw new MetadataError(
        "UNAVAILABLE",
        "Cannot serve the request as the controller is closing",
      );
    }
    throw new MetadataError(
      "NO_LEADER",
      `Cannot serve the request as no leader answered within ${this.#timeoutMs} ms: last error was ${last.message}`,
    );
  }

  /** Serves forwarded work; only the leader does, anyone else answers NOT_LEADER. */
  async #onForward(request: ForwardRequest): Promise<ForwardReply> {
    try {
      switch (request.kind) {
        case "propose": {
          const problem = commandProblem(request.cmd) ?? _keyProblem(request.key);
          if (problem !== null) {
            throw new MetadataError("INVALID_REQUEST", `Invalid command: ${problem}`);
          }
          const r = await this.#proposeLocal(request.cmd, request.key);
          return { v: 1, ok: true, value: r.value, index: r.index };
        }
        case "read_index":
          return { v: 1, ok: true, value: null, index: await this.#readIndexLocal() };
        case "heartbeat":
          return await this.#heartbeatLocal(request.nodeId, request.brokerEpoch, request.load);
        default:
          throw new MetadataError("INVALID_REQUEST", "Cannot serve an unknown forwarded request");
      }
    } catch (err) {
      return { v: 1, ok: false, error: toWireError(err) };
    }
  }

  #proposeLocal(cmd: MetadataCommand, key?: string): Promise<ExecuteResult> {
    return new Promise((resolve, reject) =>
      this.#enqueue(() => {
        const rid = this.#ridPrefix + (this.#ridSeq++).toString(36);
        const envelope: CommandEnvelope = { v: 1, rid, cmd };
        if (key !== undefined) envelope.key = key;
        try {
          this.#raft.propose(JSON.stringify(envelope));
        } catch (err) {
          reject(err);
          return;
        }
        const timer = setTimeout(() => {
          this.#pending.delete(rid);
          reject(
            new MetadataError(
              "TIMEOUT",
              `Cannot confirm command ${cmd.op} as it was not applied within ${this.#timeoutMs} ms`,
            ),
          );
        }, this.#timeoutMs);
        this.#pending.set(rid, { resolve, reject, timer });
      })
    );
  }

  #readIndexLocal(): Promise<number> {
    return new Promise((resolve, reject) =>
      this.#enqueue(() => {
        const context = this.#ridPrefix + "r" + (this.#ridSeq++).toString(36);
        try {
          this.#raft.readIndex(context);
        } catch (err) {
          reject(err);
          return;
        }
        const timer = setTimeout(() => {
          this.#reads.delete(context);
          reject(
            new MetadataError("TIMEOUT", `Cannot confirm leadership within ${this.#timeoutMs} ms`),
          );
        }, this.#timeoutMs);
        this.#reads.set(context, { resolve: (r) => resolve(r.index), reject, timer });
      })
    );
  }

  async #heartbeatLocal(nodeId: number, epoch: number, load?: unknown): Promise<ForwardReply> {
    const status = this.#raft.status();
    if (status.role !== "leader") throw new NotLeaderError(this.id, status.leaderId);
    const b = this.sm.broker(nodeId);
    if (b === undefined) {
      throw new MetadataError("BROKER_NOT_REGISTERED", `Broker ${nodeId} is not registered`);
    }
    if (epoch < b.epoch) {
      throw new MetadataError(
        "STALE_BROKER_EPOCH",
        `Cannot renew the lease as broker ${nodeId} epoch ${epoch} is stale: current epoch is ${b.epoch}`,
      );
    }
    this.#leases?.heartbeat(nodeId, epoch, this.#clock.monotonicMs());
    // A malformed report is dropped (and said once per heartbeat at debug): the lease still counts.
    if (load !== undefined) {
      const problem = loadProblem(load);
      if (problem === null) {
        this.loads.record(nodeId, load as BrokerLoad, this.#clock.monotonicMs());
      } else this.#log.debug("dropped a malformed load report", { nodeId, problem });
    }
    let index = this.sm.applied;
    if (b.fenced && epoch === b.epoch) {
      index = (await this.#proposeLocal({ v: 1, op: "unfence_broker", nodeId, brokerEpoch: epoch }))
        .index;
    }
    return { v: 1, ok: true, value: { leaseMs: this.brokerLeaseMs }, index };
  }

  // ---------------------------------------------------------------- the loop

  #onMessage(m: RaftMessage): void {
    this.#enqueue(() => this.#raft.step(m));
  }

  #enqueue(event: () => void): void {
    if (this.#closed || this.#fatal !== null) return;
    // Past the limit, drop: messages are retransmitted, and callers time out and retry.
    if (this.#events.length >= this.#eventsMax) return;
    this.#events.push(event);
    this.#kick();
  }

  #kick(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    this.#pumpDone = Promise.resolve().then(() => this.#pump());
  }

  async #pump(): Promise<void> {
    try {
      while (!this.#closed) {
        for (const event of this.#events.splice(0)) event();
        if (!this.#raft.hasReady()) {
          if (this.#events.length === 0) break;
          continue;
        }
        await this.#handleReady(this.#raft.ready());
      }
    } catch (err) {
      this.#fatal = err instanceof Error ? err : new Error(String(err));
      this.#log.error("controller stopped on an unrecoverable error", { err: this.#fatal.message });
      this.#failAll(new MetadataError("UNAVAILABLE", `Controller failed: ${this.#fatal.message}`));
      if (this.#tickTimer !== null) clearInterval(this.#tickTimer);
      this.#onFatal(this.#fatal);
    } finally {
      this.#pumping = false;
    }
  }

  async #handleReady(rd: Ready): Promise<void> {
    if (rd.snapshot !== null || rd.entries.length > 0 || rd.hardState !== null) {
      await this.#storage.save({
        snapshot: rd.snapshot,
        entries: rd.entries,
        hardState: rd.hardState,
      });
    }
    if (rd.messages.length > 0) this.#transport.send(rd.messages);
    if (rd.snapshotToApply !== null) {
      this.sm.restore(rd.snapshotToApply.index, rd.snapshotToApply.data);
      this.#log.info("restored a snapshot", { index: rd.snapshotToApply.index });
      this.#emit({ index: rd.snapshotToApply.index, topics: {}, reset: true });
    }
    for (const e of rd.committedEntries) this.#applyEntry(e.index, e.kind, e.data);
    for (const rs of rd.readStates) {
      const done = this.#reads.get(rs.context);
      if (done === undefined) continue;
      this.#reads.delete(rs.context);
      clearTimeout(done.timer);
      done.resolve({ index: rs.index, value: null });
    }
    this.#raft.advance(rd);
    this.#afterReady();
  }

  #applyEntry(index: number, kind: string, data: string): void {
    if (kind !== "normal" || data === "") {
      this.sm.markApplied(index);
      return;
    }
    const envelope = JSON.parse(data) as CommandEnvelope;
    const { result, delta } = this.sm.apply(index, envelope.cmd, envelope.key);
    if (delta !== null) this.#emit(delta);
    const pending = this.#pending.get(envelope.rid);
    if (pending === undefined) return;
    this.#pending.delete(envelope.rid);
    clearTimeout(pending.timer);
    if (result.ok) pending.resolve({ index, value: result.value });
    else pending.reject(fromWireError(result.error));
  }

  #emit(delta: MetadataDelta): void {
    for (const l of this.#listeners) {
      try {
        l(delta);
      } catch (err) {
        this.#log.warn("a metadata listener failed", { err: String(err) });
      }
    }
  }

  #afterReady(): void {
    const applied = this.sm.applied;
    if (this.#appliedWaiters.length > 0) {
      const ready = this.#appliedWaiters.filter((w) => w.index <= applied);
      this.#appliedWaiters = this.#appliedWaiters.filter((w) => w.index > applied);
      for (const w of ready) w.resolve();
    }
    const status = this.#raft.status();
    if (applied - status.snapshotIndex >= this.#snapshotEntries && applied <= status.applied) {
      this.#raft.compact(applied, this.sm.snapshot());
      this.#log.debug("compacted the log", { index: applied });
    }
    const isLeader = status.role === "leader";
    if (isLeader !== this.#wasLeader) {
      this.#wasLeader = isLeader;
      this.#leases?.clear();
      this.loads.clear();
      this.#log.info(isLeader ? "became leader" : "lost leadership", { term: status.term });
    }
  }

  #tick(): void {
    this.#raft.tick();
    const status = this.#raft.status();
    if (status.role !== "leader") return;
    // Duties of the leader, decided from its clock and proposed through the log.
    if (this.sm.clusterId === "" && !this.#initInFlight && status.applied >= status.commit) {
      this.#initInFlight = true;
      const clusterId = _randomClusterId();
      void this.#proposeLocal({ v: 1, op: "init_cluster", clusterId })
        .catch(() => {})
        .finally(() => this.#initInFlight = false);
    }
    if (this.#leases === null) return;
    for (const e of this.#leases.expired(this.sm.brokers(), this.#clock.monotonicMs())) {
      this.#log.warn("broker lease expired; fencing it", {
        nodeId: e.nodeId,
        epoch: e.brokerEpoch,
      });
      void this.#proposeLocal({
        v: 1,
        op: "fence_broker",
        nodeId: e.nodeId,
        brokerEpoch: e.brokerEpoch,
        unclean: this.#unclean,
      }).catch((err) => this.#log.warn("fencing failed; will retry", { err: String(err) }));
    }
  }

  #failAll(err: Error): void {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
    for (const r of this.#reads.values()) {
      clearTimeout(r.timer);
      r.reject(err);
    }
    this.#reads.clear();
    for (const w of this.#appliedWaiters.splice(0)) w.reject(err);
  }
}

function _keyProblem(key: unknown): string | null {
  if (key === undefined) return null;
  if (typeof key !== "string" || key.length === 0 || key.length > REQUEST_KEY_CHARS_MAX) {
    return `request key must be a string of 1..${REQUEST_KEY_CHARS_MAX} characters`;
  }
  return null;
}

function _sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function _randomClusterId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}
