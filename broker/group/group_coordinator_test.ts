import { ManualClock } from "../../ops/clock.ts";
import assert from "node:assert/strict";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import { GroupCoordinator, type GroupCoordinatorOptions } from "./group_coordinator.ts";
import type { GroupProtocol, JoinRequest, JoinResult, SyncResult } from "./group_types.ts";

const SESSION_MS = 10_000;
const REBALANCE_MS = 30_000;
const DELAY_MS = 100;

function _setup(options: Partial<GroupCoordinatorOptions> = {}) {
  const timers = new ManualClock(1_000_000);
  let n = 0;
  const c = new GroupCoordinator({
    timers,
    newId: () => `id${++n}`,
    initialRebalanceDelayMs: DELAY_MS,
    sessionTimeoutMinMs: 1000,
    ...options,
  });
  return { c, timers };
}

function _proto(name: string, meta = name): GroupProtocol {
  return { name, metadata: new TextEncoder().encode(meta) };
}

function _req(over: Partial<JoinRequest> = {}): JoinRequest {
  return {
    groupId: "g",
    memberId: "",
    groupInstanceId: null,
    clientId: "c",
    clientHost: "/127.0.0.1",
    sessionTimeoutMs: SESSION_MS,
    rebalanceTimeoutMs: REBALANCE_MS,
    protocolType: "consumer",
    protocols: [_proto("range")],
    requireKnownMemberId: false,
    ...over,
  };
}

/** A parked request's answer, or null while it is still waiting. */
interface _Slot<T> {
  value: T | null;
}

function _join(c: GroupCoordinator, req: JoinRequest): _Slot<JoinResult> {
  const slot: _Slot<JoinResult> = { value: null };
  c.join(req, (r) => {
    assert.ok(_waiting(slot), "join answered twice");
    slot.value = r;
  });
  return slot;
}

function _sync(
  c: GroupCoordinator,
  memberId: string,
  generationId: number,
  assignments: Record<string, string> = {},
  groupInstanceId: string | null = null,
): _Slot<SyncResult> {
  const slot: _Slot<SyncResult> = { value: null };
  c.sync({
    groupId: "g",
    generationId,
    memberId,
    groupInstanceId,
    protocolType: null,
    protocolName: null,
    assignments: new Map(
      Object.entries(assignments).map(([k, v]) => [k, new TextEncoder().encode(v)]),
    ),
  }, (r) => (slot.value = r));
  return slot;
}

function _hb(c: GroupCoordinator, memberId: string, generationId: number, instance?: string) {
  return c.heartbeat({ groupId: "g", memberId, generationId, groupInstanceId: instance ?? null });
}

function _waiting<T>(slot: _Slot<T>): boolean {
  return slot.value === null;
}

const _text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Forms a Stable group of `n` dynamic members; returns their ids (leader first) and generation. */
function _stableGroup(c: GroupCoordinator, timers: ManualClock, n: number) {
  const joins = Array.from({ length: n }, (_, i) => _join(c, _req({ clientId: `c${i}` })));
  timers.advance(DELAY_MS * (n + 1));
  const results = joins.map((j) => j.value!);
  const leader = results.find((r) => r.leaderId === r.memberId)!;
  const ids = [leader.memberId, ...results.filter((r) => r !== leader).map((r) => r.memberId)];
  const gen = leader.generationId;
  const syncs = ids.map((id) => _sync(c, id, gen, id === leader.memberId ? { [id]: "a0" } : {}));
  assert.ok(syncs.every((s) => s.value?.errorCode === ErrorCode.NONE));
  assert.equal(c.stateOf("g"), "Stable");
  return { ids, gen };
}

Deno.test("GroupCoordinator hands out a member id first for JoinGroup v4+ (MEMBER_ID_REQUIRED)", () => {
  const { c, timers } = _setup();
  const first = _join(c, _req({ requireKnownMemberId: true }));
  assert.equal(first.value?.errorCode, ErrorCode.MEMBER_ID_REQUIRED);
  const memberId = first.value!.memberId;
  assert.equal(memberId, "c-id1");
  assert.equal(c.stateOf("g"), "Empty");
  const second = _join(c, _req({ memberId, requireKnownMemberId: true }));
  assert.ok(_waiting(second), "the join waits for the initial rebalance delay");
  assert.equal(c.stateOf("g"), "PreparingRebalance");
  timers.advance(DELAY_MS);
  assert.equal(second.value?.errorCode, ErrorCode.NONE);
  assert.equal(second.value?.generationId, 1);
  assert.equal(second.value?.leaderId, memberId);
  assert.equal(second.value?.protocolName, "range");
  assert.deepEqual(second.value?.members.map((m) => m.memberId), [memberId]);
});

Deno.test("GroupCoordinator forms a group: one leader, assignments distributed by SyncGroup", () => {
  const { c, timers } = _setup();
  const a = _join(c, _req({ clientId: "a" }));
  timers.advance(DELAY_MS / 2);
  const b = _join(c, _req({ clientId: "b" }));
  timers.advance(DELAY_MS);
  assert.ok(_waiting(a), "a member arrived during the delay, so the delay was extended");
  timers.advance(DELAY_MS);
  const [ra, rb] = [a.value!, b.value!];
  assert.equal(ra.errorCode, ErrorCode.NONE);
  assert.equal(ra.generationId, rb.generationId);
  assert.equal(ra.leaderId, ra.memberId, "the first member to join leads");
  assert.equal(rb.leaderId, ra.memberId);
  assert.equal(ra.members.length, 2, "the leader sees every member's metadata");
  assert.equal(rb.members.length, 0);
  assert.equal(c.stateOf("g"), "CompletingRebalance");

  const sb = _sync(c, rb.memberId, rb.generationId);
  assert.ok(_waiting(sb), "a follower waits for the leader's assignment");
  const sa = _sync(c, ra.memberId, ra.generationId, { [ra.memberId]: "p0", [rb.memberId]: "p1" });
  assert.equal(_text(sa.value!.assignment), "p0");
  assert.equal(_text(sb.value!.assignment), "p1");
  assert.equal(c.stateOf("g"), "Stable");
  assert.equal(_hb(c, rb.memberId, rb.generationId), ErrorCode.NONE);
  const d = c.describe("g");
  assert.equal(d.state, "Stable");
  assert.deepEqual(d.members.map((m) => _text(m.assignment)).sort(), ["p0", "p1"]);
});

Deno.test("GroupCoordinator rebalances a Stable group when a member joins", () => {
  const { c, timers } = _setup();
  const { ids, gen } = _stableGroup(c, timers, 2);
  const newcomer = _join(c, _req({ clientId: "new" }));
  assert.equal(c.stateOf("g"), "PreparingRebalance");
  assert.equal(_hb(c, ids[0]!, gen), ErrorCode.REBALANCE_IN_PROGRESS);
  const r0 = _join(c, _req({ memberId: ids[0]! }));
  assert.ok(_waiting(newcomer), "still waiting for the second old member");
  const r1 = _join(c, _req({ memberId: ids[1]! }));
  for (const r of [newcomer, r0, r1]) {
    assert.equal(r.value?.errorCode, ErrorCode.NONE);
    assert.equal(r.value?.generationId, gen + 1);
  }
  assert.equal(r0.value?.leaderId, ids[0], "the leader keeps its role");
  assert.equal(r0.value?.members.length, 3);
  assert.equal(_hb(c, ids[1]!, gen), ErrorCode.ILLEGAL_GENERATION);
});

Deno.test("GroupCoordinator expires a member whose session times out and rebalances the rest", () => {
  const { c, timers } = _setup();
  const { ids, gen } = _stableGroup(c, timers, 2);
  // Only the leader keeps heartbeating.
  for (let t = 0; t < SESSION_MS; t += SESSION_MS / 4) {
    timers.advance(SESSION_MS / 4);
    assert.notEqual(_hb(c, ids[0]!, gen), ErrorCode.UNKNOWN_MEMBER_ID);
  }
  assert.equal(c.stateOf("g"), "PreparingRebalance");
  assert.equal(_hb(c, ids[1]!, gen), ErrorCode.UNKNOWN_MEMBER_ID);
  const r = _join(c, _req({ memberId: ids[0]! }));
  assert.equal(r.value?.generationId, gen + 1, "the survivor alone completes the rebalance");
  assert.deepEqual(r.value?.members.map((m) => m.memberId), [ids[0]]);
});

Deno.test("GroupCoordinator drops members that do not rejoin within the rebalance timeout", () => {
  const { c, timers } = _setup();
  const { ids, gen } = _stableGroup(c, timers, 2);
  const r = _join(c, _req({ memberId: ids[1]!, protocols: [_proto("range", "changed")] }));
  // ids[0] keeps heartbeating but never rejoins.
  for (let t = 0; t < REBALANCE_MS; t += 5000) {
    assert.equal(_hb(c, ids[0]!, gen), ErrorCode.REBALANCE_IN_PROGRESS);
    timers.advance(5000);
  }
  assert.equal(r.value?.errorCode, ErrorCode.NONE);
  assert.equal(r.value?.generationId, gen + 1);
  assert.equal(r.value?.leaderId, ids[1], "leadership passes to a member that rejoined");
  assert.equal(_hb(c, ids[0]!, gen + 1), ErrorCode.UNKNOWN_MEMBER_ID);
});

Deno.test("GroupCoordinator fences unknown members and stale generations", () => {
  const { c, timers } = _setup();
  const { ids, gen } = _stableGroup(c, timers, 1);
  const id = ids[0]!;
  assert.equal(_hb(c, "nobody", gen), ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(_hb(c, id, gen - 1), ErrorCode.ILLEGAL_GENERATION);
  assert.equal(_sync(c, id, gen + 1).value?.errorCode, ErrorCode.ILLEGAL_GENERATION);
  assert.equal(_sync(c, "nobody", gen).value?.errorCode, ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(
    _join(c, _req({ memberId: "nobody" })).value?.errorCode,
    ErrorCode.UNKNOWN_MEMBER_ID,
  );
  const commit = (generationId: number, memberId: string) =>
    c.validateCommit({ groupId: "g", generationId, memberId, groupInstanceId: null });
  assert.equal(commit(gen, id), ErrorCode.NONE);
  assert.equal(commit(gen - 1, id), ErrorCode.ILLEGAL_GENERATION);
  assert.equal(commit(gen, "nobody"), ErrorCode.UNKNOWN_MEMBER_ID);
  assert.equal(commit(-1, ""), ErrorCode.UNKNOWN_MEMBER_ID, "only members commit to a live group");
  assert.equal(_hb(c, id, gen), ErrorCode.NONE);
  assert.equal(
    c.heartbeat({ groupId: "other", memberId: id, generationId: gen, groupInstanceId: null }),
    ErrorCode.UNKNOWN_MEMBER_ID,
  );
  assert.equal(_join(c, _req({ groupId: "" })).value?.errorCode, ErrorCode.INVALID_GROUP_ID);
  assert.equal(
    _join(c, _req({ groupId: "h", sessionTimeoutMs: 10 })).value?.errorCode,
    ErrorCode.INVALID_SESSION_TIMEOUT,
  );
});

Deno.test("GroupCoordinator refuses commits of the next generation while it completes", () => {
  const { c, timers } = _setup();
  const a = _join(c, _req());
  timers.advance(DELAY_MS);
  const { memberId, generationId } = a.value!;
  assert.equal(c.stateOf("g"), "CompletingRebalance");
  assert.equal(
    c.validateCommit({ groupId: "g", generationId, memberId, groupInstanceId: null }),
    ErrorCode.REBALANCE_IN_PROGRESS,
  );
});

Deno.test("GroupCoordinator lets a static member rejoin without a rebalance and fences the old id", () => {
  const { c, timers } = _setup();
  const join = _join(c, _req({ groupInstanceId: "i1", requireKnownMemberId: true }));
  timers.advance(DELAY_MS);
  const old = join.value!;
  assert.equal(old.errorCode, ErrorCode.NONE, "static members skip MEMBER_ID_REQUIRED");
  assert.equal(old.memberId, "i1-id1");
  _sync(c, old.memberId, old.generationId, { [old.memberId]: "mine" }, "i1");
  assert.equal(c.stateOf("g"), "Stable");

  // The process restarts and joins with no member id but the same instance id and metadata.
  const again = _join(c, _req({ groupInstanceId: "i1" })).value!;
  assert.equal(again.errorCode, ErrorCode.NONE);
  assert.notEqual(again.memberId, old.memberId);
  assert.equal(again.generationId, old.generationId, "no new generation");
  assert.equal(again.leaderId, old.memberId, "the old leader id, so no assignment is recomputed");
  assert.equal(c.stateOf("g"), "Stable");
  const s = _sync(c, again.memberId, again.generationId, {}, "i1");
  assert.equal(_text(s.value!.assignment), "mine", "the assignment is kept");
  assert.equal(_hb(c, old.memberId, old.generationId, "i1"), ErrorCode.FENCED_INSTANCE_ID);
  assert.equal(_hb(c, again.memberId, again.generationId, "i1"), ErrorCode.NONE);
  assert.equal(
    c.leave("g", [{ memberId: old.memberId, groupInstanceId: "i1" }]).members[0]?.errorCode,
    ErrorCode.FENCED_INSTANCE_ID,
  );
});

Deno.test("GroupCoordinator rebalances when a static member rejoins with new metadata", () => {
  const { c, timers } = _setup();
  const join = _join(c, _req({ groupInstanceId: "i1" }));
  timers.advance(DELAY_MS);
  const old = join.value!;
  _sync(c, old.memberId, old.generationId, { [old.memberId]: "mine" }, "i1");
  const again = _join(c, _req({ groupInstanceId: "i1", protocols: [_proto("range", "new")] }));
  assert.equal(again.value?.generationId, old.generationId + 1);
  assert.equal(again.value?.leaderId, again.value?.memberId);
});

Deno.test("GroupCoordinator removes a batch of leaving members and empties the group", () => {
  const { c, timers } = _setup();
  const { ids } = _stableGroup(c, timers, 3);
  assert.equal(c.deleteGroup("g"), ErrorCode.NON_EMPTY_GROUP);
  const r = c.leave("g", [
    { memberId: ids[1]!, groupInstanceId: null },
    { memberId: "nobody", groupInstanceId: null },
  ]);
  assert.deepEqual(r.members.map((m) => m.errorCode), [
    ErrorCode.NONE,
    ErrorCode.UNKNOWN_MEMBER_ID,
  ]);
  assert.equal(c.stateOf("g"), "PreparingRebalance");
  c.leave("g", [{ memberId: ids[0]!, groupInstanceId: null }, {
    memberId: ids[2]!,
    groupInstanceId: null,
  }]);
  assert.equal(c.stateOf("g"), "Empty", "nobody is left to wait for");
  assert.deepEqual(c.list(), [{ groupId: "g", protocolType: "consumer", state: "Empty" }]);
  assert.equal(c.deleteGroup("g"), ErrorCode.NONE);
  assert.equal(c.deleteGroup("g"), ErrorCode.GROUP_ID_NOT_FOUND);
  assert.equal(c.describe("g").state, "Dead");
  assert.equal(timers.pendingTimers, 0, "no timer outlives the group");
});

Deno.test("GroupCoordinator answers parked followers when the leader never syncs", () => {
  const { c, timers } = _setup();
  const a = _join(c, _req({ clientId: "a" }));
  const b = _join(c, _req({ clientId: "b" }));
  timers.advance(DELAY_MS * 3);
  const follower = a.value!.leaderId === a.value!.memberId ? b.value! : a.value!;
  const s = _sync(c, follower.memberId, follower.generationId);
  assert.ok(_waiting(s));
  timers.advance(SESSION_MS);
  assert.equal(s.value?.errorCode, ErrorCode.REBALANCE_IN_PROGRESS);
  assert.equal(c.stateOf("g"), "PreparingRebalance");
});

Deno.test("GroupCoordinator picks the protocol most members prefer among the common ones", () => {
  const { c, timers } = _setup();
  const a = _join(c, _req({ protocols: [_proto("range"), _proto("roundrobin")] }));
  _join(c, _req({ protocols: [_proto("roundrobin"), _proto("range")] }));
  _join(c, _req({ protocols: [_proto("roundrobin"), _proto("sticky")] }));
  const bad = _join(c, _req({ protocols: [_proto("cooperative")] }));
  assert.equal(bad.value?.errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  const wrongType = _join(c, _req({ protocolType: "connect" }));
  assert.equal(wrongType.value?.errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  timers.advance(DELAY_MS * 4);
  assert.equal(a.value?.protocolName, "roundrobin");
});

Deno.test("GroupCoordinator creates an Empty group for a commit outside group management", () => {
  const { c } = _setup();
  const who = { groupId: "simple", generationId: -1, memberId: "", groupInstanceId: null };
  assert.equal(c.validateCommit(who), ErrorCode.NONE);
  assert.equal(c.stateOf("simple"), "Empty");
  assert.equal(
    c.validateCommit({ ...who, groupId: "other", generationId: 3, memberId: "m" }),
    ErrorCode.ILLEGAL_GENERATION,
  );
});

Deno.test("GroupCoordinator expires a pending member id that never joins", () => {
  const { c, timers } = _setup();
  const { ids, gen } = _stableGroup(c, timers, 1);
  const pending = _join(c, _req({ requireKnownMemberId: true }));
  assert.equal(pending.value?.errorCode, ErrorCode.MEMBER_ID_REQUIRED);
  assert.equal(c.stateOf("g"), "Stable", "a pending member does not rebalance the group");
  timers.advance(SESSION_MS / 2);
  assert.equal(_hb(c, ids[0]!, gen), ErrorCode.NONE);
  timers.advance(SESSION_MS / 2);
  const late = _join(c, _req({ memberId: pending.value!.memberId, requireKnownMemberId: true }));
  assert.equal(late.value?.errorCode, ErrorCode.UNKNOWN_MEMBER_ID);
});

Deno.test("GroupCoordinator shutdown answers parked requests and clears its timers", () => {
  const { c, timers } = _setup();
  const a = _join(c, _req());
  c.shutdown(ErrorCode.NOT_COORDINATOR);
  assert.equal(a.value?.errorCode, ErrorCode.NOT_COORDINATOR);
  assert.equal(timers.pendingTimers, 0);
});
