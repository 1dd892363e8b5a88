/**
 * The deterministic simulator of the controller quorum. One seed drives everything: 3 or 5
 * Raft nodes in one process over a {@linkcode SimNetwork}, crashes and restarts that lose
 * unsynced writes, partitions, membership changes, leadership transfers, snapshots, and a
 * register workload whose history is checked for linearizability. Safety invariants are checked
 * after every step; any failure names the seed so it can be replayed.
 *
 * @module
 */

import { ConfChangeRejectedError, NotLeaderError, ProposalDroppedError } from "../raft/errors.ts";
import { RaftNode } from "../raft/node.ts";
import { SeededRandom } from "../../ops/random.ts";
import { MemoryStorage } from "../raft/storage.ts";
import type { ConfigEntryData, Entry, NodeId, RaftMessage, ReadState } from "../raft/types.ts";
import { InvariantChecker, InvariantViolation } from "./invariants.ts";
import { checkLinearizable, type HistoryOp } from "./linearizability.ts";
import { type NetworkFaults, SimNetwork } from "./network.ts";
import { type RegisterCommand, RegisterMachine, type RegisterOp } from "./register.ts";

/** Every fault the simulator injects; a test asserts each occurs across its seeds. */
export const FAULT_KINDS = [
  "drop",
  "duplicate",
  "reorder",
  "partition_symmetric",
  "partition_asymmetric",
  "crash",
  "crash_unsynced",
  "restart",
  "pause",
  "member_add",
  "member_remove",
  "transfer",
  "snapshot_install",
] as const;

/** One kind of injected fault. */
export type FaultKind = typeof FAULT_KINDS[number];

/** Options of {@linkcode runSeed}. */
export interface SimOptions {
  seed: number;
  /** Time units with faults injected. @default 3000 */
  steps?: number;
  /** Time units of calm afterwards, at the end of which a leader must have committed. @default 1500 */
  healSteps?: number;
  /** Receives a line per notable event (faults, role and term changes), for replaying a seed. */
  trace?: (line: string) => void;
  /** Overrides the per-seed probability that a node crashes between writing and syncing a Ready. */
  unsyncedCrashRate?: number;
  /** Deliberate bugs, to prove the checkers catch them. */
  unsafe?: {
    /** Nodes grant votes without checking the term or an earlier vote. */
    grantStaleVotes?: boolean;
    /** The driver sends messages before the data they depend on is synced. */
    sendBeforeSync?: boolean;
    /** Clients read any node's local state at once instead of going through ReadIndex. */
    staleReads?: boolean;
  };
}

/** The outcome of one seed. */
export interface SimResult {
  seed: number;
  ok: boolean;
  /** The first violation found, or null. */
  violation: string | null;
  faults: Record<FaultKind, number>;
  /** Operations completed by clients, and keys whose history was too large to check. */
  opsCompleted: number;
  keysUnchecked: number;
  /** The highest commit index reached by any node. */
  commitMax: number;
  nodes: number;
}

/** The command that replays one seed. */
export function replayCommand(seed: number, steps?: number): string {
  return `deno task sim --seed ${seed}${steps === undefined ? "" : ` --steps ${steps}`}`;
}

interface SeedConfig {
  nodes: number;
  network: NetworkFaults;
  partitionRate: number;
  crashRate: number;
  pauseRate: number;
  unsyncedCrashRate: number;
  memberRate: number;
  transferRate: number;
  compactEvery: number;
  opGapMax: number;
}

function _seedConfig(r: SeededRandom): SeedConfig {
  return {
    nodes: r.chance(0.5) ? 3 : 5,
    network: {
      dropRate: r.pick([0, 0.01, 0.05, 0.1, 0.2]),
      duplicateRate: r.pick([0, 0.01, 0.05]),
      delayMin: 1,
      delayMax: r.pick([2, 5, 10, 20]),
      slowRate: r.pick([0, 0.01, 0.05]),
      slowDelayMax: 150,
    },
    partitionRate: r.pick([0, 0.002, 0.005]),
    crashRate: r.pick([0, 0.001, 0.003]),
    pauseRate: r.pick([0, 0.001, 0.003]),
    unsyncedCrashRate: r.pick([0, 0.002, 0.01]),
    memberRate: r.pick([0, 0.001, 0.003]),
    transferRate: r.pick([0, 0.001, 0.003]),
    compactEvery: r.pick([8, 30, 100]),
    opGapMax: r.pick([20, 40, 80]),
  };
}

const TICK_UNITS = 10;
const KEYS = ["a", "b", "c"];
const KEY_OPS_MAX = 150;
const CLIENTS = 3;
const CLIENT_TIMEOUT_UNITS = 600;
const NODE_IDS_MAX = 9;
const CALM: NetworkFaults = {
  dropRate: 0,
  duplicateRate: 0,
  delayMin: 1,
  delayMax: 3,
  slowRate: 0,
  slowDelayMax: 3,
};

interface SimNode {
  id: NodeId;
  storage: MemoryStorage;
  raft: RaftNode | null;
  sm: RegisterMachine;
  random: SeededRandom;
  bootstrapVoters: NodeId[];
  tickPhase: number;
  downUntil: number;
  /** Until this time the node neither ticks nor handles messages, like a stalled process. */
  pausedUntil: number;
  decommissioned: boolean;
  starts: number;
  readStates: ReadState[];
}

interface ClientOp {
  history: HistoryOp;
  node: NodeId;
  context: string;
  deadline: number;
}

interface Client {
  id: number;
  seq: number;
  leaderHint: NodeId | null;
  pending: ClientOp | null;
  nextAt: number;
}

/** Runs one seed to completion. Deterministic: the same options give the same result. */
export function runSeed(options: SimOptions): SimResult {
  const sim = new _Simulation(options);
  return sim.run();
}

class _Simulation {
  readonly #seed: number;
  readonly #steps: number;
  readonly #healSteps: number;
  readonly #r: SeededRandom;
  readonly #cfg: SeedConfig;
  readonly #net: SimNetwork;
  readonly #checker = new InvariantChecker();
  readonly #nodes = new Map<NodeId, SimNode>();
  readonly #clients: Client[] = [];
  readonly #history: HistoryOp[] = [];
  readonly #faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<
    FaultKind,
    number
  >;
  readonly #grantStaleVotes: boolean;
  readonly #sendBeforeSync: boolean;
  readonly #staleReads: boolean;
  readonly #trace: ((line: string) => void) | null;
  readonly #lastSeen = new Map<NodeId, string>();
  #now = 0;
  #event = 0;
  #nextNodeNumber = 1;
  #healAt = -1;
  #toDecommission: NodeId[] = [];
  readonly #keyOps = new Map<string, number>();
  readonly #keyGeneration = new Map<string, number>();
  #calm = false;
  #opsCompleted = 0;
  #commitMax = 0;

  constructor(options: SimOptions) {
    this.#seed = options.seed;
    this.#steps = options.steps ?? 3000;
    this.#healSteps = options.healSteps ?? 1500;
    if (this.#steps < 0 || this.#healSteps < 0) {
      throw new RangeError("Cannot simulate as steps must be >= 0");
    }
    this.#r = new SeededRandom(options.seed);
    this.#cfg = _seedConfig(this.#r);
    if (options.unsyncedCrashRate !== undefined) {
      this.#cfg.unsyncedCrashRate = options.unsyncedCrashRate;
    }
    this.#net = new SimNetwork(this.#r, this.#cfg.network);
    this.#grantStaleVotes = options.unsafe?.grantStaleVotes ?? false;
    this.#sendBeforeSync = options.unsafe?.sendBeforeSync ?? false;
    this.#staleReads = options.unsafe?.staleReads ?? false;
    this.#trace = options.trace ?? null;
  }

  run(): SimResult {
    let violation: string | null = null;
    let keysUnchecked = 0;
    try {
      this.#boot();
      for (this.#now = 0; this.#now < this.#steps + this.#healSteps; this.#now++) {
        if (this.#now === this.#steps) this.#calmDown();
        this.#step();
      }
      this.#checkLiveness();
      const lin = checkLinearizable(this.#history, { opsPerKeyMax: 300, statesPerKeyMax: 100_000 });
      keysUnchecked = [...lin.verdicts.values()].filter((v) => v === "unknown").length;
      if (!lin.ok) throw new InvariantViolation("linearizability", lin.violation ?? "");
    } catch (e) {
      if (!(e instanceof Error)) throw e;
      violation = `${e.name}: ${e.message} (at time ${this.#now})`;
    }
    const net = this.#net.stats;
    this.#faults.drop = net.dropped;
    this.#faults.duplicate = net.duplicated;
    this.#faults.reorder = net.reordered;
    return {
      seed: this.#seed,
      ok: violation === null,
      violation,
      faults: this.#faults,
      opsCompleted: this.#opsCompleted,
      keysUnchecked,
      commitMax: this.#commitMax,
      nodes: this.#nextNodeNumber - 1,
    };
  }

  // ------------------------------------------------------------ the main loop

  #boot(): void {
    const ids = Array.from({ length: this.#cfg.nodes }, (_, i) => `controller-${i + 1}`);
    this.#nextNodeNumber = ids.length + 1;
    for (const id of ids) this.#addNode(id, ids);
    for (let c = 0; c < CLIENTS; c++) {
      this.#clients.push({
        id: c + 1,
        seq: 0,
        leaderHint: null,
        pending: null,
        nextAt: this.#r.int(50),
      });
    }
  }

  #step(): void {
    if (!this.#calm) this.#injectFaults();
    for (const m of this.#net.deliverDue(this.#now)) this.#deliver(m);
    for (const node of this.#nodes.values()) {
      if (node.raft === null) {
        if (!node.decommissioned && this.#now >= node.downUntil) this.#restart(node);
        continue;
      }
      if (this.#now < node.pausedUntil) continue;
      if ((this.#now + node.tickPhase) % TICK_UNITS === 0) {
        node.raft.tick();
        this.#drive(node);
      }
    }
    this.#stepClients();
    for (const id of this.#toDecommission.splice(0)) this.#decommission(id);
  }

  #deliver(m: RaftMessage): void {
    const node = this.#nodes.get(m.to);
    if (node?.raft == null) return;
    if (this.#now < node.pausedUntil) {
      this.#net.redeliverAt(m, node.pausedUntil);
      return;
    }
    if (m.type === "snapshot") this.#faults.snapshot_install++;
    node.raft.step(m);
    this.#drive(node);
  }

  /** Handles every Ready of `node`: persist, then send, then apply; then checks invariants. */
  #drive(node: SimNode): void {
    const raft = node.raft!;
    while (raft.hasReady()) {
      const rd = raft.ready();
      node.storage.write({ snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState });
      if (this.#sendBeforeSync) this.#sendAll(rd.messages);
      const persists = rd.snapshot !== null || rd.entries.length > 0 || rd.hardState !== null;
      if (persists && !this.#calm && this.#r.chance(this.#cfg.unsyncedCrashRate)) {
        this.#faults.crash_unsynced++;
        this.#crash(node, true);
        return;
      }
      node.storage.sync();
      if (!this.#sendBeforeSync) this.#sendAll(rd.messages);
      if (rd.snapshotToApply !== null) {
        node.sm.restore(rd.snapshotToApply.index, rd.snapshotToApply.data);
      }
      for (const e of rd.committedEntries) this.#apply(node, e);
      node.readStates.push(...rd.readStates);
      raft.advance(rd);
    }
    if (this.#trace !== null) this.#traceNode(node);
    this.#checker.checkNode(raft);
    this.#commitMax = Math.max(this.#commitMax, raft.status().commit);
    this.#serveReads(node);
    const snapshotIndex = raft.log.snapshotIndex;
    if (node.sm.applied - snapshotIndex >= this.#cfg.compactEvery) {
      raft.compact(node.sm.applied, node.sm.snapshot());
    }
  }

  #log(line: string): void {
    this.#trace?.(`t=${this.#now} ${line}`);
  }

  #traceNode(node: SimNode): void {
    const s = node.raft!.status();
    const line =
      `${s.role} term=${s.term} vote=${s.vote} leader=${s.leaderId} commit=${s.commit} ` +
      `last=${s.lastIndex}@${node.raft!.log.lastTerm()} snap=${s.snapshotIndex} voters=${
        s.voters.join(",")
      }`;
    if (this.#lastSeen.get(node.id) === line) return;
    this.#lastSeen.set(node.id, line);
    this.#log(`${node.id} ${line}`);
  }

  #sendAll(messages: readonly RaftMessage[]): void {
    for (const m of messages) {
      // Some messages take a real serialisation round trip, proving they are plain data.
      const wire = this.#r.chance(0.05) ? JSON.parse(JSON.stringify(m)) as RaftMessage : m;
      this.#net.send(wire, this.#now);
    }
  }

  #apply(node: SimNode, e: Entry): void {
    this.#checker.onApply(node.id, e);
    if (e.kind === "config") {
      node.sm.markApplied(e.index);
      const { change } = JSON.parse(e.data) as ConfigEntryData;
      // An operator shuts a removed controller down once its removal is committed.
      // It is deferred to the end of the step: the node may be the one applying right now.
      if (change.op === "remove") this.#toDecommission.push(change.nodeId);
      return;
    }
    if (e.data === "") {
      node.sm.markApplied(e.index);
      return;
    }
    const command = JSON.parse(e.data) as RegisterCommand;
    const result = node.sm.apply(e.index, command);
    const client = this.#clients[command.client - 1];
    const op = client?.pending;
    if (op == null || op.node !== node.id || op.context !== `${command.client}:${command.seq}`) {
      return;
    }
    op.history.ok = result.ok;
    this.#complete(client!);
  }

  #serveReads(node: SimNode): void {
    if (node.readStates.length === 0) return;
    const waiting: ReadState[] = [];
    for (const rs of node.readStates) {
      if (node.sm.applied < rs.index) {
        waiting.push(rs);
        continue;
      }
      const client = this.#clients.find((c) =>
        c.pending?.context === rs.context && c.pending.node === node.id
      );
      if (client === undefined) continue;
      client.pending!.history.readValue = node.sm.get(client.pending!.history.key);
      this.#complete(client);
    }
    node.readStates = waiting;
  }

  #complete(client: Client): void {
    client.pending!.history.response = ++this.#event;
    client.pending = null;
    client.nextAt = this.#now + 1 + this.#r.int(this.#cfg.opGapMax);
    this.#opsCompleted++;
  }

  // ------------------------------------------------------------ nodes

  #addNode(id: NodeId, bootstrapVoters: NodeId[]): SimNode {
    const node: SimNode = {
      id,
      storage: new MemoryStorage(),
      raft: null,
      sm: new RegisterMachine(),
      random: new SeededRandom(this.#r.nextUint32()),
      bootstrapVoters,
      tickPhase: this.#r.int(TICK_UNITS),
      downUntil: 0,
      pausedUntil: 0,
      decommissioned: false,
      starts: 0,
      readStates: [],
    };
    this.#nodes.set(id, node);
    this.#restart(node);
    return node;
  }

  #restart(node: SimNode): void {
    this.#log(`${node.id} START`);
    if (node.starts++ > 0) this.#faults.restart++;
    node.raft = new RaftNode({
      id: node.id,
      random: node.random,
      state: node.storage.loadSync(),
      bootstrapVoters: node.bootstrapVoters,
      electionTicks: 10,
      heartbeatTicks: 1,
      appendEntriesMax: 16,
      inflightMessagesMax: 8,
      unsafe: { grantStaleVotes: this.#grantStaleVotes },
    });
    node.sm = new RegisterMachine();
    node.readStates = [];
    this.#checker.onRestart(node.id);
    this.#drive(node);
  }

  #crash(node: SimNode, unsynced: boolean): void {
    this.#log(`${node.id} CRASH${unsynced ? " (unsynced writes lost)" : ""}`);
    node.storage.crash(unsynced ? this.#r : null);
    node.raft = null;
    node.downUntil = this.#now + this.#r.between(20, 400);
    node.readStates = [];
    for (const c of this.#clients) {
      if (c.pending?.node === node.id) this.#abandon(c);
    }
  }

  #decommission(id: NodeId): void {
    const node = this.#nodes.get(id);
    if (node === undefined || node.decommissioned) return;
    node.decommissioned = true;
    if (node.raft !== null) this.#crash(node, false);
  }

  /** The live leader of the highest term, if any. */
  #leader(): SimNode | null {
    let best: SimNode | null = null;
    for (const node of this.#nodes.values()) {
      const s = node.raft?.status();
      if (this.#now < node.pausedUntil) continue;
      if (s?.role === "leader" && (best === null || s.term > best.raft!.status().term)) best = node;
    }
    return best;
  }

  /** Nodes that are up and not paused. */
  #liveIds(): NodeId[] {
    return [...this.#nodes.values()]
      .filter((n) => n.raft !== null && this.#now >= n.pausedUntil)
      .map((n) => n.id);
  }

  // ------------------------------------------------------------ faults

  #injectFaults(): void {
    const cfg = this.#cfg;
    if (this.#healAt >= 0 && this.#now >= this.#healAt) {
      this.#net.heal();
      this.#healAt = -1;
      this.#log("HEAL");
    }
    if (this.#healAt < 0 && this.#r.chance(cfg.partitionRate)) this.#partition();
    if (this.#r.chance(cfg.crashRate)) {
      const live = this.#liveIds();
      if (live.length > 0) {
        this.#faults.crash++;
        this.#crash(this.#nodes.get(this.#r.pick(live))!, false);
      }
    }
    if (this.#r.chance(cfg.pauseRate)) this.#pause();
    if (this.#r.chance(cfg.memberRate)) this.#changeMembership();
    if (this.#r.chance(cfg.transferRate)) this.#transfer();
  }

  /** Stalls a node, most often the leader: it wakes up believing it still leads. */
  #pause(): void {
    const live = this.#liveIds();
    if (live.length === 0) return;
    const leader = this.#leader();
    const node = leader !== null && this.#r.chance(0.7)
      ? leader
      : this.#nodes.get(this.#r.pick(live))!;
    node.pausedUntil = this.#now + this.#r.between(50, 400);
    this.#log(`${node.id} PAUSE until ${node.pausedUntil}`);
    this.#faults.pause++;
  }

  #partition(): void {
    const ids = [...this.#nodes.keys()];
    this.#healAt = this.#now + this.#r.between(50, 600);
    if (this.#r.chance(0.5)) {
      this.#faults.partition_symmetric++;
      const shuffled = this.#r.shuffle([...ids]);
      const cut = this.#r.between(1, shuffled.length - 1);
      const left = new Set(shuffled.slice(0, cut));
      for (const a of ids) {
        for (const b of ids) if (left.has(a) !== left.has(b)) this.#net.block(a, b);
      }
      this.#log(`PARTITION ${[...left].join(",")} | rest until ${this.#healAt}`);
      return;
    }
    this.#faults.partition_asymmetric++;
    // One-way cuts: a node that can send but not hear (or the reverse) is the classic case
    // that pre-vote and check-quorum exist for.
    const victim = this.#leader()?.id ?? this.#r.pick(ids);
    const inbound = this.#r.chance(0.5);
    for (const other of ids) {
      if (other === victim || !this.#r.chance(0.7)) continue;
      if (inbound) this.#net.block(other, victim);
      else this.#net.block(victim, other);
      this.#log(
        `CUT ${inbound ? `${other}->${victim}` : `${victim}->${other}`} until ${this.#healAt}`,
      );
    }
  }

  #changeMembership(): void {
    const leader = this.#leader();
    if (leader === null || this.#nextNodeNumber > NODE_IDS_MAX) return;
    const voters = leader.raft!.status().voters;
    const add = voters.length < 5 && (voters.length <= 3 || this.#r.chance(0.5));
    try {
      if (add) {
        const id = `controller-${this.#nextNodeNumber}`;
        leader.raft!.proposeConfChange({ op: "add", nodeId: id });
        this.#nextNodeNumber++;
        this.#addNode(id, []);
        this.#faults.member_add++;
      } else {
        leader.raft!.proposeConfChange({ op: "remove", nodeId: this.#r.pick(voters) });
        this.#faults.member_remove++;
      }
    } catch (e) {
      if (!(e instanceof ConfChangeRejectedError || e instanceof ProposalDroppedError)) throw e;
    }
    this.#drive(leader);
  }

  #transfer(): void {
    const leader = this.#leader();
    if (leader === null) return;
    const others = leader.raft!.status().voters.filter((v) => v !== leader.id);
    if (others.length === 0) return;
    const target = this.#r.pick(others);
    this.#log(`TRANSFER ${leader.id} -> ${target}`);
    leader.raft!.transferLeadership(target);
    this.#faults.transfer++;
    this.#drive(leader);
  }

  #calmDown(): void {
    this.#calm = true;
    this.#net.heal();
    this.#net.setFaults(CALM);
    for (const node of this.#nodes.values()) {
      if (node.raft === null && !node.decommissioned) node.downUntil = this.#now;
      node.pausedUntil = Math.min(node.pausedUntil, this.#now);
    }
  }

  #checkLiveness(): void {
    const leader = this.#leader();
    const s = leader?.raft?.status();
    if (s === undefined || leader!.raft!.log.term(s.commit) !== s.term) {
      throw new InvariantViolation(
        "liveness",
        `no leader committed in its term after ${this.#healSteps} calm units`,
      );
    }
  }

  // ------------------------------------------------------------ clients

  #stepClients(): void {
    for (const c of this.#clients) {
      if (c.pending !== null && this.#now >= c.pending.deadline) this.#abandon(c);
      if (c.pending === null && this.#now >= c.nextAt) this.#submit(c);
    }
  }

  /** Gives up on an op: a read is forgotten, a write stays in the history with no response. */
  #abandon(c: Client): void {
    const op = c.pending!;
    if (op.history.kind === "read") this.#history.splice(this.#history.indexOf(op.history), 1);
    c.pending = null;
    c.leaderHint = null;
    c.nextAt = this.#now + 1 + this.#r.int(this.#cfg.opGapMax);
  }

  #submit(c: Client): void {
    const live = this.#liveIds();
    if (live.length === 0) return;
    const target = c.leaderHint !== null && live.includes(c.leaderHint)
      ? c.leaderHint
      : this.#r.pick(live);
    const node = this.#nodes.get(target)!;
    const op = this.#nextOp();
    const context = `${c.id}:${c.seq + 1}`;
    if (op.op === "read" && this.#staleReads) {
      this.#history.push({
        client: c.id,
        key: op.key,
        kind: "read",
        invoke: ++this.#event,
        readValue: node.sm.get(op.key),
        response: ++this.#event,
      });
      c.nextAt = this.#now + 1 + this.#r.int(this.#cfg.opGapMax);
      return;
    }
    try {
      if (op.op === "read") node.raft!.readIndex(context);
      else {node.raft!.propose(
          JSON.stringify({ client: c.id, seq: c.seq + 1, op } satisfies RegisterCommand),
        );}
    } catch (e) {
      if (!(e instanceof NotLeaderError || e instanceof ProposalDroppedError)) throw e;
      c.leaderHint = e instanceof NotLeaderError ? e.leaderId : null;
      c.nextAt = this.#now + 3;
      return;
    }
    c.seq++;
    const history: HistoryOp = {
      client: c.id,
      key: op.key,
      kind: op.op,
      invoke: ++this.#event,
      response: null,
    };
    if (op.op !== "read") history.value = op.value;
    if (op.op === "cas") history.expected = op.expected;
    this.#history.push(history);
    c.pending = { history, node: target, context, deadline: this.#now + CLIENT_TIMEOUT_UNITS };
    this.#drive(node);
  }

  /**
   * A key for the next op. Each register takes at most KEY_OPS_MAX ops, then the workload moves
   * on to a fresh register, so every per-key history stays small enough to check quickly.
   */
  #nextKey(): string {
    const base = this.#r.pick(KEYS);
    const generation = this.#keyGeneration.get(base) ?? 0;
    const key = `${base}${generation}`;
    const ops = (this.#keyOps.get(key) ?? 0) + 1;
    this.#keyOps.set(key, ops);
    if (ops >= KEY_OPS_MAX) this.#keyGeneration.set(base, generation + 1);
    return key;
  }

  #nextOp(): RegisterOp {
    const key = this.#nextKey();
    const value = ++this.#event;
    const roll = this.#r.next();
    if (roll < 0.4) return { op: "read", key };
    if (roll < 0.75) return { op: "write", key, value };
    const expected = this.#r.chance(0.2) ? null : this.#recentValue(key);
    return { op: "cas", key, expected, value };
  }

  /** A value recently written to `key`, so cas operations succeed often enough to matter. */
  #recentValue(key: string): number | null {
    for (let i = this.#history.length - 1; i >= 0; i--) {
      const h = this.#history[i]!;
      if (h.key === key && h.value !== undefined) return h.value;
    }
    return null;
  }
}
