import assert from "node:assert/strict";
import { checkLinearizable, type HistoryOp } from "./linearizability.ts";

function w(
  client: number,
  value: number,
  invoke: number,
  response: number | null,
  key = "k",
): HistoryOp {
  return { client, key, kind: "write", value, invoke, response };
}

function r(
  client: number,
  readValue: number | null,
  invoke: number,
  response: number,
  key = "k",
): HistoryOp {
  return { client, key, kind: "read", readValue, invoke, response };
}

function cas(
  client: number,
  expected: number | null,
  value: number,
  ok: boolean,
  invoke: number,
  response: number,
): HistoryOp {
  return { client, key: "k", kind: "cas", expected, value, ok, invoke, response };
}

Deno.test("checkLinearizable accepts a sequential history", () => {
  assert.ok(
    checkLinearizable([w(1, 1, 0, 1), r(2, 1, 2, 3), cas(1, 1, 2, true, 4, 5), r(2, 2, 6, 7)]).ok,
  );
});

Deno.test("checkLinearizable accepts either value for a read concurrent with a write", () => {
  assert.ok(checkLinearizable([w(1, 1, 0, 1), w(1, 2, 2, 5), r(2, 1, 3, 4)]).ok);
  assert.ok(checkLinearizable([w(1, 1, 0, 1), w(1, 2, 2, 5), r(2, 2, 3, 4)]).ok);
});

Deno.test("checkLinearizable rejects a stale read", () => {
  const result = checkLinearizable([w(1, 1, 0, 1), w(1, 2, 2, 3), r(2, 1, 4, 5)]);
  assert.equal(result.ok, false);
  assert.match(result.violation!, /key k/);
});

Deno.test("checkLinearizable rejects a read that goes back in time", () => {
  // Two reads during one long write: once the new value is seen, the old one may not return.
  assert.equal(
    checkLinearizable([w(1, 1, 0, 1), w(1, 2, 2, 10), r(2, 2, 3, 4), r(3, 1, 5, 6)]).ok,
    false,
  );
});

Deno.test("checkLinearizable lets a write without a response take effect late or never", () => {
  assert.ok(checkLinearizable([w(1, 1, 0, null), r(2, null, 1, 2), r(2, 1, 3, 4)]).ok);
  assert.ok(checkLinearizable([w(1, 1, 0, null), r(2, null, 1, 2), r(2, null, 3, 4)]).ok);
  // But it cannot take effect before it was invoked.
  assert.equal(checkLinearizable([r(2, 1, 0, 1), w(1, 1, 2, null)]).ok, false);
});

Deno.test("checkLinearizable checks compare-and-set outcomes", () => {
  assert.ok(checkLinearizable([w(1, 1, 0, 1), cas(2, 5, 9, false, 2, 3), r(2, 1, 4, 5)]).ok);
  assert.equal(checkLinearizable([w(1, 1, 0, 1), cas(2, 5, 9, true, 2, 3)]).ok, false);
});

Deno.test("checkLinearizable checks keys independently", () => {
  const result = checkLinearizable([
    w(1, 1, 0, 1, "a"),
    r(2, 1, 2, 3, "a"),
    w(1, 7, 4, 5, "b"),
    r(2, null, 6, 7, "b"),
  ]);
  assert.equal(result.verdicts.get("a"), "ok");
  assert.equal(result.verdicts.get("b"), "violation");
});

Deno.test("checkLinearizable reports unknown instead of searching past its bound", () => {
  const history: HistoryOp[] = [];
  for (let i = 0; i < 12; i++) history.push(w(i, i, 0, 100 + i));
  history.push(r(99, 3, 200, 201));
  const result = checkLinearizable(history, { statesPerKeyMax: 5 });
  assert.equal(result.verdicts.get("k"), "unknown");
  assert.ok(result.ok);
  assert.equal(checkLinearizable(history, { opsPerKeyMax: 5 }).verdicts.get("k"), "unknown");
});
