import assert from "node:assert/strict";
import { appliedData, TestCluster } from "./_test_cluster.ts";
import { ConfChangeRejectedError, NotLeaderError, ProposalDroppedError } from "./errors.ts";
import type { Entry, PersistedState } from "./types.ts";

const IDS = ["n1", "n2", "n3"];

function _entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) {
    out.push({ index: i, term, kind: "normal", data: `t${term}-${i}` });
  }
  return out;
}

function _state(term: number, commit: number, entries: Entry[]): PersistedState {
  return {
    hardState: { term, vote: null, commit },
    snapshot: { index: 0, term: 0, voters: [], data: "" },
    entries,
  };
}

Deno.test("RaftNode elects one leader that every follower recognises", () => {
  const c = new TestCluster(IDS);
  c.elect("n1");
  const term = c.node("n1").status().term;
  for (const id of ["n2", "n3"]) {
    assert.equal(c.node(id).status().role, "follower");
    assert.equal(c.node(id).status().leaderId, "n1");
    assert.equal(c.node(id).status().term, term);
  }
  // The leader's empty entry of its term is committed everywhere.
  c.tick(2);
  for (const id of IDS) assert.equal(c.node(id).status().commit, c.node("n1").status().lastIndex);
});

Deno.test("RaftNode proposal on a follower throws NotLeaderError naming the leader", () => {
  const c = new TestCluster(IDS);
  c.elect("n1");
  assert.throws(() => c.node("n2").propose("x"), (e: unknown) => {
    assert.ok(e instanceof NotLeaderError);
    assert.equal(e.leaderId, "n1");
    assert.equal(e.code, "NOT_LEADER");
    assert.equal(e.retriable, true);
    return true;
  });
});

Deno.test("RaftNode replicates and applies proposals in order on every node", () => {
  const c = new TestCluster(IDS);
  c.elect("n1");
  c.proposeMany("n1", 10);
  c.tick(2);
  const expected = Array.from({ length: 10 }, (_, i) => `cmd-${i}`);
  for (const id of IDS) assert.deepEqual(appliedData(c.members.get(id)!), expected);
});

Deno.test("RaftNode pre-vote keeps a rejoining partitioned node from disrupting the leader", () => {
  const c = new TestCluster(IDS);
  c.elect("n1");
  const term = c.node("n1").status().term;
  c.isolate("n3");
  c.tick(100);
  // The isolated node kept pre-campaigning but never raised its term.
  assert.equal(c.node("n3").status().term, term);
  c.heal();
  c.tick(5);
  assert.equal(c.node("n1").status().role, "leader");
  assert.equal(c.node("n1").status().term, term);
  assert.equal(c.node("n3").status().leaderId, "n1");
});

Deno.test("RaftNode without pre-vote is disrupted by a rejoining partitioned node", () => {
  // The contrast case: it shows the scenario above would fail if pre-vote did nothing.
  const c = new TestCluster(IDS, { preVote: false, checkQuorum: false });
  c.elect("n1");
  const term = c.node("n1").status().term;
  c.isolate("n3");
  c.tick(100);
  assert.ok(c.node("n3").status().term > term);
  c.heal();
  c.tick(5);
  assert.ok(c.node("n1").status().term > term);
});

Deno.test("RaftNode with check-quorum steps down an isolated leader", () => {
  const c = new TestCluster(IDS, { electionTicks: 10 });
  c.elect("n1");
  c.isolate("n1");
  // Answers from before the cut still count for the current check period, so allow two.
  c.tick(20, ["n1"]);
  assert.equal(c.node("n1").status().role, "follower");
  c.tick(60, ["n2", "n3"]);
  const leaders = ["n2", "n3"].filter((id) => c.node(id).status().role === "leader");
  assert.equal(leaders.length, 1);
});

Deno.test("RaftNode backtracks a divergent follower by whole terms", () => {
  const base = _entries(1, 3, 1);
  const c = new TestCluster(IDS, {}, {
    n1: _state(4, 3, [...base, ..._entries(4, 10, 4)]),
    n2: _state(2, 3, [...base, ..._entries(4, 30, 2)]),
    n3: _state(4, 3, [...base]),
  });
  c.elect("n1");
  c.tick(2);
  const rejects = (to: string) =>
    c.delivered.filter((m) => m.type === "append_response" && m.reject && m.from === to).length;
  // One-by-one backtracking would need 7 rejections for n2 and 7 for n3; hints need one each.
  assert.ok(rejects("n2") <= 1, `n2 rejected ${rejects("n2")} times`);
  assert.ok(rejects("n3") <= 1, `n3 rejected ${rejects("n3")} times`);
  const leaderLog = c.node("n1").log.all();
  for (const id of ["n2", "n3"]) assert.deepEqual(c.node(id).log.all(), leaderLog);
});

Deno.test("RaftNode sends a snapshot to a follower behind the compacted log", () => {
  const c = new TestCluster(IDS);
  c.elect("n1");
  c.isolate("n3");
  c.proposeMany("n1", 30);
  const applied = c.node("n1").status().applied;
  assert.ok(applied >= 31);
  c.node("n1").compact(applied, "sm-state");
  c.drive("n1");
  assert.equal(c.node("n1").log.snapshotIndex, applied);
  assert.equal(c.members.get("n1")!.storage.loadSync().snapshot.index, applied);
  c.heal();
  c.tick(3);
  assert.ok(c.delivered.some((m) => m.type === "snapshot" && m.to === "n3"));
  const n3 = c.members.get("n3")!;
  assert.equal(n3.raft.log.snapshotIndex, applied);
  assert.equal(n3.storage.loadSync().snapshot.data, "sm-state");
  assert.equal(n3.raft.status().commit, c.node("n1").status().commit);
  assert.equal(n3.raft.status().applied, c.node("n1").status().applied);
  c.proposeMany("n1", 3, "after");
  c.tick(1);
  assert.deepEqual(appliedData(n3), ["after-0", "after-1", "after-2"]);
});

Deno.test("RaftNode adds and removes voters one config entry at a time", () => {
  const c = new TestCluster(IDS);
  c.elect("n1");
  c.add("n4", []);
  c.node("n1").proposeConfChange({ op: "add", nodeId: "n4" });
  // The change takes effect on append, before it commits.
  assert.deepEqual(c.node("n1").status().voters, ["n1", "n2", "n3", "n4"]);
  assert.throws(
    () => c.node("n1").proposeConfChange({ op: "remove", nodeId: "n2" }),
    ConfChangeRejectedError,
  );
  c.drive("n1");
  c.deliverAll();
  c.tick(3);
  for (const id of ["n1", "n2", "n3", "n4"]) {
    assert.deepEqual(c.node(id).status().voters, ["n1", "n2", "n3", "n4"]);
  }
  assert.equal(c.node("n4").status().commit, c.node("n1").status().commit);

  // Removing the leader: it steps down once its removal commits and never campaigns again.
  c.node("n1").proposeConfChange({ op: "remove", nodeId: "n1" });
  c.drive("n1");
  c.deliverAll();
  assert.equal(c.node("n1").status().role, "follower");
  c.tick(80);
  const leaders = ["n1", "n2", "n3", "n4"].filter((id) => c.node(id).status().role === "leader");
  assert.equal(leaders.length, 1);
  assert.notEqual(leaders[0], "n1");
  assert.deepEqual(c.node(leaders[0]!).status().voters, ["n2", "n3", "n4"]);
});

Deno.test("RaftNode rejects a config change before the leader commits in its term", () => {
  const c = new TestCluster(IDS);
  c.dropIf = (m) => m.type === "append_response";
  c.elect("n1");
  assert.throws(
    () => c.node("n1").proposeConfChange({ op: "add", nodeId: "n4" }),
    (e: unknown) => e instanceof ConfChangeRejectedError && e.retriable,
  );
});

Deno.test("RaftNode ReadIndex confirms leadership with a heartbeat quorum", () => {
  const c = new TestCluster(IDS);
  c.elect("n1");
  c.tick(1);
  const leader = c.members.get("n1")!;
  leader.raft.readIndex("r1");
  c.drive("n1");
  assert.equal(leader.readStates.length, 0);
  c.deliverAll();
  assert.deepEqual(leader.readStates, [{ context: "r1", index: leader.raft.status().commit }]);

  // An isolated leader cannot confirm a read, so it never serves one.
  c.isolate("n1");
  leader.raft.readIndex("r2");
  c.drive("n1");
  c.tick(5, ["n1"]);
  assert.deepEqual(leader.readStates.map((r) => r.context), ["r1"]);
});

Deno.test("RaftNode ReadIndex waits until the leader commits an entry of its term", () => {
  const c = new TestCluster(IDS);
  c.dropIf = (m) => m.type === "append_response";
  c.elect("n1");
  const leader = c.members.get("n1")!;
  leader.raft.readIndex("r1");
  c.drive("n1");
  c.tick(3, ["n1"]);
  assert.equal(leader.readStates.length, 0);
  c.dropIf = null;
  c.tick(2, ["n1"]);
  const noop = leader.raft.status().lastIndex;
  assert.deepEqual(leader.readStates, [{ context: "r1", index: noop }]);
});

Deno.test("RaftNode read on a follower throws NotLeaderError", () => {
  const c = new TestCluster(IDS);
  c.elect("n1");
  assert.throws(() => c.node("n2").readIndex("r"), NotLeaderError);
});

Deno.test("RaftNode transfers leadership with TimeoutNow", () => {
  const c = new TestCluster(IDS);
  c.elect("n1");
  const term = c.node("n1").status().term;
  c.node("n1").transferLeadership("n2");
  c.drive("n1");
  c.deliverAll();
  assert.ok(c.delivered.some((m) => m.type === "timeout_now" && m.to === "n2"));
  assert.equal(c.node("n2").status().role, "leader");
  assert.equal(c.node("n2").status().term, term + 1);
  assert.equal(c.node("n1").status().leaderId, "n2");
});

Deno.test("RaftNode refuses proposals during a transfer and gives up after an election timeout", () => {
  const c = new TestCluster(IDS, { electionTicks: 10 });
  c.elect("n1");
  c.isolate("n2");
  c.node("n1").transferLeadership("n2");
  assert.throws(() => c.node("n1").propose("x"), ProposalDroppedError);
  c.tick(10, ["n1", "n3"]);
  assert.equal(c.node("n1").status().role, "leader");
  c.node("n1").propose("x");
});

Deno.test("RaftNode restart recovers term, vote and log from storage", () => {
  const c = new TestCluster(IDS);
  c.elect("n1");
  c.proposeMany("n1", 5);
  const before = c.node("n2").status();
  c.restart("n2");
  const after = c.node("n2").status();
  assert.equal(after.term, before.term);
  assert.equal(after.vote, before.vote);
  assert.equal(after.lastIndex, before.lastIndex);
  c.tick(2);
  assert.deepEqual(
    appliedData(c.members.get("n2")!),
    Array.from({ length: 5 }, (_, i) => `cmd-${i}`),
  );
});

Deno.test("RaftNode messages are plain JSON with a version field", () => {
  const c = new TestCluster(IDS);
  c.elect("n1");
  c.proposeMany("n1", 2);
  c.tick(2);
  c.node("n1").transferLeadership("n3");
  c.drive("n1");
  c.deliverAll();
  const types = new Set(c.delivered.map((m) => m.type));
  assert.ok(types.size >= 8, `only saw ${[...types]}`);
  for (const m of c.delivered) {
    assert.equal(m.v, 1);
    assert.deepEqual(JSON.parse(JSON.stringify(m)), m);
  }
});

Deno.test("RaftNode rejects invalid options with a RangeError", () => {
  assert.throws(() => new TestCluster(["n1"], { electionTicks: 0 }), RangeError);
  assert.throws(
    () => new TestCluster(["n1"], { heartbeatTicks: 10, electionTicks: 10 }),
    RangeError,
  );
});
