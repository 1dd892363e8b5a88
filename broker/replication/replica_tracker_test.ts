import assert from "node:assert/strict";
import {
  type AckOutcome,
  ReplicaTracker,
  type ReplicaTrackerOptions,
  type TrackerAction,
} from "./replica_tracker.ts";

const ALL = { kind: "all" } as const;

function tracker(overrides: Partial<ReplicaTrackerOptions> = {}): ReplicaTracker {
  return new ReplicaTracker({
    leaderId: 1,
    replicas: [1, 2, 3],
    isr: [1, 2, 3],
    leaderEpoch: 5,
    leaderEpochStartOffset: 0,
    logEndOffset: 0,
    highWatermark: 0,
    maxLagMessages: 100,
    maxLagTimeMs: 10_000,
    minInSyncReplicas: 2,
    ackTimeoutMs: 5_000,
    nowMs: 0,
    ...overrides,
  });
}

function kinds(actions: TrackerAction[]): string[] {
  return actions.map((a) =>
    a.kind === "alterIsr"
      ? `alterIsr ${a.isr.join(",")}`
      : a.kind === "highWatermark"
      ? `hw ${a.offset}`
      : `ack ${a.waiterId} ${a.outcome.ok ? "ok" : a.outcome.code}`
  );
}

function outcomeOf(actions: TrackerAction[], waiterId: number): AckOutcome | undefined {
  for (const a of actions) if (a.kind === "ackDone" && a.waiterId === waiterId) return a.outcome;
  return undefined;
}

Deno.test("ReplicaTracker HW is the minimum LEO over the ISR and waits for unknown followers", () => {
  const t = tracker();
  assert.deepEqual(t.onLeaderDurable(10, 1), []);
  assert.deepEqual(t.onFollowerFetch(2, 10, 2), [], "follower 3 has not fetched yet");
  assert.deepEqual(kinds(t.onFollowerFetch(3, 4, 3)), ["hw 4"]);
  assert.deepEqual(kinds(t.onFollowerFetch(3, 10, 4)), ["hw 10"]);
  assert.equal(t.highWatermark, 10);
});

Deno.test("ReplicaTracker HW never moves back", () => {
  const t = tracker({ logEndOffset: 20, highWatermark: 20 });
  t.onLeaderDurable(30, 1);
  // Followers report offsets below the current HW (they lag after a leader change).
  assert.deepEqual(t.onFollowerFetch(2, 12, 2), []);
  assert.deepEqual(t.onFollowerFetch(3, 15, 3), []);
  assert.equal(t.highWatermark, 20);
  assert.deepEqual(kinds(t.onFollowerFetch(2, 25, 4)), []);
  assert.deepEqual(kinds(t.onFollowerFetch(3, 22, 5)), ["hw 22"]);
  // A committed ISR that drops a replica cannot lower it either.
  assert.deepEqual(kinds(t.onIsrCommitted([1, 2], 6)), ["hw 25"]);
  assert.equal(t.highWatermark, 25);
});

Deno.test("ReplicaTracker shrinks the ISR of a follower lagging by more than maxLagMessages", () => {
  const t = tracker({ maxLagMessages: 50 });
  t.onLeaderDurable(100, 1);
  t.onFollowerFetch(2, 100, 2);
  t.onFollowerFetch(3, 60, 2); // lags by 40: fine
  assert.deepEqual(t.tick(3), []);
  t.onLeaderDurable(120, 4); // follower 3 now lags by 60
  assert.deepEqual(kinds(t.tick(5)), ["alterIsr 1,2"]);
  // The old ISR holds until the controller confirms.
  assert.deepEqual(t.isr, [1, 2, 3]);
  assert.deepEqual(t.pendingIsr, [1, 2]);
  assert.deepEqual(t.tick(6), [], "one proposal in flight at a time");
  // Without the lagging follower the HW catches up with follower 2.
  assert.deepEqual(kinds(t.onIsrCommitted([1, 2], 7)), ["hw 100"]);
  assert.deepEqual(t.isr, [1, 2]);
  assert.equal(t.underReplicated, true);
});

Deno.test("ReplicaTracker shrinks the ISR of a follower not caught up within maxLagTimeMs", () => {
  const t = tracker({ maxLagTimeMs: 1000, maxLagMessages: 1_000_000 });
  t.onLeaderDurable(10, 0);
  t.onFollowerFetch(2, 10, 100);
  t.onFollowerFetch(3, 10, 100);
  // Both keep fetching; follower 2 always reaches the LEO, follower 3 stays 1 behind.
  for (let now = 200; now <= 1100; now += 100) {
    t.onLeaderDurable(10 + now, now);
    t.onFollowerFetch(2, 10 + now, now);
    t.onFollowerFetch(3, 10 + now - 1, now);
  }
  // Follower 3 reached the leader LEO of its *previous* fetch each time, so it counts as caught
  // up as of that previous fetch (Kafka's rule): not lagging by time.
  assert.deepEqual(t.tick(1100), []);
  // Now it stops fetching.
  t.onLeaderDurable(2000, 1200);
  t.onFollowerFetch(2, 2000, 1200);
  assert.deepEqual(t.tick(2000), [], "last caught up at 1000: 1000 ms ago, not more");
  t.onFollowerFetch(2, 2000, 2101);
  assert.deepEqual(kinds(t.tick(2101)), ["alterIsr 1,2"]);
});

Deno.test("ReplicaTracker gives a new leader's followers maxLagTimeMs for their first fetch", () => {
  // A leader elected over a long log: its followers have not fetched from it yet. Their LEO is
  // unknown, not zero, so the count rule must not drop them before they fetch (it once did,
  // and acks=all then failed with NOT_ENOUGH_REPLICAS during a rolling restart).
  const t = tracker({
    logEndOffset: 5000,
    highWatermark: 5000,
    leaderEpochStartOffset: 5000,
    maxLagMessages: 100,
    maxLagTimeMs: 1000,
    nowMs: 10_000,
  });
  t.onLeaderDurable(5010, 10_001);
  assert.deepEqual(t.tick(10_500), [], "followers still within their first-fetch grace");
  t.onFollowerFetch(2, 5010, 10_600);
  // Follower 3 never fetches: after maxLagTimeMs it goes, by time.
  assert.deepEqual(t.tick(11_000), []);
  assert.deepEqual(kinds(t.tick(11_001)), ["alterIsr 1,2"]);
});

Deno.test("ReplicaTracker does not shrink a follower that is at the leader LEO however old", () => {
  const t = tracker({ maxLagTimeMs: 100 });
  t.onLeaderDurable(5, 0);
  t.onFollowerFetch(2, 5, 0);
  t.onFollowerFetch(3, 5, 0);
  assert.deepEqual(t.tick(1_000_000), [], "an idle partition keeps its ISR");
});

Deno.test("ReplicaTracker expands the ISR when a follower reaches the HW and epoch start", () => {
  const t = tracker({
    isr: [1, 2],
    leaderEpochStartOffset: 40,
    logEndOffset: 50,
    highWatermark: 30,
  });
  t.onFollowerFetch(2, 50, 1); // HW -> 50
  assert.equal(t.highWatermark, 50);
  assert.deepEqual(kinds(t.onFollowerFetch(3, 45, 2)), [], "below the HW");
  assert.deepEqual(kinds(t.onFollowerFetch(3, 50, 3)), ["alterIsr 1,2,3"]);
  // While the expansion is pending, the HW counts the new member (maximal ISR) ...
  t.onLeaderDurable(60, 4);
  assert.deepEqual(kinds(t.onFollowerFetch(2, 60, 5)), [], "follower 3 is at 50");
  assert.deepEqual(kinds(t.onFollowerFetch(3, 60, 6)), ["hw 60"]);
  // ... but min ISR counts only the committed ISR.
  assert.deepEqual(t.isr, [1, 2]);
  t.onIsrCommitted([1, 2, 3], 7);
  assert.deepEqual(t.isr, [1, 2, 3]);
});

Deno.test("ReplicaTracker does not expand before the follower reaches the leader epoch start", () => {
  const t = tracker({
    isr: [1, 2],
    leaderEpochStartOffset: 40,
    logEndOffset: 50,
    highWatermark: 30,
  });
  assert.deepEqual(kinds(t.onFollowerFetch(2, 35, 1)), ["hw 35"]);
  // Follower 3 is at the HW but still in an older leader's history.
  assert.deepEqual(kinds(t.onFollowerFetch(3, 35, 2)), []);
  assert.deepEqual(kinds(t.onFollowerFetch(3, 40, 3)), ["alterIsr 1,2,3"]);
});

Deno.test("ReplicaTracker re-proposes after the controller refuses a change", () => {
  const t = tracker({ maxLagMessages: 5 });
  t.onFollowerFetch(3, 0, 0);
  t.onLeaderDurable(100, 0);
  t.onFollowerFetch(2, 100, 0);
  assert.deepEqual(kinds(t.tick(1)), ["alterIsr 1,2"]);
  t.onIsrChangeFailed();
  assert.deepEqual(kinds(t.tick(2)), ["alterIsr 1,2"]);
});

Deno.test("ReplicaTracker acks=1 is satisfied once the leader is durable", () => {
  const t = tracker();
  assert.equal(t.waitFor(5, { kind: "leader" }, 0).kind, "pending");
  t.cancel(1);
  t.onLeaderDurable(5, 0);
  assert.deepEqual(t.waitFor(5, { kind: "leader" }, 0), { kind: "done", outcome: { ok: true } });
});

Deno.test("ReplicaTracker acks=all waits for the whole ISR", () => {
  const t = tracker();
  t.onLeaderDurable(10, 0);
  const w = t.waitFor(10, ALL, 0);
  assert.deepEqual(w, { kind: "pending", waiterId: 1 });
  assert.deepEqual(kinds(t.onFollowerFetch(2, 10, 1)), []);
  assert.deepEqual(kinds(t.onFollowerFetch(3, 10, 2)), ["hw 10", "ack 1 ok"]);
  assert.equal(t.waitingCount, 0);
});

Deno.test("ReplicaTracker refuses acks=all with NOT_ENOUGH_REPLICAS when the ISR is small", () => {
  const t = tracker({ isr: [1], minInSyncReplicas: 2 });
  const refused = t.checkProduce(ALL);
  assert.equal(refused?.ok, false);
  assert.equal(refused?.ok === false && refused.code, "NOT_ENOUGH_REPLICAS");
  assert.equal(t.checkProduce({ kind: "leader" }), null, "acks=1 ignores min ISR");
  assert.equal(t.checkProduce({ kind: "majority" }), null);
  const custom = t.checkProduce({ kind: "custom", replicas: 4 });
  assert.equal(custom?.ok === false && custom.code, "NOT_ENOUGH_REPLICAS");
});

Deno.test("ReplicaTracker fails acks=all with NOT_ENOUGH_REPLICAS_AFTER_APPEND after a shrink", () => {
  const t = tracker({ replicas: [1, 2], isr: [1, 2], minInSyncReplicas: 2, maxLagTimeMs: 100 });
  assert.equal(t.checkProduce(ALL), null);
  t.onLeaderDurable(10, 0);
  assert.equal(t.waitFor(10, ALL, 0).kind, "pending");
  // Follower 2 never fetches; the ISR shrinks to the leader alone.
  assert.deepEqual(kinds(t.tick(101)), ["alterIsr 1"]);
  const actions = t.onIsrCommitted([1], 102);
  assert.deepEqual(kinds(actions), ["hw 10", "ack 1 NOT_ENOUGH_REPLICAS_AFTER_APPEND"]);
});

Deno.test("ReplicaTracker times out waiters with REQUEST_TIMED_OUT", () => {
  const t = tracker({ ackTimeoutMs: 1000 });
  t.onLeaderDurable(10, 0);
  t.waitFor(10, ALL, 0);
  t.waitFor(10, ALL, 500, 100);
  assert.equal(t.nextDeadlineMs(), 600);
  assert.deepEqual(kinds(t.tick(599)), []);
  assert.deepEqual(kinds(t.tick(600)), ["ack 2 REQUEST_TIMED_OUT"]);
  assert.deepEqual(kinds(t.tick(1000)), ["ack 1 REQUEST_TIMED_OUT"]);
  assert.equal(t.nextDeadlineMs(), null);
});

Deno.test("ReplicaTracker Custom(n) counts replicas holding the offset, leader included", () => {
  const t = tracker({ replicas: [1, 2, 3, 4], isr: [1, 2, 3, 4] });
  t.onLeaderDurable(10, 0);
  const w = t.waitFor(10, { kind: "custom", replicas: 3 }, 0);
  assert.equal(w.kind, "pending");
  assert.deepEqual(kinds(t.onFollowerFetch(4, 10, 1)), []);
  const actions = t.onFollowerFetch(2, 10, 2);
  assert.deepEqual(outcomeOf(actions, 1), { ok: true });
  assert.equal(t.highWatermark, 0, "the HW still waits for follower 3");
});

Deno.test("ReplicaTracker Majority needs more than half of the replica set", () => {
  const t = tracker({ replicas: [1, 2, 3, 4], isr: [1, 2, 3, 4] });
  t.onLeaderDurable(10, 0);
  t.waitFor(10, { kind: "majority" }, 0);
  assert.deepEqual(kinds(t.onFollowerFetch(2, 10, 1)), [], "2 of 4 is not a majority");
  assert.deepEqual(kinds(t.onFollowerFetch(3, 10, 2)), ["ack 1 ok"]);
  const three = tracker();
  three.onLeaderDurable(5, 0);
  three.onFollowerFetch(2, 5, 0);
  assert.deepEqual(three.waitFor(5, { kind: "majority" }, 0), {
    kind: "done",
    outcome: { ok: true },
  });
});

Deno.test("ReplicaTracker fails waiters with NOT_LEADER_OR_FOLLOWER when closed", () => {
  const t = tracker();
  t.onLeaderDurable(10, 0);
  t.waitFor(10, ALL, 0);
  assert.deepEqual(kinds(t.close()), ["ack 1 NOT_LEADER_OR_FOLLOWER"]);
  const after = t.checkProduce({ kind: "leader" });
  assert.equal(after?.ok === false && after.code, "NOT_LEADER_OR_FOLLOWER");
  assert.deepEqual(t.onFollowerFetch(2, 10, 1), []);
});

Deno.test("ReplicaTracker bounds the number of waiters", () => {
  const t = tracker({ waitersMax: 1 });
  t.onLeaderDurable(10, 0);
  assert.equal(t.waitFor(10, ALL, 0).kind, "pending");
  const second = t.waitFor(10, ALL, 0);
  assert.equal(
    second.kind === "done" && !second.outcome.ok && second.outcome.code,
    "REQUEST_TIMED_OUT",
  );
});

Deno.test("ReplicaTracker validates its options", () => {
  assert.throws(() => tracker({ isr: [2, 3] }), RangeError);
  assert.throws(() => tracker({ highWatermark: 5 }), RangeError);
  assert.throws(() => tracker({ maxLagMessages: 0 }), RangeError);
});

Deno.test("ReplicaTracker reports follower lag", () => {
  const t = tracker();
  t.onLeaderDurable(10, 0);
  t.onFollowerFetch(2, 7, 0);
  assert.deepEqual([...t.followerLags()], [[2, 3], [3, 10]]);
  assert.equal(t.followerLogEndOffset(3), -1);
});
