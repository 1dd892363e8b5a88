import assert from "node:assert/strict";
import { KafkaProtocolError } from "../broker_errors.ts";
import { LeaderReplication } from "./leader_replication.ts";
import { ManualClock } from "../../ops/clock.ts";

function setup(clock: ManualClock, minInSyncReplicas = 2) {
  const alters: string[] = [];
  const hws: number[] = [];
  const r = new LeaderReplication({
    leaderId: 1,
    replicas: [1, 2, 3],
    isr: [1, 2, 3],
    leaderEpoch: 7,
    leaderEpochStartOffset: 0,
    logEndOffset: 0,
    highWatermark: 0,
    maxLagMessages: 1000,
    maxLagTimeMs: 1000,
    minInSyncReplicas,
    ackTimeoutMs: 3000,
    clock,
    onAlterIsr: (isr, epoch) => alters.push(`${isr.join(",")}@${epoch}`),
    onHighWatermark: (hw) => hws.push(hw),
  });
  return { r, alters, hws };
}

async function settled(p: Promise<void>): Promise<string> {
  let state = "pending";
  p.then(() => state = "ok", (e: KafkaProtocolError) => state = e.code);
  await new Promise((resolve) => setTimeout(resolve, 0));
  return state;
}

Deno.test("LeaderReplication resolves acks=all once the ISR has the records", async () => {
  const clock = new ManualClock();
  const { r, hws } = setup(clock);
  r.leaderDurable(4);
  const ack = r.awaitAck(4, { kind: "all" });
  r.followerFetched(2, 4);
  assert.equal(await settled(ack), "pending");
  r.followerFetched(3, 4);
  assert.equal(await settled(ack), "ok");
  assert.deepEqual(hws, [4]);
  r.close();
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("LeaderReplication shrinks the ISR on its timer and fails the ack after append", async () => {
  const clock = new ManualClock();
  const { r, alters } = setup(clock, 3);
  r.leaderDurable(4);
  r.followerFetched(2, 4);
  const ack = r.awaitAck(4, { kind: "all" });
  clock.advance(1500); // follower 3 never caught up: > 1000 ms; checks run every 500 ms
  assert.deepEqual(alters, ["1,2@7"]);
  r.isrCommitted([1, 2]);
  assert.equal(await settled(ack), "NOT_ENOUGH_REPLICAS_AFTER_APPEND");
  assert.throws(
    () => r.checkProduce({ kind: "all" }),
    (e: KafkaProtocolError) => e.code === "NOT_ENOUGH_REPLICAS",
  );
  r.close();
});

Deno.test("LeaderReplication times acks out with REQUEST_TIMED_OUT", async () => {
  const clock = new ManualClock();
  const { r } = setup(clock);
  r.leaderDurable(4);
  const ack = r.awaitAck(4, { kind: "custom", replicas: 3 }, 200);
  clock.advance(199);
  assert.equal(await settled(ack), "pending");
  clock.advance(1);
  assert.equal(await settled(ack), "REQUEST_TIMED_OUT");
  r.close();
});

Deno.test("LeaderReplication fails pending acks when leadership ends", async () => {
  const clock = new ManualClock();
  const { r } = setup(clock);
  r.leaderDurable(4);
  const ack = r.awaitAck(4, { kind: "majority" });
  r.close();
  assert.equal(await settled(ack), "NOT_LEADER_OR_FOLLOWER");
  await assert.rejects(r.awaitAck(1, { kind: "leader" }), KafkaProtocolError);
});
