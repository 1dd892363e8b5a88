/**
 * The Raft consensus core as a sans-IO state machine, after the design of etcd-io/raft.
 *
 * Events go in ({@linkcode RaftNode.tick}, {@linkcode RaftNode.step}, proposals), and work comes
 * out as a {@linkcode Ready} batch. The driver persists, then sends, then applies, then calls
 * {@linkcode RaftNode.advance}. The node never touches a clock, a socket, a file or
 * the runtime's random source: ticks are counted and randomness is injected.
 *
 * Features: pre-vote and check-quorum elections, pipelined replication with conflict-term
 * backtracking, snapshots and InstallSnapshot, single-server membership changes that take effect
 * when appended, ReadIndex reads and leadership transfer.
 *
 * @module
 */

import { assert } from "../../ops/assert.ts";
import {
  ConfChangeRejectedError,
  LeadershipTransferError,
  NotLeaderError,
  ProposalDroppedError,
} from "./errors.ts";
import { Progress } from "./progress.ts";
import type { Random } from "../../ops/random.ts";
import { RaftLog } from "./raft_log.ts";
import type {
  AppendMessage,
  AppendResponseMessage,
  ConfChange,
  ConfigEntryData,
  Entry,
  HardState,
  HeartbeatMessage,
  HeartbeatResponseMessage,
  NodeId,
  PersistedState,
  RaftMessage,
  ReadState,
  Ready,
  Role,
  Snapshot,
  SnapshotMessage,
} from "./types.ts";

/** Options of a {@linkcode RaftNode}. */
export interface RaftNodeOptions {
  /** This node's id. */
  id: NodeId;
  /** The source of election-timeout jitter. */
  random: Random;
  /** What storage gave back on start (see `RaftStorage.load`). */
  state: PersistedState;
  /** The voter set of a brand-new cluster; used only when storage holds no configuration. @default [] */
  bootstrapVoters?: readonly NodeId[];
  /** Base election timeout; the real one is drawn from [electionTicks, 2 * electionTicks). @default 10 */
  electionTicks?: number;
  /** Ticks between leader heartbeats. @default 1 */
  heartbeatTicks?: number;
  /** Run a pre-vote round before a real election. @default true */
  preVote?: boolean;
  /** A leader steps down when a quorum stops answering; followers ignore votes while in lease. @default true */
  checkQuorum?: boolean;
  /** Entries per append message. @default 64 */
  appendEntriesMax?: number;
  /** Append messages in flight per follower in replicate state. @default 16 */
  inflightMessagesMax?: number;
  /** Entries the leader accepts beyond its commit index. @default 4096 */
  uncommittedEntriesMax?: number;
  /** ReadIndex requests queued on the leader. @default 1024 */
  pendingReadsMax?: number;
  /** Committed entries handed out per Ready. @default 256 */
  applyEntriesMax?: number;
  /** Messages queued between Ready batches; more are dropped, as a lossy network would. @default 65536 */
  outboxMessagesMax?: number;
  /**
   * Deliberate bugs, for proving that the simulator's checkers catch them. Never set in
   * production. `grantStaleVotes` grants votes without checking the term or a previous vote.
   */
  unsafe?: { grantStaleVotes?: boolean };
}

/** A read-only view of a node's state, for drivers, metrics and checkers. */
export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId | null;
  leaderId: NodeId | null;
  commit: number;
  applied: number;
  lastIndex: number;
  snapshotIndex: number;
  voters: NodeId[];
}

interface PendingRead {
  context: string;
  index: number;
  acks: Set<NodeId>;
}

function _validateCount(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(
      `Cannot create RaftNode as ${name} must be an integer >= ${min}: current value is ${value}`,
    );
  }
  return value;
}

/** Reads the voter list out of a config entry. */
export function configEntryVoters(entry: Entry): NodeId[] {
  assert(entry.kind === "config", `entry ${entry.index} is not a config entry`);
  return (JSON.parse(entry.data) as ConfigEntryData).voters;
}

/**
 * One member of a Raft group.
 *
 * @example
 * ```ts
 * import { RaftNode } from "./node.ts";
 * import { SeededRandom } from "../../ops/random.ts";
 * const node = new RaftNode({
 *   id: "controller-1",
 *   random: new SeededRandom(1),
 *   bootstrapVoters: ["controller-1"],
 *   state: {
 *     hardState: { term: 0, vote: null, commit: 0 },
 *     snapshot: { index: 0, term: 0, voters: [], data: "" },
 *     entries: [],
 *   },
 * });
 * for (let i = 0; i < 30 && node.status().role !== "leader"; i++) {
 *   node.tick();
 *   while (node.hasReady()) node.advance(node.ready()); // a single node persists nothing here
 * }
 * if (node.status().role !== "leader") throw new Error("a lone voter elects itself");
 * ```
 */
export class RaftNode {
  readonly id: NodeId;
  readonly #random: Random;
  readonly #electionTicks: number;
  readonly #heartbeatTicks: number;
  readonly #preVote: boolean;
  readonly #checkQuorum: boolean;
  readonly #appendEntriesMax: number;
  readonly #inflightMax: number;
  readonly #uncommittedMax: number;
  readonly #pendingReadsMax: number;
  readonly #applyMax: number;
  readonly #outboxMax: number;
  readonly #bootstrapVoters: NodeId[];
  readonly #grantStaleVotes: boolean;

  #role: Role = "follower";
  #term = 0;
  #vote: NodeId | null = null;
  #leaderId: NodeId | null = null;
  #log: RaftLog;
  #commit: number;
  #applied: number;
  #stableIndex: number;
  #snapshot: Snapshot;
  #snapshotToPersist: Snapshot | null = null;
  #snapshotToApply: Snapshot | null = null;
  #persistedHardState: HardState;
  #voters: NodeId[] = [];
  #pendingConfIndex = 0;

  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #randomizedElectionTimeout = 0;
  #votes = new Map<NodeId, boolean>();
  #progress = new Map<NodeId, Progress>();
  #leadTransferee: NodeId | null = null;
  #pendingReads: PendingRead[] = [];
  #readsAwaitingTermCommit: string[] = [];
  #readStates: ReadState[] = [];
  #outbox: RaftMessage[] = [];
  #readyInFlight = false;

  constructor(options: RaftNodeOptions) {
    this.id = options.id;
    this.#random = options.random;
    this.#electionTicks = _validateCount("electionTicks", options.electionTicks ?? 10, 1);
    this.#heartbeatTicks = _validateCount("heartbeatTicks", options.heartbeatTicks ?? 1, 1);
    if (this.#heartbeatTicks >= this.#electionTicks) {
      throw new RangeError(
        `Cannot create RaftNode as heartbeatTicks must be below electionTicks: current value is ${this.#heartbeatTicks}`,
      );
    }
    this.#preVote = options.preVote ?? true;
    this.#checkQuorum = options.checkQuorum ?? true;
    this.#appendEntriesMax = _validateCount("appendEntriesMax", options.appendEntriesMax ?? 64, 1);
    this.#inflightMax = _validateCount("inflightMessagesMax", options.inflightMessagesMax ?? 16, 1);
    this.#uncommittedMax = _validateCount(
      "uncommittedEntriesMax",
      options.uncommittedEntriesMax ?? 4096,
      1,
    );
    this.#pendingReadsMax = _validateCount("pendingReadsMax", options.pendingReadsMax ?? 1024, 1);
    this.#applyMax = _validateCount("applyEntriesMax", options.applyEntriesMax ?? 256, 1);
    this.#outboxMax = _validateCount("outboxMessagesMax", options.outboxMessagesMax ?? 65536, 16);
    this.#bootstrapVoters = [...(options.bootstrapVoters ?? [])];
    this.#grantStaleVotes = options.unsafe?.grantStaleVotes ?? false;

    const { hardState, snapshot, entries } = options.state;
    this.#log = new RaftLog(snapshot.index, snapshot.term, entries);
    this.#snapshot = snapshot;
    this.#term = hardState.term;
    this.#vote = hardState.vote;
    this.#persistedHardState = { ...hardState };
    assert(
      hardState.commit <= this.#log.lastIndex(),
      `stored commit ${hardState.commit} beyond the log`,
    );
    this.#commit = Math.max(hardState.commit, snapshot.index);
    this.#applied = snapshot.index;
    this.#stableIndex = this.#log.lastIndex();
    if (snapshot.index > 0) this.#snapshotToApply = snapshot;
    this.#recomputeVoters();
    this.#resetRandomizedElectionTimeout();
  }

  // ---------------------------------------------------------------- public API

  /** A copy of the node's current state. */
  status(): RaftStatus {
    return {
      id: this.id,
      role: this.#role,
      term: this.#term,
      vote: this.#vote,
      leaderId: this.#leaderId,
      commit: this.#commit,
      applied: this.#applied,
      lastIndex: this.#log.lastIndex(),
      snapshotIndex: this.#log.snapshotIndex,
      voters: [...this.#voters],
    };
  }

  /** The in-memory log, for checkers. The returned object must not be modified. */
  get log(): RaftLog {
    return this.#log;
  }

  /** Advances logical time by one tick. */
  tick(): void {
    if (this.#role === "leader") {
      this.#tickLeader();
      return;
    }
    this.#electionElapsed++;
    if (this.#isPromotable() && this.#electionElapsed >= this.#randomizedElectionTimeout) {
      this.#electionElapsed = 0;
      this.#campaign(this.#preVote ? "pre" : "real", false);
    }
  }

  /**
   * Proposes an application command; returns the index it was appended at. The command is not
   * committed yet: watch for it in `committedEntries`.
   */
  propose(data: string): number {
    this.#checkCanPropose();
    return this.#appendAsLeader("normal", data);
  }

  /** Proposes adding or removing one voter. Only one change may be pending at a time. */
  proposeConfChange(change: ConfChange): number {
    this.#checkCanPropose();
    if (this.#pendingConfIndex > this.#commit) {
      throw new ConfChangeRejectedError(
        `Cannot change membership as change at index ${this.#pendingConfIndex} is not committed yet`,
        true,
      );
    }
    // A leader must commit an entry of its own term first: otherwise a change appended by an
    // earlier leader but not yet committed can combine with this one into two disjoint majorities.
    if (this.#log.term(this.#commit) !== this.#term) {
      throw new ConfChangeRejectedError(
        "Cannot change membership as the leader has not committed an entry of its term yet",
        true,
      );
    }
    const voters = _applyChange(this.#voters, change);
    const data: ConfigEntryData = { change, voters };
    return this.#appendAsLeader("config", JSON.stringify(data));
  }

  /**
   * Starts a linearizable read. When leadership is confirmed the node emits a `ReadState` with
   * this `context`; the read may be served once the state machine has applied its index.
   * `context` must be unique among reads (a heartbeat answer names the read it confirms).
   * Reads still pending when the node loses leadership are dropped; the caller times out and
   * retries on the new leader.
   */
  readIndex(context: string): void {
    if (this.#role !== "leader") throw new NotLeaderError(this.id, this.#leaderId);
    const pending = this.#pendingReads.length + this.#readsAwaitingTermCommit.length;
    if (pending >= this.#pendingReadsMax) {
      throw new ProposalDroppedError(
        `Cannot queue the read as at most ${this.#pendingReadsMax} reads may be pending: current value is ${pending}`,
      );
    }
    // Until an entry of this term commits, the leader's commit index may be behind entries that
    // earlier leaders committed, so a read at it could miss a completed write.
    if (this.#log.term(this.#commit) !== this.#term) {
      this.#readsAwaitingTermCommit.push(context);
      return;
    }
    this.#startRead(context);
  }

  /** Hands leadership to `target`: bring it up to date, then tell it to campaign now. */
  transferLeadership(target: NodeId): void {
    if (this.#role !== "leader") throw new NotLeaderError(this.id, this.#leaderId);
    if (target === this.id || this.#leadTransferee === target) return;
    const pr = this.#progress.get(target);
    if (pr === undefined) {
      throw new LeadershipTransferError(`Cannot transfer leadership as ${target} is not a voter`);
    }
    this.#leadTransferee = target;
    // The transfer is abandoned after an election timeout, counted from here.
    this.#electionElapsed = 0;
    if (pr.match === this.#log.lastIndex()) {
      this.#send({ ...this.#base(target), type: "timeout_now" });
    } else this.#sendAppend(target, true);
  }

  /**
   * Tells the node the state machine has a snapshot covering every entry up to `index`; the log
   * before it is dropped. `index` must already be applied.
   */
  compact(index: number, data: string): void {
    if (index <= this.#log.snapshotIndex) return;
    if (index > this.#applied) {
      throw new RangeError(
        `Cannot compact as index must be applied: current value is ${index} > ${this.#applied}`,
      );
    }
    const term = this.#log.term(index);
    assert(term !== undefined, `compact index ${index} has no term`);
    this.#snapshot = { index, term, voters: this.#votersAt(index), data };
    this.#log.compact(index);
    this.#snapshotToPersist = this.#snapshot;
  }

  /** Receives a message from a peer. */
  step(m: RaftMessage): void {
    // A message of an unknown format version or for another node is a transport mix-up; Raft
    // tolerates lost messages, so dropping it is safe.
    if (m.v !== 1 || m.to !== this.id) return;
    if (!this.#stepTerm(m)) return;
    switch (m.type) {
      case "pre_vote":
      case "vote":
        this.#handleVoteRequest(m);
        return;
      case "pre_vote_response":
      case "vote_response":
        this.#handleVoteResponse(m.from, m.type, m.granted);
        return;
      case "append":
      case "heartbeat":
      case "snapshot":
        this.#stepFromLeader(m);
        return;
      case "append_response":
        this.#handleAppendResponse(m);
        return;
      case "heartbeat_response":
        this.#handleHeartbeatResponse(m);
        return;
      case "timeout_now":
        if (this.#role !== "leader" && this.#isPromotable()) this.#campaign("real", true);
        return;
    }
  }

  /** True when {@linkcode ready} has work. */
  hasReady(): boolean {
    return this.#outbox.length > 0 ||
      this.#readStates.length > 0 ||
      this.#snapshotToPersist !== null ||
      this.#snapshotToApply !== null ||
      this.#stableIndex < this.#log.lastIndex() ||
      this.#hardStateChanged() ||
      this.#nextCommittedIndex() > this.#applied;
  }

  /**
   * The work to do now. Call {@linkcode advance} with it before asking for the next one; nothing
   * inside changes between the two calls.
   */
  ready(): Ready {
    assert(!this.#readyInFlight, "ready() called again before advance()");
    this.#readyInFlight = true;
    const snapshotToApply = this.#snapshotToApply;
    const committedTo = this.#nextCommittedIndex();
    return {
      hardState: this.#hardStateChanged() ? this.#hardState() : null,
      entries: this.#log.slice(Math.max(this.#stableIndex + 1, this.#log.firstIndex()), Infinity),
      snapshot: this.#snapshotToPersist,
      messages: [...this.#outbox],
      snapshotToApply,
      committedEntries: snapshotToApply !== null
        ? []
        : this.#log.slice(this.#applied + 1, committedTo + 1),
      readStates: [...this.#readStates],
    };
  }

  /** Acknowledges that `ready` was persisted, sent and applied. */
  advance(ready: Ready): void {
    assert(this.#readyInFlight, "advance() without ready()");
    this.#readyInFlight = false;
    if (ready.hardState !== null) this.#persistedHardState = ready.hardState;
    const last = ready.entries.at(-1);
    // The entries are durable only if they are still ours: by log matching, an equal term at
    // the last index means the whole batch is unchanged.
    if (last !== undefined && this.#log.term(last.index) === last.term) {
      this.#stableIndex = Math.max(this.#stableIndex, last.index);
    }
    if (ready.snapshot !== null && this.#snapshotToPersist === ready.snapshot) {
      this.#snapshotToPersist = null;
    }
    if (ready.snapshotToApply !== null) {
      if (this.#snapshotToApply === ready.snapshotToApply) this.#snapshotToApply = null;
      this.#applied = Math.max(this.#applied, ready.snapshotToApply.index);
    }
    const applied = ready.committedEntries.at(-1);
    if (applied !== undefined) this.#applied = Math.max(this.#applied, applied.index);
    this.#outbox.splice(0, ready.messages.length);
    this.#readStates.splice(0, ready.readStates.length);
    // The leader counts itself towards a quorum only for entries on its own disk.
    if (this.#role === "leader" && this.#maybeCommit()) this.#broadcastAppend(true);
  }

  // ---------------------------------------------------------------- terms and elections

  /** Applies the term rules common to every message; false when the message is to be dropped. */
  #stepTerm(m: RaftMessage): boolean {
    if (m.term > this.#term) {
      if (m.type === "pre_vote" || m.type === "vote") {
        const transfer = m.type === "vote" && m.transfer;
        // In lease: we heard from a live leader within the minimum election timeout, so the
        // candidate is probably a partitioned or removed node; ignoring it keeps it harmless.
        const inLease = this.#checkQuorum && this.#leaderId !== null &&
          this.#electionElapsed < this.#electionTicks;
        if (inLease && !transfer) return false;
      }
      if (m.type === "pre_vote" || (m.type === "pre_vote_response" && m.granted)) return true;
      const fromLeader = m.type === "append" || m.type === "heartbeat" || m.type === "snapshot";
      this.#becomeFollower(m.term, fromLeader ? m.from : null);
      return true;
    }
    if (m.term < this.#term) {
      if (this.#grantStaleVotes && m.type === "vote") return true;
      if ((this.#checkQuorum || this.#preVote) && (m.type === "append" || m.type === "heartbeat")) {
        // Tell a stale leader our term so it steps down instead of waiting out its timeout.
        this.#send({
          ...this.#base(m.from),
          type: "append_response",
          index: 0,
          reject: false,
          hintIndex: 0,
          hintTerm: 0,
        });
      } else if (m.type === "pre_vote") {
        this.#send({ ...this.#base(m.from), type: "pre_vote_response", granted: false });
      }
      return false;
    }
    return true;
  }

  #handleVoteRequest(m: Extract<RaftMessage, { type: "pre_vote" | "vote" }>): void {
    const canVote = this.#vote === m.from ||
      (this.#vote === null && this.#leaderId === null) ||
      (m.type === "pre_vote" && m.term > this.#term) ||
      (this.#grantStaleVotes && m.type === "vote");
    const responseType = m.type === "pre_vote" ? "pre_vote_response" : "vote_response";
    if (canVote && this.#log.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      // A granted pre-vote answers at the candidate's future term so it can count it.
      this.#send({
        v: 1,
        from: this.id,
        to: m.from,
        term: m.term,
        type: responseType,
        granted: true,
      });
      if (m.type === "vote") {
        this.#electionElapsed = 0;
        this.#vote = m.from;
      }
      return;
    }
    this.#send({ ...this.#base(m.from), type: responseType, granted: false });
  }

  #handleVoteResponse(
    from: NodeId,
    type: "pre_vote_response" | "vote_response",
    granted: boolean,
  ): void {
    const expected = this.#role === "pre_candidate"
      ? "pre_vote_response"
      : this.#role === "candidate"
      ? "vote_response"
      : null;
    if (type !== expected || !this.#voters.includes(from)) return;
    if (!this.#votes.has(from)) this.#votes.set(from, granted);
    const quorum = _quorum(this.#voters.length);
    let yes = 0, no = 0;
    for (const g of this.#votes.values()) g ? yes++ : no++;
    if (yes >= quorum) {
      if (this.#role === "pre_candidate") this.#campaign("real", false);
      else this.#becomeLeader();
    } else if (no >= quorum) {
      this.#becomeFollower(this.#term, null);
    }
  }

  #campaign(kind: "pre" | "real", transfer: boolean): void {
    if (!this.#isPromotable()) return;
    if (kind === "pre") this.#becomePreCandidate();
    else this.#becomeCandidate();
    const voteTerm = kind === "pre" ? this.#term + 1 : this.#term;
    this.#votes.set(this.id, true);
    if (_quorum(this.#voters.length) <= 1) {
      if (kind === "pre") this.#campaign("real", false);
      else this.#becomeLeader();
      return;
    }
    const lastLogIndex = this.#log.lastIndex();
    const lastLogTerm = this.#log.lastTerm();
    for (const to of this.#voters) {
      if (to === this.id) continue;
      const base = { v: 1 as const, from: this.id, to, term: voteTerm, lastLogIndex, lastLogTerm };
      this.#send(
        kind === "pre" ? { ...base, type: "pre_vote" } : { ...base, type: "vote", transfer },
      );
    }
  }

  #becomeFollower(term: number, leaderId: NodeId | null): void {
    if (term !== this.#term) {
      this.#term = term;
      this.#vote = null;
    }
    this.#role = "follower";
    this.#leaderId = leaderId;
    this.#resetRoleState();
  }

  #becomePreCandidate(): void {
    // Pre-candidacy changes neither term nor vote: a node that cannot win disturbs no one.
    this.#role = "pre_candidate";
    this.#leaderId = null;
    this.#resetRoleState();
  }

  #becomeCandidate(): void {
    this.#term++;
    this.#vote = this.id;
    this.#role = "candidate";
    this.#leaderId = null;
    this.#resetRoleState();
  }

  #becomeLeader(): void {
    assert(this.#role === "candidate", `only a candidate becomes leader, not a ${this.#role}`);
    this.#role = "leader";
    this.#leaderId = this.id;
    this.#resetRoleState();
    this.#syncProgress();
    // An empty entry of the new term lets the leader commit everything before it, and is the
    // "entry of its own term" that ReadIndex and membership changes wait for.
    this.#appendAsLeader("normal", "");
  }

  #resetRoleState(): void {
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#resetRandomizedElectionTimeout();
    this.#votes.clear();
    this.#progress.clear();
    this.#leadTransferee = null;
    // Reads in flight cannot be confirmed by a node that is no longer leader; clients retry.
    this.#pendingReads = [];
    this.#readsAwaitingTermCommit = [];
  }

  #resetRandomizedElectionTimeout(): void {
    this.#randomizedElectionTimeout = this.#electionTicks +
      Math.floor(this.#random.next() * this.#electionTicks);
  }

  #isPromotable(): boolean {
    return this.#voters.includes(this.id) && this.#snapshotToApply === null;
  }

  // ---------------------------------------------------------------- leader

  #tickLeader(): void {
    this.#heartbeatElapsed++;
    this.#electionElapsed++;
    for (const pr of this.#progress.values()) {
      if (pr.state === "snapshot" && ++pr.snapshotElapsed >= this.#electionTicks) pr.becomeProbe();
    }
    if (this.#electionElapsed >= this.#electionTicks) {
      this.#electionElapsed = 0;
      if (this.#checkQuorum && !this.#quorumActive()) {
        this.#becomeFollower(this.#term, null);
        return;
      }
      this.#leadTransferee = null;
    }
    if (this.#heartbeatElapsed >= this.#heartbeatTicks) {
      this.#heartbeatElapsed = 0;
      this.#broadcastHeartbeat("");
    }
  }

  /** True when a quorum (counting this node) answered since the last check; resets the marks. */
  #quorumActive(): boolean {
    let active = 0;
    for (const v of this.#voters) {
      if (v === this.id) active++;
      else if (this.#progress.get(v)?.recentActive) active++;
    }
    for (const pr of this.#progress.values()) pr.recentActive = false;
    return active >= _quorum(this.#voters.length);
  }

  #checkCanPropose(): void {
    if (this.#role !== "leader") throw new NotLeaderError(this.id, this.#leaderId);
    if (this.#leadTransferee !== null) {
      throw new ProposalDroppedError(
        `Cannot propose as leadership is moving to ${this.#leadTransferee}`,
      );
    }
    const uncommitted = this.#log.lastIndex() - this.#commit;
    if (uncommitted >= this.#uncommittedMax) {
      throw new ProposalDroppedError(
        `Cannot propose as at most ${this.#uncommittedMax} entries may be uncommitted: current value is ${uncommitted}`,
      );
    }
  }

  #appendAsLeader(kind: Entry["kind"], data: string): number {
    const index = this.#log.lastIndex() + 1;
    this.#log.truncateAndAppend([{ index, term: this.#term, kind, data }]);
    if (kind === "config") this.#recomputeVoters();
    this.#broadcastAppend();
    return index;
  }

  /** Raises the commit index to what a quorum holds; true when it moved. */
  #maybeCommit(): boolean {
    if (this.#voters.length === 0) return false;
    const matches = this.#voters.map((v) =>
      v === this.id ? this.#stableIndex : this.#progress.get(v)?.match ?? 0
    );
    matches.sort((a, b) => b - a);
    const candidate = matches[_quorum(this.#voters.length) - 1] ?? 0;
    // Only entries of the current term are committed by counting (Raft paper, section 5.4.2).
    if (candidate <= this.#commit || this.#log.term(candidate) !== this.#term) return false;
    const hadTermEntry = this.#log.term(this.#commit) === this.#term;
    this.#commit = candidate;
    if (!hadTermEntry) {
      const waiting = this.#readsAwaitingTermCommit;
      this.#readsAwaitingTermCommit = [];
      for (const context of waiting) this.#startRead(context);
    }
    if (!this.#voters.includes(this.id) && this.#commit >= this.#pendingConfIndex) {
      // This leader's own removal is committed; the remaining voters elect a successor.
      this.#becomeFollower(this.#term, null);
    }
    return true;
  }

  /**
   * Sends every follower what it lacks. After the commit index moved, `allowEmpty` also sends
   * appends that carry no entries, as etcd's bcastAppend does, so followers learn the new
   * commit at once instead of at the next heartbeat.
   */
  #broadcastAppend(allowEmpty = false): void {
    if (this.#role !== "leader") return;
    for (const id of this.#progress.keys()) this.#sendAppend(id, allowEmpty);
  }

  #broadcastHeartbeat(context: string): void {
    for (const [to, pr] of this.#progress) {
      this.#send({
        ...this.#base(to),
        type: "heartbeat",
        commit: Math.min(pr.match, this.#commit),
        context,
      });
    }
  }

  /** Sends the next append to `to` if its window allows; an empty one only when `allowEmpty`. */
  #sendAppend(to: NodeId, allowEmpty: boolean): boolean {
    const pr = this.#progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.#log.term(prevIndex);
    if (prevTerm === undefined || pr.next < this.#log.firstIndex()) {
      this.#send({ ...this.#base(to), type: "snapshot", snapshot: this.#snapshot });
      pr.becomeSnapshot(this.#snapshot.index);
      return true;
    }
    const entries = this.#log.slice(pr.next, Infinity, this.#appendEntriesMax);
    if (entries.length === 0 && !allowEmpty && pr.state === "replicate") return false;
    this.#send({
      ...this.#base(to),
      type: "append",
      prevIndex,
      prevTerm,
      entries,
      commit: this.#commit,
    });
    const last = entries.at(-1);
    if (pr.state === "replicate" && last !== undefined) pr.sentReplicate(last.index);
    else if (pr.state === "probe") pr.probeSent = true;
    return true;
  }

  #handleAppendResponse(m: AppendResponseMessage): void {
    const pr = this.#progress.get(m.from);
    if (this.#role !== "leader" || pr === undefined) return;
    pr.recentActive = true;
    if (m.reject) {
      const hint = m.hintTerm > 0
        ? this.#log.findConflictByTerm(m.hintIndex, m.hintTerm)[0]
        : m.hintIndex;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.#sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === "probe") pr.becomeReplicate();
    else if (pr.state === "snapshot" && pr.match + 1 >= this.#log.firstIndex()) {
      pr.becomeReplicate();
    }
    if (this.#maybeCommit()) this.#broadcastAppend(true);
    else if (wasPaused) this.#sendAppend(m.from, false);
    while (this.#role === "leader" && this.#sendAppend(m.from, false));
    if (m.from === this.#leadTransferee && pr.match === this.#log.lastIndex()) {
      this.#send({ ...this.#base(m.from), type: "timeout_now" });
    }
  }

  #handleHeartbeatResponse(m: HeartbeatResponseMessage): void {
    const pr = this.#progress.get(m.from);
    if (this.#role !== "leader" || pr === undefined) return;
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.state === "replicate" && pr.isPaused()) pr.freeFirstInflight();
    if (pr.match < this.#log.lastIndex()) this.#sendAppend(m.from, true);
    if (m.context !== "") this.#ackRead(m.context, m.from);
  }

  #startRead(context: string): void {
    const self = this.#voters.includes(this.id) ? [this.id] : [];
    this.#pendingReads.push({ context, index: this.#commit, acks: new Set(self) });
    this.#ackRead(context, null);
    if (this.#pendingReads.some((r) => r.context === context)) this.#broadcastHeartbeat(context);
  }

  /** Counts a heartbeat answer for a read; a quorum confirms it and every read queued before it. */
  #ackRead(context: string, from: NodeId | null): void {
    const at = this.#pendingReads.findIndex((r) => r.context === context);
    const read = this.#pendingReads[at];
    if (read === undefined) return;
    if (from !== null && this.#voters.includes(from)) read.acks.add(from);
    if (read.acks.size < _quorum(this.#voters.length)) return;
    for (const r of this.#pendingReads.splice(0, at + 1)) {
      this.#readStates.push({ context: r.context, index: r.index });
    }
  }

  // ---------------------------------------------------------------- follower

  #stepFromLeader(m: AppendMessage | HeartbeatMessage | SnapshotMessage): void {
    if (this.#role === "leader") {
      // Two leaders in one term would break election safety; the term check makes it impossible.
      assert(false, `leader ${this.id} got ${m.type} from ${m.from} in its own term ${m.term}`);
    }
    if (this.#role !== "follower") this.#becomeFollower(m.term, m.from);
    this.#leaderId = m.from;
    this.#electionElapsed = 0;
    if (m.type === "append") this.#handleAppend(m);
    else if (m.type === "heartbeat") this.#handleHeartbeat(m);
    else this.#handleSnapshot(m);
  }

  #handleAppend(m: AppendMessage): void {
    if (m.prevIndex < this.#commit) {
      this.#sendAppendResponse(m.from, this.#commit, false);
      return;
    }
    if (this.#log.term(m.prevIndex) !== m.prevTerm) {
      const [hintIndex, hintTerm] = this.#log.findConflictByTerm(
        Math.min(m.prevIndex, this.#log.lastIndex()),
        m.prevTerm,
      );
      this.#send({
        ...this.#base(m.from),
        type: "append_response",
        index: m.prevIndex,
        reject: true,
        hintIndex,
        hintTerm,
      });
      return;
    }
    const lastNew = m.prevIndex + m.entries.length;
    const conflict = this.#log.findConflict(m.entries);
    if (conflict !== 0) {
      assert(
        conflict > this.#commit,
        `entry ${conflict} conflicts with the committed log (commit ${this.#commit})`,
      );
      const from = m.entries.findIndex((e) => e.index === conflict);
      const replaced = conflict <= this.#log.lastIndex();
      this.#log.truncateAndAppend(m.entries.slice(from));
      this.#stableIndex = Math.min(this.#stableIndex, conflict - 1);
      if (replaced || m.entries.some((e) => e.kind === "config")) this.#recomputeVoters();
    }
    this.#commitTo(Math.min(m.commit, lastNew));
    this.#sendAppendResponse(m.from, lastNew, false);
  }

  #handleHeartbeat(m: HeartbeatMessage): void {
    this.#commitTo(m.commit);
    this.#send({ ...this.#base(m.from), type: "heartbeat_response", context: m.context });
  }

  #handleSnapshot(m: SnapshotMessage): void {
    const s = m.snapshot;
    if (s.index <= this.#commit) {
      this.#sendAppendResponse(m.from, this.#commit, false);
      return;
    }
    if (this.#log.term(s.index) === s.term) {
      // We already hold the snapshot's last entry, so by log matching all before it too.
      this.#commitTo(s.index);
      this.#sendAppendResponse(m.from, this.#commit, false);
      return;
    }
    this.#log.reset(s.index, s.term);
    this.#snapshot = s;
    this.#commit = s.index;
    this.#stableIndex = s.index;
    this.#snapshotToPersist = s;
    this.#snapshotToApply = s;
    this.#recomputeVoters();
    this.#sendAppendResponse(m.from, s.index, false);
  }

  #sendAppendResponse(to: NodeId, index: number, reject: boolean): void {
    this.#send({
      ...this.#base(to),
      type: "append_response",
      index,
      reject,
      hintIndex: 0,
      hintTerm: 0,
    });
  }

  #commitTo(index: number): void {
    const target = Math.min(index, this.#log.lastIndex());
    if (target > this.#commit) this.#commit = target;
  }

  // ---------------------------------------------------------------- configuration

  /** The voter set of the latest config entry, else of the snapshot, else the bootstrap set. */
  #recomputeVoters(): void {
    this.#voters = this.#votersAt(this.#log.lastIndex());
    this.#pendingConfIndex = 0;
    const all = this.#log.all();
    for (let i = all.length - 1; i >= 0; i--) {
      if (all[i]!.kind === "config") {
        this.#pendingConfIndex = all[i]!.index;
        break;
      }
    }
    if (this.#role === "leader") this.#syncProgress();
  }

  #votersAt(index: number): NodeId[] {
    for (let i = Math.min(index, this.#log.lastIndex()); i > this.#log.snapshotIndex; i--) {
      const e = this.#log.entry(i)!;
      if (e.kind === "config") return configEntryVoters(e);
    }
    if (this.#snapshot.index === 0 && this.#snapshot.voters.length === 0) {
      return [...this.#bootstrapVoters];
    }
    return [...this.#snapshot.voters];
  }

  /** Gives every voter but this node a progress entry, and drops those of removed voters. */
  #syncProgress(): void {
    for (const id of this.#progress.keys()) {
      if (!this.#voters.includes(id)) this.#progress.delete(id);
    }
    for (const v of this.#voters) {
      if (v !== this.id && !this.#progress.has(v)) {
        const pr = new Progress(this.#log.lastIndex() + 1, this.#inflightMax);
        // A new peer counts as active so that adding it cannot fail the very next quorum check.
        pr.recentActive = true;
        this.#progress.set(v, pr);
      }
    }
    if (this.#leadTransferee !== null && !this.#progress.has(this.#leadTransferee)) {
      this.#leadTransferee = null;
    }
  }

  // ---------------------------------------------------------------- plumbing

  #base(to: NodeId): { v: 1; from: NodeId; to: NodeId; term: number } {
    return { v: 1, from: this.id, to, term: this.#term };
  }

  #send(m: RaftMessage): void {
    // A bounded outbox: past the limit, behave like the lossy network Raft already tolerates.
    if (this.#outbox.length < this.#outboxMax) this.#outbox.push(m);
  }

  #hardState(): HardState {
    return { term: this.#term, vote: this.#vote, commit: this.#commit };
  }

  #hardStateChanged(): boolean {
    const p = this.#persistedHardState;
    return p.term !== this.#term || p.vote !== this.#vote || p.commit !== this.#commit;
  }

  #nextCommittedIndex(): number {
    if (this.#snapshotToApply !== null) return this.#applied;
    return Math.min(this.#commit, this.#log.lastIndex(), this.#applied + this.#applyMax);
  }
}

function _quorum(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

function _applyChange(voters: readonly NodeId[], change: ConfChange): NodeId[] {
  const has = voters.includes(change.nodeId);
  if (change.op === "add") {
    if (has) {
      throw new ConfChangeRejectedError(
        `Cannot add ${change.nodeId} as it is already a voter`,
        false,
      );
    }
    return [...voters, change.nodeId];
  }
  if (!has) {
    throw new ConfChangeRejectedError(`Cannot remove ${change.nodeId} as it is not a voter`, false);
  }
  if (voters.length === 1) {
    throw new ConfChangeRejectedError(
      `Cannot remove ${change.nodeId} as it is the last voter`,
      false,
    );
  }
  return voters.filter((v) => v !== change.nodeId);
}
