import assert from "node:assert/strict";
import { LeaderEpochCache } from "./leader_epoch_cache.ts";
import { validateReplicaFetch } from "./replica_fetch_validation.ts";

function leader() {
  const epochs = new LeaderEpochCache();
  epochs.assign(1, 0);
  epochs.assign(3, 20);
  return { leaderEpoch: 3, epochs, logStartOffset: 5, logEndOffset: 30 };
}

Deno.test("validateReplicaFetch fences stale and future leader epochs", () => {
  const at = (currentLeaderEpoch: number) =>
    validateReplicaFetch({ currentLeaderEpoch, fetchOffset: 10, lastFetchedEpoch: -1 }, leader());
  assert.deepEqual(at(2), { kind: "error", code: "FENCED_LEADER_EPOCH" });
  assert.deepEqual(at(4), { kind: "error", code: "UNKNOWN_LEADER_EPOCH" });
  assert.deepEqual(at(3), { kind: "read" });
  assert.deepEqual(at(-1), { kind: "read" });
});

Deno.test("validateReplicaFetch reports a diverging epoch (KIP-595)", () => {
  const fetch = (fetchOffset: number, lastFetchedEpoch: number) =>
    validateReplicaFetch({ currentLeaderEpoch: 3, fetchOffset, lastFetchedEpoch }, leader());
  assert.deepEqual(fetch(20, 1), { kind: "read" }, "epoch 1 ended exactly at 20");
  assert.deepEqual(fetch(21, 1), { kind: "diverging", epoch: 1, endOffset: 20 });
  assert.deepEqual(fetch(25, 2), { kind: "diverging", epoch: 1, endOffset: 20 }, "unknown epoch");
  assert.deepEqual(fetch(30, 3), { kind: "read" });
  assert.deepEqual(fetch(31, 3), { kind: "diverging", epoch: 3, endOffset: 30 });
  assert.deepEqual(fetch(10, 7), { kind: "diverging", epoch: -1, endOffset: -1 }, "future epoch");
});

Deno.test("validateReplicaFetch rejects offsets outside the log", () => {
  const fetch = (fetchOffset: number) =>
    validateReplicaFetch({ currentLeaderEpoch: 3, fetchOffset, lastFetchedEpoch: -1 }, leader());
  assert.deepEqual(fetch(4), { kind: "error", code: "OFFSET_OUT_OF_RANGE" });
  assert.deepEqual(fetch(5), { kind: "read" });
  assert.deepEqual(fetch(31), { kind: "error", code: "OFFSET_OUT_OF_RANGE" });
});
