import assert from "node:assert/strict";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import { type FetchAnswer, type FollowerAction, FollowerState } from "./follower_state.ts";
import { answerOffsetForLeaderEpoch } from "./leader_epoch_lookup.ts";
import { batchAt, MemoryReplicaLog } from "./truncation_test_support.ts";

/** Builds a log from [epoch, baseOffset, count] batches. */
async function logOf(...batches: [number, number, number][]): Promise<MemoryReplicaLog> {
  const log = new MemoryReplicaLog();
  for (const [epoch, base, count] of batches) {
    log.appendAssigned([await batchAt(base, count, epoch)]);
  }
  log.highWatermark = log.logEndOffset;
  return log;
}

function apply(log: MemoryReplicaLog, actions: readonly FollowerAction[], trace: string[]): void {
  for (const a of actions) {
    if (a.kind === "truncate") log.truncateTo(a.offset);
    else if (a.kind === "resetLog") log.resetTo(a.offset);
    else if (a.kind === "append") {
      log.appendAssigned(a.batches);
      log.adoptLeaderHighWatermark(a.leaderHighWatermark);
    }
    trace.push(
      a.kind === "append"
        ? `append ${a.batches.length}`
        : `${a.kind} ${"offset" in a ? a.offset : ""}`,
    );
  }
}

function fetchAnswer(leader: MemoryReplicaLog, offset: number): FetchAnswer {
  if (offset < leader.logStartOffset || offset > leader.logEndOffset) {
    return { ..._none, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE };
  }
  const batches = leader.read(offset, 1 << 20);
  const records = new Uint8Array(batches.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of batches) {
    records.set(b, at);
    at += b.length;
  }
  return {
    ..._none,
    highWatermark: leader.highWatermark,
    logStartOffset: leader.logStartOffset,
    records,
  };
}

const _none: FetchAnswer = {
  errorCode: ErrorCode.NONE,
  highWatermark: -1,
  logStartOffset: -1,
  divergingEpoch: { epoch: -1, endOffset: -1 },
  records: null,
};

/**
 * Runs the follower against the leader's log until a fetch brings nothing new. Returns the
 * trace of requests and actions.
 */
function sync(
  follower: MemoryReplicaLog,
  leader: MemoryReplicaLog,
  leaderEpoch: number,
): string[] {
  const f = new FollowerState({
    topic: "t",
    partition: 0,
    leaderId: 9,
    leaderEpoch,
    log: follower,
  });
  const trace: string[] = [];
  for (let round = 0; round < 20; round++) {
    const req = f.nextRequest(0);
    if (req.kind === "offsetForLeaderEpoch") {
      const found = {
        leaderEpochCache: leader.epochs,
        logEndOffset: leader.logEndOffset,
        currentLeaderEpoch: leaderEpoch,
      };
      const a = answerOffsetForLeaderEpoch(found, { partition: 0, ...req });
      trace.push(`OFLE(${req.leaderEpoch}) -> (${a.leaderEpoch}, ${a.endOffset})`);
      apply(follower, f.onOffsetForLeaderEpoch({ ...a, endOffset: Number(a.endOffset) }, 0), trace);
    } else if (req.kind === "listOffsets") {
      trace.push("ListOffsets");
      const answer = {
        errorCode: 0,
        logStartOffset: leader.logStartOffset,
        logEndOffset: leader.logEndOffset,
      };
      apply(follower, f.onLeaderOffsets(answer, 0), trace);
    } else if (req.kind === "fetch") {
      trace.push(`Fetch(${req.fetchOffset}, lastEpoch ${req.lastFetchedEpoch})`);
      const answer = fetchAnswer(leader, req.fetchOffset);
      const before = follower.logEndOffset;
      apply(follower, f.onFetch(answer, 0), trace);
      if (answer.errorCode === 0 && follower.logEndOffset === before) return trace;
    } else {
      throw new Error(`unexpected wait in round ${round}`);
    }
  }
  throw new Error(`no convergence: ${trace.join("; ")}`);
}

Deno.test("FollowerState keeps a committed suffix a stale HW would lose (KIP-101 case 1)", async () => {
  // Leader and follower both hold offsets 0-1 of epoch 0, but the follower restarted with a
  // HW of 1 (the HW reaches followers one fetch late). Truncating to the HW would lose offset 1.
  const leader = await logOf([0, 0, 1], [0, 1, 1]);
  const follower = await logOf([0, 0, 1], [0, 1, 1]);
  follower.highWatermark = 1;
  const trace = sync(follower, leader, 1);
  assert.deepEqual(trace, ["OFLE(0) -> (0, 2)", "Fetch(2, lastEpoch 0)", "append 0"]);
  assert.deepEqual(follower.describe(), leader.describe());
});

Deno.test("FollowerState removes a divergent suffix after a clean leader change (KIP-101 case 2)", async () => {
  // The old leader (now follower) wrote offset 1 in epoch 0 and crashed before replicating it;
  // the new leader wrote a different offset 1 in epoch 1.
  const follower = await logOf([0, 0, 1], [0, 1, 1]);
  const leader = await logOf([0, 0, 1], [1, 1, 1]);
  const trace = sync(follower, leader, 1);
  assert.deepEqual(trace, [
    "OFLE(0) -> (0, 1)",
    "truncate 1",
    "Fetch(1, lastEpoch 0)",
    "append 1",
    "Fetch(2, lastEpoch 1)",
    "append 0",
  ]);
  assert.deepEqual(follower.describe(), ["e0:0-0", "e1:1-1"]);
  assert.deepEqual(follower.epochs.entries(), leader.epochs.entries());
});

Deno.test("FollowerState drops an epoch the leader never saw (KIP-279)", async () => {
  // The follower led epoch 1 briefly and wrote 2-3 that nobody replicated; the leader of
  // epoch 2 continued from offset 2.
  const follower = await logOf([0, 0, 2], [1, 2, 2]);
  const leader = await logOf([0, 0, 2], [2, 2, 4]);
  const trace = sync(follower, leader, 2);
  assert.deepEqual(trace.slice(0, 2), ["OFLE(1) -> (0, 2)", "truncate 2"]);
  assert.deepEqual(follower.describe(), leader.describe());
});

Deno.test("FollowerState truncates over several rounds when the leader answers an epoch it lacks (KIP-279)", async () => {
  // Follower: epoch 0 to offset 4, then epoch 3. Leader: epoch 0 to 2, epoch 2 from 3, epoch 4 from 6.
  const follower = await logOf([0, 0, 5], [3, 5, 3]);
  const leader = await logOf([0, 0, 3], [2, 3, 3], [4, 6, 4]);
  const trace = sync(follower, leader, 4);
  assert.deepEqual(trace.slice(0, 4), [
    "OFLE(3) -> (2, 6)",
    "truncate 5", // our end of epoch 0, the largest below 2: ask again
    "OFLE(0) -> (0, 3)",
    "truncate 3",
  ]);
  // The batch 0-4 straddles offset 3, so it went whole (batch-aligned truncation) and the
  // follower re-fetched from 0.
  assert.equal(trace[4], "Fetch(0, lastEpoch -1)");
  assert.deepEqual(follower.describe(), leader.describe());
});

Deno.test("FollowerState truncates to the leader's shorter log after an unclean election", async () => {
  const follower = await logOf([0, 0, 3], [1, 3, 5]);
  // The unclean leader had only offsets 0-2 and wrote epoch 2 from there.
  const leader = await logOf([0, 0, 3], [2, 3, 1]);
  const trace = sync(follower, leader, 2);
  assert.deepEqual(trace.slice(0, 2), ["OFLE(1) -> (0, 3)", "truncate 3"]);
  assert.equal(follower.highWatermark <= 4, true);
  assert.deepEqual(follower.describe(), leader.describe());
});

Deno.test("FollowerState with no epochs keeps only its committed part", async () => {
  const follower = new MemoryReplicaLog();
  follower.appendAssigned([await batchAt(0, 4, -1)]); // written before epochs were stamped
  follower.highWatermark = 0;
  const leader = await logOf([0, 0, 2], [1, 2, 2]);
  const trace = sync(follower, leader, 1);
  assert.deepEqual(trace.slice(0, 2), ["OFLE(-1) -> (-1, -1)", "truncate 0"]);
  assert.deepEqual(follower.describe(), leader.describe());
});

Deno.test("FollowerState restarts at the leader's log start when it fell behind it", async () => {
  const follower = await logOf([0, 0, 5]);
  const leader = new MemoryReplicaLog();
  leader.resetTo(98); // everything below 98 lives in object storage only
  leader.appendAssigned([await batchAt(98, 4, 3), await batchAt(102, 2, 3)]);
  leader.highWatermark = 104;
  leader.logStartOffset = 100; // retention moved the start inside the first batch
  const trace = sync(follower, leader, 3);
  assert.deepEqual(trace, [
    "OFLE(0) -> (0, 98)",
    "Fetch(5, lastEpoch 0)",
    "ListOffsets",
    "resetLog 100",
    "Fetch(100, lastEpoch -1)",
    "resetLog 98", // the leader's batch holding 100 starts at 98: keep offsets batch-aligned
    "append 2",
    "Fetch(104, lastEpoch 3)",
    "append 0",
  ]);
  assert.equal(follower.logStartOffset, 98);
  assert.equal(follower.logEndOffset, 104);
  assert.equal(follower.highWatermark, 104);
});

Deno.test("FollowerState truncates on a Fetch divergingEpoch (v12+)", async () => {
  const log = await logOf([0, 0, 2], [1, 2, 3]);
  const f = new FollowerState({ topic: "t", partition: 0, leaderId: 9, leaderEpoch: 2, log });
  f.onOffsetForLeaderEpoch({ errorCode: 0, leaderEpoch: 1, endOffset: 5 }, 0);
  assert.equal(f.phase, "fetching");
  const actions = f.onFetch({ ..._none, divergingEpoch: { epoch: 1, endOffset: 3 } }, 0);
  assert.deepEqual(actions, [{ kind: "truncate", offset: 3 }]);
  assert.equal(f.phase, "fetching");
  // A diverging epoch we do not have sends us back to OffsetForLeaderEpoch.
  const g = new FollowerState({ topic: "t", partition: 0, leaderId: 9, leaderEpoch: 2, log });
  g.onOffsetForLeaderEpoch({ errorCode: 0, leaderEpoch: 1, endOffset: 5 }, 0);
  assert.deepEqual(g.onFetch({ ..._none, divergingEpoch: { epoch: 0, endOffset: 1 } }, 0), [
    { kind: "truncate", offset: 1 },
  ]);
});

Deno.test("FollowerState skips to the stored end the leader names instead of copying", async () => {
  const log = await logOf([0, 0, 5]);
  const f = new FollowerState({ topic: "t", partition: 0, leaderId: 9, leaderEpoch: 2, log });
  f.onOffsetForLeaderEpoch({ errorCode: 0, leaderEpoch: 0, endOffset: 5 }, 0);
  assert.equal(f.phase, "fetching");
  // The leader's data from 5 to 40 is only in object storage: it names the stored end.
  assert.deepEqual(f.onFetch({ ..._none, snapshotEndOffset: 40, snapshotEpoch: 1 }, 0), [
    { kind: "skipTo", offset: 40, epoch: 1 },
  ]);
  assert.equal(f.phase, "fetching", "it goes on fetching from there");
  // A stored end we already passed changes nothing: the batches are appended as usual.
  log.logEndOffset = log.highWatermark = 40;
  const next = await batchAt(40, 2, 2);
  const actions = f.onFetch(
    { ..._none, snapshotEndOffset: 40, highWatermark: 42, records: next },
    0,
  );
  assert.deepEqual(actions.map((a) => a.kind), ["append"]);
});

Deno.test("FollowerState asks for a metadata refresh when fenced, and backs off exponentially", async () => {
  const log = await logOf([0, 0, 1]);
  const f = new FollowerState({
    topic: "t",
    partition: 0,
    leaderId: 9,
    leaderEpoch: 1,
    log,
    backoffMs: 100,
    backoffMaxMs: 350,
  });
  const fenced = f.onOffsetForLeaderEpoch({
    errorCode: ErrorCode.FENCED_LEADER_EPOCH,
    leaderEpoch: -1,
    endOffset: -1,
  }, 0);
  assert.equal(fenced[0]?.kind, "refreshMetadata");
  assert.deepEqual(f.nextRequest(50), { kind: "wait", untilMs: 100 });
  const unknown = f.onOffsetForLeaderEpoch({
    errorCode: ErrorCode.UNKNOWN_LEADER_EPOCH,
    leaderEpoch: -1,
    endOffset: -1,
  }, 100);
  assert.deepEqual(unknown, [], "the leader is behind: just retry");
  assert.deepEqual(f.nextRequest(100), { kind: "wait", untilMs: 300 });
  f.onRequestFailed(300);
  assert.deepEqual(f.nextRequest(300), { kind: "wait", untilMs: 650 }, "capped at backoffMaxMs");
  assert.equal(f.nextRequest(650).kind, "offsetForLeaderEpoch");
  // A new leader epoch clears the backoff and truncates again.
  f.onRequestFailed(650);
  f.updateLeader(9, 2);
  assert.deepEqual(f.nextRequest(650), {
    kind: "offsetForLeaderEpoch",
    currentLeaderEpoch: 2,
    leaderEpoch: 0,
  });
});

Deno.test("FollowerState re-truncates when fetched batches do not continue its log", async () => {
  const log = await logOf([0, 0, 2]);
  const f = new FollowerState({ topic: "t", partition: 0, leaderId: 9, leaderEpoch: 1, log });
  f.onOffsetForLeaderEpoch({ errorCode: 0, leaderEpoch: 0, endOffset: 2 }, 0);
  const gap = await batchAt(5, 1, 1);
  assert.deepEqual(f.onFetch({ ..._none, records: gap }, 0), []);
  assert.equal(f.phase, "truncating");
  // After a failed apply the partition truncates again too.
  f.onOffsetForLeaderEpoch({ errorCode: 0, leaderEpoch: 0, endOffset: 2 }, 1000);
  f.onApplyFailed(1000);
  assert.equal(f.phase, "truncating");
});
