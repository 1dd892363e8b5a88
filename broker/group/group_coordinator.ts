/**
 * The classic consumer-group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) as a
 * sans-IO state machine, following Apache Kafka's `GroupCoordinator`:
 *
 * ```text
 *   Empty --join--> PreparingRebalance --all joined / rebalance timeout--> CompletingRebalance
 *   CompletingRebalance --leader's SyncGroup--> Stable
 *   Stable | CompletingRebalance --join, leave, session expiry--> PreparingRebalance
 *   PreparingRebalance --nobody rejoined--> Empty ;  Empty --delete--> Dead
 * ```
 *
 * Requests that wait (JoinGroup until the rebalance completes, SyncGroup until the leader's
 * assignment arrives) take a callback; everything else answers synchronously. Time comes from an
 * injected {@linkcode Clock}, so tests drive session and rebalance timeouts by hand. The
 * coordinator keeps membership in memory only; committed offsets live in the offset store.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../../ops/clock.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import type {
  CommitIdentity,
  DescribedGroup,
  GroupProtocol,
  GroupState,
  HeartbeatRequest,
  JoinRequest,
  JoinResult,
  LeaveResult,
  LeavingMember,
  ListedGroup,
  SyncRequest,
  SyncResult,
} from "./group_types.ts";

/** Options of {@linkcode GroupCoordinator}. */
export interface GroupCoordinatorOptions {
  readonly timers: Clock;
  /** A fresh unique suffix for member ids (the driver draws a UUID from its `Random`). */
  readonly newId: () => string;
  /** `group.min.session.timeout.ms`. @default 6000 */
  readonly sessionTimeoutMinMs?: number | undefined;
  /** `group.max.session.timeout.ms`. @default 1800000 */
  readonly sessionTimeoutMaxMs?: number | undefined;
  /** `group.initial.rebalance.delay.ms`: how long a new group waits for more members. @default 3000 */
  readonly initialRebalanceDelayMs?: number | undefined;
  /** `group.max.size`. @default 1000 */
  readonly groupSizeMax?: number | undefined;
  /** Most groups the coordinator holds; new groups are refused beyond it. @default 100000 */
  readonly groupsMax?: number | undefined;
}

interface _Member {
  memberId: string;
  readonly instanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: readonly GroupProtocol[];
  assignment: Uint8Array;
  awaitingJoin: ((r: JoinResult) => void) | null;
  awaitingSync: ((r: SyncResult) => void) | null;
  heartbeatTimer: TimerHandle | null;
}

interface _Group {
  readonly id: string;
  state: GroupState;
  generation: number;
  protocolType: string | null;
  protocolName: string | null;
  leaderId: string | null;
  /** In join order, which also decides the next leader. */
  readonly members: Map<string, _Member>;
  /** group.instance.id to member id. */
  readonly staticMembers: Map<string, string>;
  /** Member ids handed out with MEMBER_ID_REQUIRED, and their expiry timers. */
  readonly pending: Map<string, TimerHandle>;
  joinTimer: TimerHandle | null;
  /** Initial delayed join: a member joined since the delay was last armed. */
  newMemberAdded: boolean;
  /** Initial delayed join: rebalance-timeout budget left for further extensions. */
  initialDelayLeftMs: number;
  /** The join in progress is an initial delayed join (it never completes early). */
  initialJoin: boolean;
  stateSinceMs: number;
}

const _EMPTY = new Uint8Array(0);

/** Kafka's limit on group id length is the string limit; ours is smaller and explicit. */
export const GROUP_ID_BYTES_MAX = 255;

/**
 * The consumer-group state machine.
 *
 * @example
 * ```ts
 * import { GroupCoordinator } from "./group_coordinator.ts";
 * import { ManualClock } from "../../ops/clock.ts";
 * import assert from "node:assert/strict";
 * const timers = new ManualClock();
 * const c = new GroupCoordinator({ timers, newId: () => "1", initialRebalanceDelayMs: 100 });
 * let joined: { memberId: string; generationId: number } | null = null;
 * c.join({
 *   groupId: "g", memberId: "", groupInstanceId: null, clientId: "app", clientHost: "/10.0.0.1",
 *   sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 30_000, protocolType: "consumer",
 *   protocols: [{ name: "range", metadata: new Uint8Array() }], requireKnownMemberId: false,
 * }, (r) => (joined = r));
 * timers.advance(100); // the initial rebalance delay
 * assert.equal(joined!.memberId, "app-1");
 * assert.equal(c.stateOf("g"), "CompletingRebalance");
 * ```
 */
export class GroupCoordinator {
  readonly #groups = new Map<string, _Group>();
  readonly #t: Clock;
  readonly #newId: () => string;
  readonly #sessionMinMs: number;
  readonly #sessionMaxMs: number;
  readonly #initialDelayMs: number;
  readonly #groupSizeMax: number;
  readonly #groupsMax: number;

  constructor(options: GroupCoordinatorOptions) {
    this.#t = options.timers;
    this.#newId = options.newId;
    this.#sessionMinMs = _int("sessionTimeoutMinMs", options.sessionTimeoutMinMs, 6000, 1);
    this.#sessionMaxMs = _int("sessionTimeoutMaxMs", options.sessionTimeoutMaxMs, 1_800_000, 1);
    if (this.#sessionMaxMs < this.#sessionMinMs) {
      throw new RangeError(
        `Cannot create GroupCoordinator as sessionTimeoutMaxMs (${this.#sessionMaxMs}) < sessionTimeoutMinMs (${this.#sessionMinMs})`,
      );
    }
    this.#initialDelayMs = _int(
      "initialRebalanceDelayMs",
      options.initialRebalanceDelayMs,
      3000,
      0,
    );
    this.#groupSizeMax = _int("groupSizeMax", options.groupSizeMax, 1000, 1);
    this.#groupsMax = _int("groupsMax", options.groupsMax, 100_000, 1);
  }

  // ---------------------------------------------------------------- JoinGroup

  /** Handles JoinGroup; `respond` is called once, possibly much later (after the rebalance). */
  join(req: JoinRequest, respond: (r: JoinResult) => void): void {
    const fail = (errorCode: number, memberId = req.memberId) =>
      respond(_joinError(errorCode, memberId));
    if (!_validGroupId(req.groupId)) return fail(ErrorCode.INVALID_GROUP_ID);
    if (req.sessionTimeoutMs < this.#sessionMinMs || req.sessionTimeoutMs > this.#sessionMaxMs) {
      return fail(ErrorCode.INVALID_SESSION_TIMEOUT);
    }
    if (req.protocolType === "" || req.protocols.length === 0) {
      return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    let g = this.#groups.get(req.groupId);
    if (g === undefined) {
      // A member id the coordinator never gave out (or from before a restart) must rejoin.
      if (req.memberId !== "") return fail(ErrorCode.UNKNOWN_MEMBER_ID);
      if (this.#groups.size >= this.#groupsMax) return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      g = this.#createGroup(req.groupId);
    }
    if (g.state === "Dead") return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (!this.#protocolsCompatible(g, req)) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    if (req.memberId === "") this.#joinUnknown(g, req, respond);
    else this.#joinKnown(g, req, respond);
  }

  #joinUnknown(g: _Group, req: JoinRequest, respond: (r: JoinResult) => void): void {
    const instanceId = req.groupInstanceId;
    if (instanceId !== null && g.staticMembers.has(instanceId)) {
      return this.#replaceStaticMember(g, req, respond);
    }
    if (g.members.size + g.pending.size >= this.#groupSizeMax) {
      return respond(_joinError(ErrorCode.GROUP_MAX_SIZE_REACHED, ""));
    }
    const memberId = `${instanceId ?? req.clientId}-${this.#newId()}`;
    if (instanceId === null && req.requireKnownMemberId) {
      // KIP-394: the client learns its id first, so a client that dies mid-join leaves only a
      // pending id (which expires) rather than a member the group would wait for.
      const timer = this.#t.setTimer(req.sessionTimeoutMs, () => this.#expirePending(g, memberId));
      g.pending.set(memberId, timer);
      return respond(_joinError(ErrorCode.MEMBER_ID_REQUIRED, memberId));
    }
    this.#addMember(g, memberId, req, respond);
  }

  #joinKnown(g: _Group, req: JoinRequest, respond: (r: JoinResult) => void): void {
    const pendingTimer = g.pending.get(req.memberId);
    if (pendingTimer !== undefined) {
      this.#t.clearTimer(pendingTimer);
      g.pending.delete(req.memberId);
      return this.#addMember(g, req.memberId, req, respond);
    }
    const err = this.#memberError(g, req.memberId, req.groupInstanceId);
    if (err !== ErrorCode.NONE) return respond(_joinError(err, req.memberId));
    const m = g.members.get(req.memberId)!;
    if (g.state === "PreparingRebalance") return this.#updateAndRebalance(g, m, req, respond);
    if (g.state === "CompletingRebalance" || g.state === "Stable") {
      const unchanged = _sameProtocols(m.protocols, req.protocols);
      // A follower that rejoins with the same metadata (it lost the response, say) just gets
      // the current generation back; the leader rejoining in Stable means it wants a new
      // assignment (a metadata change it detected), so it triggers a rebalance.
      const isLeader = g.leaderId === m.memberId;
      if (unchanged && (g.state === "CompletingRebalance" || !isLeader)) {
        this.#touchMember(g, m, req);
        return respond(this.#joinResultFor(g, m, g.state === "CompletingRebalance" && isLeader));
      }
      return this.#updateAndRebalance(g, m, req, respond);
    }
    respond(_joinError(ErrorCode.UNKNOWN_MEMBER_ID, req.memberId));
  }

  #addMember(g: _Group, memberId: string, req: JoinRequest, respond: (r: JoinResult) => void) {
    const m: _Member = {
      memberId,
      instanceId: req.groupInstanceId,
      clientId: req.clientId,
      clientHost: req.clientHost,
      sessionTimeoutMs: req.sessionTimeoutMs,
      rebalanceTimeoutMs: req.rebalanceTimeoutMs,
      protocols: req.protocols,
      assignment: _EMPTY,
      awaitingJoin: respond,
      awaitingSync: null,
      heartbeatTimer: null,
    };
    if (g.members.size === 0) g.protocolType = req.protocolType;
    g.members.set(memberId, m);
    if (m.instanceId !== null) g.staticMembers.set(m.instanceId, memberId);
    g.leaderId ??= memberId;
    if (g.state === "PreparingRebalance" && g.initialJoin) g.newMemberAdded = true;
    this.#scheduleHeartbeat(g, m);
    this.#maybePrepareRebalance(g);
    this.#maybeCompleteJoin(g);
  }

  #updateAndRebalance(g: _Group, m: _Member, req: JoinRequest, respond: (r: JoinResult) => void) {
    this.#touchMember(g, m, req);
    m.awaitingJoin?.(_joinError(ErrorCode.REBALANCE_IN_PROGRESS, m.memberId));
    m.awaitingJoin = respond;
    this.#maybePrepareRebalance(g);
    this.#maybeCompleteJoin(g);
  }

  #touchMember(g: _Group, m: _Member, req: JoinRequest): void {
    m.protocols = req.protocols;
    m.sessionTimeoutMs = req.sessionTimeoutMs;
    m.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
    m.clientId = req.clientId;
    m.clientHost = req.clientHost;
    this.#scheduleHeartbeat(g, m);
  }

  /**
   * A static member came back with a new process (no member id): it takes over the old
   * member's place. In a Stable group with unchanged protocols no rebalance happens: it gets the
   * current generation and keeps its assignment (fetched with SyncGroup).
   */
  #replaceStaticMember(g: _Group, req: JoinRequest, respond: (r: JoinResult) => void): void {
    const instanceId = req.groupInstanceId!;
    const old = g.members.get(g.staticMembers.get(instanceId)!)!;
    const newId = `${instanceId}-${this.#newId()}`;
    // The old process, if it is somehow still around, is fenced from now on.
    old.awaitingJoin?.(_joinError(ErrorCode.FENCED_INSTANCE_ID, old.memberId));
    old.awaitingSync?.(_syncError(ErrorCode.FENCED_INSTANCE_ID));
    old.awaitingJoin = null;
    old.awaitingSync = null;
    const unchanged = _sameProtocols(old.protocols, req.protocols);
    const oldId = old.memberId;
    const wasLeader = g.leaderId === oldId;
    g.members.delete(oldId);
    old.memberId = newId;
    g.members.set(newId, old);
    g.staticMembers.set(instanceId, newId);
    if (wasLeader) g.leaderId = newId;
    this.#touchMember(g, old, req);
    if (g.state === "Stable" && unchanged) {
      // The old leader id is returned, so even a returning leader does not think it must
      // compute an assignment that a Stable group would never distribute.
      const leaderId = wasLeader ? oldId : g.leaderId ?? "";
      return respond({ ...this.#joinResultFor(g, old, false), leaderId });
    }
    old.awaitingJoin = respond;
    this.#maybePrepareRebalance(g);
    this.#maybeCompleteJoin(g);
  }

  // ------------------------------------------------------------- rebalancing

  #maybePrepareRebalance(g: _Group): void {
    if (g.state !== "Stable" && g.state !== "CompletingRebalance" && g.state !== "Empty") return;
    if (g.state === "CompletingRebalance") {
      // Members waiting for an assignment of a generation that will never be Stable.
      for (const m of g.members.values()) {
        m.assignment = _EMPTY;
        this.#answerSync(g, m, _syncError(ErrorCode.REBALANCE_IN_PROGRESS));
      }
    }
    const rebalanceTimeoutMs = Math.max(
      0,
      ...[...g.members.values()].map((m) => m.rebalanceTimeoutMs),
    );
    g.initialJoin = g.state === "Empty";
    if (g.initialJoin) {
      const delay = Math.min(this.#initialDelayMs, rebalanceTimeoutMs);
      g.initialDelayLeftMs = rebalanceTimeoutMs - delay;
      g.newMemberAdded = false;
      this.#armJoinTimer(g, delay);
    } else {
      this.#armJoinTimer(g, rebalanceTimeoutMs);
    }
    this.#transition(g, "PreparingRebalance");
  }

  #armJoinTimer(g: _Group, delayMs: number): void {
    if (g.joinTimer !== null) this.#t.clearTimer(g.joinTimer);
    g.joinTimer = this.#t.setTimer(delayMs, () => this.#onJoinTimer(g));
  }

  #onJoinTimer(g: _Group): void {
    g.joinTimer = null;
    if (g.state !== "PreparingRebalance") return;
    if (g.initialJoin && g.newMemberAdded && g.initialDelayLeftMs > 0) {
      // Kafka's InitialDelayedJoin: keep waiting while members keep arriving, within budget.
      const delay = Math.min(this.#initialDelayMs, g.initialDelayLeftMs);
      g.initialDelayLeftMs -= delay;
      g.newMemberAdded = false;
      this.#armJoinTimer(g, delay);
      return;
    }
    this.#completeJoin(g);
  }

  #maybeCompleteJoin(g: _Group): void {
    if (g.state !== "PreparingRebalance" || g.initialJoin || g.pending.size > 0) return;
    for (const m of g.members.values()) if (m.awaitingJoin === null) return;
    this.#completeJoin(g);
  }

  /** Ends the join phase: drops members that did not rejoin and starts the next generation. */
  #completeJoin(g: _Group): void {
    if (g.joinTimer !== null) this.#t.clearTimer(g.joinTimer);
    g.joinTimer = null;
    g.initialJoin = false;
    for (const m of [...g.members.values()]) {
      if (m.awaitingJoin === null) this.#removeMember(g, m);
    }
    g.generation++;
    if (g.members.size === 0) {
      g.protocolName = null;
      g.leaderId = null;
      this.#transition(g, "Empty");
      return;
    }
    g.protocolName = _selectProtocol(g);
    if (g.leaderId === null || !g.members.has(g.leaderId)) {
      g.leaderId = g.members.keys().next().value!;
    }
    this.#transition(g, "CompletingRebalance");
    for (const m of g.members.values()) {
      const respond = m.awaitingJoin!;
      m.awaitingJoin = null;
      m.assignment = _EMPTY;
      this.#scheduleHeartbeat(g, m);
      respond(this.#joinResultFor(g, m, m.memberId === g.leaderId));
    }
  }

  #joinResultFor(g: _Group, m: _Member, withMembers: boolean): JoinResult {
    const protocol = g.protocolName ?? "";
    return {
      errorCode: ErrorCode.NONE,
      generationId: g.generation,
      protocolType: g.protocolType,
      protocolName: g.protocolName,
      leaderId: g.leaderId ?? "",
      memberId: m.memberId,
      members: withMembers
        ? [...g.members.values()].map((x) => ({
          memberId: x.memberId,
          groupInstanceId: x.instanceId,
          metadata: x.protocols.find((p) => p.name === protocol)?.metadata ?? _EMPTY,
        }))
        : [],
    };
  }

  // ---------------------------------------------------------------- SyncGroup

  /** Handles SyncGroup; `respond` is called once the leader's assignment is known. */
  sync(req: SyncRequest, respond: (r: SyncResult) => void): void {
    if (!_validGroupId(req.groupId)) return respond(_syncError(ErrorCode.INVALID_GROUP_ID));
    const g = this.#groups.get(req.groupId);
    if (g === undefined) return respond(_syncError(ErrorCode.UNKNOWN_MEMBER_ID));
    if (g.state === "Dead") return respond(_syncError(ErrorCode.COORDINATOR_NOT_AVAILABLE));
    const err = this.#memberError(g, req.memberId, req.groupInstanceId);
    if (err !== ErrorCode.NONE) return respond(_syncError(err));
    if (req.generationId !== g.generation) return respond(_syncError(ErrorCode.ILLEGAL_GENERATION));
    if (
      (req.protocolType !== null && req.protocolType !== g.protocolType) ||
      (req.protocolName !== null && req.protocolName !== g.protocolName)
    ) {
      return respond(_syncError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL));
    }
    const m = g.members.get(req.memberId)!;
    if (g.state === "PreparingRebalance") {
      return respond(_syncError(ErrorCode.REBALANCE_IN_PROGRESS));
    }
    this.#scheduleHeartbeat(g, m);
    if (g.state === "Stable") return respond(this.#syncOk(g, m.assignment));
    // CompletingRebalance: wait for the leader; the leader's own sync releases everyone.
    m.awaitingSync?.(_syncError(ErrorCode.REBALANCE_IN_PROGRESS));
    m.awaitingSync = respond;
    if (m.memberId !== g.leaderId) return;
    for (const x of g.members.values()) x.assignment = req.assignments.get(x.memberId) ?? _EMPTY;
    this.#transition(g, "Stable");
    for (const x of g.members.values()) this.#answerSync(g, x, this.#syncOk(g, x.assignment));
  }

  #syncOk(g: _Group, assignment: Uint8Array): SyncResult {
    return {
      errorCode: ErrorCode.NONE,
      protocolType: g.protocolType,
      protocolName: g.protocolName,
      assignment,
    };
  }

  #answerSync(g: _Group, m: _Member, r: SyncResult): void {
    const respond = m.awaitingSync;
    if (respond === null) return;
    m.awaitingSync = null;
    this.#scheduleHeartbeat(g, m);
    respond(r);
  }

  // ---------------------------------------------------------------- Heartbeat

  /** Handles Heartbeat; returns the error code. */
  heartbeat(req: HeartbeatRequest): number {
    if (!_validGroupId(req.groupId)) return ErrorCode.INVALID_GROUP_ID;
    const g = this.#groups.get(req.groupId);
    if (g === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (g.state === "Dead") return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    const err = this.#memberError(g, req.memberId, req.groupInstanceId);
    if (err !== ErrorCode.NONE) return err;
    if (req.generationId !== g.generation) return ErrorCode.ILLEGAL_GENERATION;
    this.#scheduleHeartbeat(g, g.members.get(req.memberId)!);
    return g.state === "PreparingRebalance" ? ErrorCode.REBALANCE_IN_PROGRESS : ErrorCode.NONE;
  }

  #scheduleHeartbeat(g: _Group, m: _Member): void {
    if (m.heartbeatTimer !== null) this.#t.clearTimer(m.heartbeatTimer);
    const memberId = m.memberId;
    m.heartbeatTimer = this.#t.setTimer(m.sessionTimeoutMs, () => {
      m.heartbeatTimer = null;
      if (g.members.get(memberId) !== m) return;
      // A member parked in JoinGroup or SyncGroup cannot heartbeat; the rebalance timeout and
      // the leader's own session bound how long it can wait.
      if (m.awaitingJoin !== null || m.awaitingSync !== null) return this.#scheduleHeartbeat(g, m);
      this.#removeMemberAndUpdate(g, m);
    });
  }

  #expirePending(g: _Group, memberId: string): void {
    if (!g.pending.delete(memberId)) return;
    this.#maybeCompleteJoin(g);
  }

  // --------------------------------------------------------------- LeaveGroup

  /** Handles LeaveGroup for one or more members. */
  leave(groupId: string, members: readonly LeavingMember[]): LeaveResult {
    if (!_validGroupId(groupId)) return { errorCode: ErrorCode.INVALID_GROUP_ID, members: [] };
    const g = this.#groups.get(groupId);
    if (g === undefined) {
      const errorCode = ErrorCode.UNKNOWN_MEMBER_ID;
      return { errorCode: ErrorCode.NONE, members: members.map((x) => ({ ...x, errorCode })) };
    }
    if (g.state === "Dead") return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, members: [] };
    const results = members.map((x) => ({ ...x, errorCode: this.#leaveOne(g, x) }));
    return { errorCode: ErrorCode.NONE, members: results };
  }

  #leaveOne(g: _Group, x: LeavingMember): number {
    if (x.groupInstanceId !== null) {
      const current = g.staticMembers.get(x.groupInstanceId);
      if (current === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
      if (x.memberId !== "" && x.memberId !== current) return ErrorCode.FENCED_INSTANCE_ID;
      this.#removeMemberAndUpdate(g, g.members.get(current)!);
      return ErrorCode.NONE;
    }
    const timer = g.pending.get(x.memberId);
    if (timer !== undefined) {
      this.#t.clearTimer(timer);
      g.pending.delete(x.memberId);
      this.#maybeCompleteJoin(g);
      return ErrorCode.NONE;
    }
    const m = g.members.get(x.memberId);
    if (m === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    this.#removeMemberAndUpdate(g, m);
    return ErrorCode.NONE;
  }

  #removeMember(g: _Group, m: _Member): void {
    if (m.heartbeatTimer !== null) this.#t.clearTimer(m.heartbeatTimer);
    m.heartbeatTimer = null;
    g.members.delete(m.memberId);
    if (m.instanceId !== null && g.staticMembers.get(m.instanceId) === m.memberId) {
      g.staticMembers.delete(m.instanceId);
    }
    if (g.leaderId === m.memberId) g.leaderId = g.members.keys().next().value ?? null;
    const join = m.awaitingJoin;
    const sync = m.awaitingSync;
    m.awaitingJoin = null;
    m.awaitingSync = null;
    join?.(_joinError(ErrorCode.UNKNOWN_MEMBER_ID, m.memberId));
    sync?.(_syncError(ErrorCode.UNKNOWN_MEMBER_ID));
  }

  #removeMemberAndUpdate(g: _Group, m: _Member): void {
    this.#removeMember(g, m);
    if (g.state === "Stable" || g.state === "CompletingRebalance") this.#maybePrepareRebalance(g);
    // The member may have been the last one the join was waiting for (or the last one at all).
    this.#maybeCompleteJoin(g);
  }

  // ------------------------------------------------------------- validation

  /** FENCED_INSTANCE_ID or UNKNOWN_MEMBER_ID for a request naming a member, else NONE. */
  #memberError(g: _Group, memberId: string, instanceId: string | null): number {
    if (instanceId !== null) {
      const current = g.staticMembers.get(instanceId);
      if (current !== undefined && current !== memberId) return ErrorCode.FENCED_INSTANCE_ID;
    }
    return g.members.has(memberId) ? ErrorCode.NONE : ErrorCode.UNKNOWN_MEMBER_ID;
  }

  #protocolsCompatible(g: _Group, req: JoinRequest): boolean {
    const others = [...g.members.values()].filter((m) => m.memberId !== req.memberId);
    if (others.length === 0) return true;
    if (g.protocolType !== null && g.protocolType !== req.protocolType) return false;
    return req.protocols.some((p) =>
      others.every((m) => m.protocols.some((q) => q.name === p.name))
    );
  }

  /**
   * Checks that `who` may commit offsets now; creates an Empty group for a commit from outside
   * group management (generation -1, no member id) to a group that does not exist yet.
   * Returns the error code.
   */
  validateCommit(who: CommitIdentity): number {
    if (!_validGroupId(who.groupId)) return ErrorCode.INVALID_GROUP_ID;
    let g = this.#groups.get(who.groupId);
    const managed = who.generationId >= 0 || who.memberId !== "" || who.groupInstanceId !== null;
    if (g === undefined) {
      if (managed) return ErrorCode.ILLEGAL_GENERATION;
      if (this.#groups.size >= this.#groupsMax) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
      g = this.#createGroup(who.groupId);
    }
    if (g.state === "Dead") return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (!managed) return g.state === "Empty" ? ErrorCode.NONE : ErrorCode.UNKNOWN_MEMBER_ID;
    const err = this.#memberError(g, who.memberId, who.groupInstanceId);
    if (err !== ErrorCode.NONE) return err;
    if (who.generationId !== g.generation) return ErrorCode.ILLEGAL_GENERATION;
    if (g.state === "CompletingRebalance") return ErrorCode.REBALANCE_IN_PROGRESS;
    // A commit proves the member is alive, as in Kafka.
    this.#scheduleHeartbeat(g, g.members.get(who.memberId)!);
    return ErrorCode.NONE;
  }

  // ------------------------------------------------------- groups as a whole

  #createGroup(id: string): _Group {
    const g: _Group = {
      id,
      state: "Empty",
      generation: 0,
      protocolType: null,
      protocolName: null,
      leaderId: null,
      members: new Map(),
      staticMembers: new Map(),
      pending: new Map(),
      joinTimer: null,
      newMemberAdded: false,
      initialDelayLeftMs: 0,
      initialJoin: false,
      stateSinceMs: this.#t.nowMs(),
    };
    this.#groups.set(id, g);
    return g;
  }

  #transition(g: _Group, to: GroupState): void {
    g.state = to;
    g.stateSinceMs = this.#t.nowMs();
  }

  /**
   * Makes sure an (Empty) group exists, e.g. for committed offsets found at start-up, Empty
   * since `stateSinceMs` (the driver passes the group's last commit time).
   */
  ensureGroup(groupId: string, stateSinceMs?: number): void {
    if (this.#groups.has(groupId)) return;
    const g = this.#createGroup(groupId);
    if (stateSinceMs !== undefined) g.stateSinceMs = stateSinceMs;
  }

  /** The group's state, or undefined when the coordinator does not know it. */
  stateOf(groupId: string): GroupState | undefined {
    return this.#groups.get(groupId)?.state;
  }

  /** Since when (ms) the group has been in its state. */
  stateSinceMs(groupId: string): number | undefined {
    return this.#groups.get(groupId)?.stateSinceMs;
  }

  /**
   * Deletes an Empty group (DeleteGroups, or expiry of its last offsets). Returns NONE,
   * GROUP_ID_NOT_FOUND or NON_EMPTY_GROUP.
   */
  deleteGroup(groupId: string): number {
    if (!_validGroupId(groupId)) return ErrorCode.INVALID_GROUP_ID;
    const g = this.#groups.get(groupId);
    if (g === undefined) return ErrorCode.GROUP_ID_NOT_FOUND;
    if (g.state !== "Empty" || g.pending.size > 0) return ErrorCode.NON_EMPTY_GROUP;
    this.#transition(g, "Dead");
    this.#groups.delete(groupId);
    return ErrorCode.NONE;
  }

  /** Every group (ListGroups), optionally only those in the given states. */
  list(states: readonly GroupState[] = []): ListedGroup[] {
    const out: ListedGroup[] = [];
    for (const g of this.#groups.values()) {
      if (states.length > 0 && !states.includes(g.state)) continue;
      out.push({ groupId: g.id, protocolType: g.protocolType ?? "", state: g.state });
    }
    return out;
  }

  /** One group for DescribeGroups; an unknown group is described as Dead, as in Kafka. */
  describe(groupId: string): DescribedGroup {
    const g = this.#groups.get(groupId);
    if (g === undefined) {
      return {
        groupId,
        state: "Dead",
        protocolType: "",
        protocolName: "",
        generationId: -1,
        leaderId: "",
        members: [],
      };
    }
    const stable = g.state === "Stable";
    const protocol = stable ? g.protocolName ?? "" : "";
    return {
      groupId,
      state: g.state,
      protocolType: g.protocolType ?? "",
      protocolName: protocol,
      generationId: g.generation,
      leaderId: g.leaderId ?? "",
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.instanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        metadata: stable
          ? m.protocols.find((p) => p.name === protocol)?.metadata ?? _EMPTY
          : _EMPTY,
        assignment: stable ? m.assignment : _EMPTY,
      })),
    };
  }

  /**
   * Stops every timer and answers every parked request with `errorCode` (the broker passes
   * NOT_COORDINATOR on shutdown, so clients look for the coordinator again).
   */
  shutdown(errorCode: number): void {
    for (const g of this.#groups.values()) {
      if (g.joinTimer !== null) this.#t.clearTimer(g.joinTimer);
      g.joinTimer = null;
      for (const t of g.pending.values()) this.#t.clearTimer(t);
      g.pending.clear();
      for (const m of g.members.values()) {
        if (m.heartbeatTimer !== null) this.#t.clearTimer(m.heartbeatTimer);
        m.heartbeatTimer = null;
        const join = m.awaitingJoin;
        const sync = m.awaitingSync;
        m.awaitingJoin = null;
        m.awaitingSync = null;
        join?.(_joinError(errorCode, m.memberId));
        sync?.(_syncError(errorCode));
      }
    }
    this.#groups.clear();
  }
}

function _int(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min) {
    throw new RangeError(`Cannot create GroupCoordinator as ${name} is ${v}: it must be >= ${min}`);
  }
  return v;
}

function _validGroupId(id: string): boolean {
  return id !== "" && id.length <= GROUP_ID_BYTES_MAX;
}

function _joinError(errorCode: number, memberId: string): JoinResult {
  return {
    errorCode,
    generationId: -1,
    protocolType: null,
    protocolName: null,
    leaderId: "",
    memberId,
    members: [],
  };
}

function _syncError(errorCode: number): SyncResult {
  return { errorCode, protocolType: null, protocolName: null, assignment: _EMPTY };
}

function _sameProtocols(a: readonly GroupProtocol[], b: readonly GroupProtocol[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((p, i) => p.name === b[i]!.name && _sameBytes(p.metadata, b[i]!.metadata));
}

function _sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Kafka's protocol selection: among the protocols every member supports, each member votes for
 * the first of them in its own preference order; the most votes win, ties going to the earlier
 * candidate in the first member's order.
 */
function _selectProtocol(g: _Group): string {
  const members = [...g.members.values()];
  const first = members[0]!;
  const candidates = first.protocols.map((p) => p.name).filter((name) =>
    members.every((m) => m.protocols.some((p) => p.name === name))
  );
  // Join validation guarantees a common protocol; its absence is a bug.
  if (candidates.length === 0) throw new Error(`group ${g.id} has no common protocol`);
  const votes = new Map<string, number>(candidates.map((c) => [c, 0]));
  for (const m of members) {
    const choice = m.protocols.find((p) => votes.has(p.name))!.name;
    votes.set(choice, votes.get(choice)! + 1);
  }
  let best = candidates[0]!;
  for (const c of candidates) if (votes.get(c)! > votes.get(best)!) best = c;
  return best;
}
