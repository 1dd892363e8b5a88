import assert from "node:assert/strict";
import { RaftNode } from "../raft/node.ts";
import { SeededRandom } from "../../ops/random.ts";
import type { Entry, PersistedState } from "../raft/types.ts";
import { InvariantChecker, InvariantViolation } from "./invariants.ts";

function _node(
  id: string,
  entries: Entry[],
  commit: number,
  term = 1,
  voters: string[] = [id],
): RaftNode {
  const state: PersistedState = {
    hardState: { term, vote: null, commit },
    snapshot: { index: 0, term: 0, voters: [], data: "" },
    entries,
  };
  return new RaftNode({ id, random: new SeededRandom(1), state, bootstrapVoters: voters });
}

function _makeLeader(node: RaftNode): RaftNode {
  for (let i = 0; i < 100 && node.status().role !== "leader"; i++) node.tick();
  assert.equal(node.status().role, "leader");
  return node;
}

function _e(index: number, term: number, data: string): Entry {
  return { index, term, kind: "normal", data };
}

function _violation(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof InvariantViolation) return e.property;
    throw e;
  }
  return "none";
}

Deno.test("InvariantChecker reports two leaders in one term", () => {
  const checker = new InvariantChecker();
  const a = _makeLeader(_node("a", [], 0));
  const b = _makeLeader(_node("b", [], 0));
  assert.equal(a.status().term, b.status().term);
  checker.checkNode(a);
  assert.equal(_violation(() => checker.checkNode(b)), "election_safety");
});

Deno.test("InvariantChecker reports logs that differ at an equal index and term", () => {
  const checker = new InvariantChecker();
  checker.checkNode(_node("a", [_e(1, 1, "x"), _e(2, 1, "y")], 0, 1, ["a", "b"]));
  assert.equal(
    _violation(() =>
      checker.checkNode(_node("b", [_e(1, 1, "x"), _e(2, 1, "z")], 0, 1, ["a", "b"]))
    ),
    "log_matching",
  );
});

Deno.test("InvariantChecker reports equal entries on different prefixes", () => {
  const checker = new InvariantChecker();
  checker.checkNode(_node("a", [_e(1, 1, "x"), _e(2, 2, "y")], 0, 2, ["a", "b"]));
  assert.equal(
    _violation(() =>
      checker.checkNode(_node("b", [_e(1, 2, "q"), _e(2, 2, "y")], 0, 2, ["a", "b"]))
    ),
    "log_matching",
  );
});

Deno.test("InvariantChecker reports a leader missing a committed entry", () => {
  const checker = new InvariantChecker();
  checker.checkNode(_node("a", [_e(1, 1, "x")], 1, 1, ["a", "b"]));
  // b never saw entry 1 yet wins an election of its own (its only voter is itself).
  const b = _makeLeader(_node("b", [], 0, 5));
  assert.equal(_violation(() => checker.checkNode(b)), "leader_completeness");
});

Deno.test("InvariantChecker reports two nodes applying different entries at one index", () => {
  const checker = new InvariantChecker();
  checker.onApply("a", _e(1, 1, "x"));
  checker.onApply("b", _e(1, 1, "x"));
  assert.equal(_violation(() => checker.onApply("c", _e(1, 2, "y"))), "state_machine_safety");
});

Deno.test("InvariantChecker accepts agreeing logs", () => {
  const checker = new InvariantChecker();
  const log = [_e(1, 1, "x"), _e(2, 1, "y")];
  checker.checkNode(_node("a", log, 2, 1, ["a", "b"]));
  checker.checkNode(_node("b", log.slice(0, 1), 1, 1, ["a", "b"]));
  for (const e of log) checker.onApply("a", e);
});

Deno.test("InvariantChecker accepts a leader of an older term that wins after a later commit", () => {
  // A candidate can win its election late (its vote answers were delayed), after a later term
  // has committed more. Raft only promises it the entries committed in earlier terms.
  const checker = new InvariantChecker();
  checker.checkNode(_node("a", [_e(1, 6, "x")], 1, 6, ["a", "b"]));
  const b = _makeLeader(_node("b", [], 0, 4));
  assert.equal(b.status().term, 5);
  checker.checkNode(b);
});
