import assert from "node:assert/strict";
import { hostedBy, MetadataStateMachine } from "./state_machine.ts";
import type { MetadataCommand } from "./commands.ts";
import { planDrain } from "./balance_plan.ts";

/** An apply result, loosely typed for the assertions below. */
interface _R {
  ok: boolean;
  value: Record<string, unknown>;
  error: { code: string };
}

function cluster(ids: number[]): { sm: MetadataStateMachine; run: (c: MetadataCommand) => _R } {
  const sm = new MetadataStateMachine();
  let index = 0;
  const run = (cmd: MetadataCommand) => sm.apply(++index, cmd).result as unknown as _R;
  for (const nodeId of ids) {
    run({
      v: 1,
      op: "register_broker",
      nodeId,
      host: "h",
      port: 9000 + nodeId,
      rack: null,
      endpoints: {},
    });
  }
  return { sm, run };
}

/** Completes every reassignment as the leaders would: they admit the new replicas to the ISR. */
function catchUp(sm: MetadataStateMachine, run: (c: MetadataCommand) => unknown): void {
  for (const t of sm.topics()) {
    for (const p of t.partitions) {
      if (p.targetReplicas === undefined) continue;
      run({
        v: 1,
        op: "alter_isr",
        nodeId: p.leader,
        brokerEpoch: sm.broker(p.leader)!.epoch,
        topic: t.name,
        partition: p.partition,
        leaderEpoch: p.leaderEpoch,
        partitionEpoch: p.partitionEpoch,
        isr: p.replicas,
      });
    }
  }
}

Deno.test("decommission drains a broker through reassignments, then marks it decommissioned", () => {
  const { sm, run } = cluster([1, 2, 3, 4]);
  run({
    v: 1,
    op: "create_topic",
    name: "t",
    partitions: 8,
    replicationFactor: 3,
    configs: {},
    topicId: "x",
  });
  assert.equal(run({ v: 1, op: "decommission_start", nodeId: 4 }).ok, true);
  const early = run({ v: 1, op: "decommission_complete", nodeId: 4 });
  assert.equal(early.error.code, "DECOMMISSION_IN_PROGRESS", "refused while it holds replicas");
  const view = () =>
    sm.topics().flatMap((t) =>
      t.partitions.map((p) => ({
        topic: t.name,
        partition: p.partition,
        replicas: p.replicas,
        moving: p.targetReplicas !== undefined,
      }))
    );
  const brokers = sm.brokers().map((b) => ({
    nodeId: b.nodeId,
    rack: b.rack,
    eligible: !b.decommissioning,
  }));
  for (const m of planDrain(brokers, view(), 4).moves) {
    assert.equal(
      run({
        v: 1,
        op: "reassign_partition",
        topic: m.topic,
        partition: m.partition,
        replicas: m.to,
      }).ok,
      true,
    );
  }
  // Until the new replicas are in sync, broker 4 still counts as hosting them.
  assert.ok(hostedBy(sm.topics(), 4).replicas > 0);
  catchUp(sm, run);
  assert.deepEqual(hostedBy(sm.topics(), 4), { replicas: 0, leaders: 0 });
  assert.equal(run({ v: 1, op: "decommission_complete", nodeId: 4 }).ok, true);
  const b4 = sm.broker(4)!;
  assert.equal(b4.decommissioned, true);
  assert.equal(b4.decommissioning, false);
  assert.deepEqual(sm.state.decommissioning, []);
  // A new topic avoids it, even after it registers again.
  run({ v: 1, op: "register_broker", nodeId: 4, host: "h", port: 9004, rack: null, endpoints: {} });
  run({
    v: 1,
    op: "create_topic",
    name: "u",
    partitions: 6,
    replicationFactor: 3,
    configs: {},
    topicId: "y",
  });
  assert.ok(sm.topic("u")!.partitions.every((p) => !p.replicas.includes(4)));
  // Cancelling returns it to service.
  assert.equal(run({ v: 1, op: "decommission_end", nodeId: 4 }).value.cancelled, true);
  assert.equal(sm.broker(4)!.decommissioned, undefined);
});

Deno.test("controlled_shutdown moves leaderships to in-sync replicas and checks the epoch", () => {
  const { sm, run } = cluster([1, 2, 3]);
  run({
    v: 1,
    op: "create_topic",
    name: "t",
    partitions: 6,
    replicationFactor: 3,
    configs: {},
    topicId: "x",
  });
  assert.ok(hostedBy(sm.topics(), 1).leaders > 0);
  const stale = run({ v: 1, op: "controlled_shutdown", nodeId: 1, brokerEpoch: 999 });
  assert.equal(stale.error.code, "STALE_BROKER_EPOCH");
  const r = run({ v: 1, op: "controlled_shutdown", nodeId: 1, brokerEpoch: sm.broker(1)!.epoch });
  assert.deepEqual(r.value, { leaders: 0 });
  for (const p of sm.topic("t")!.partitions) {
    assert.notEqual(p.leader, 1);
    assert.ok(!p.isr.includes(1), "it leaves the ISRs, so acks=all does not wait for it");
  }
});

Deno.test("rebalance jobs: one at a time, outcomes recorded, cancellable", () => {
  const { sm, run } = cluster([1, 2]);
  const move = { topic: "t", partition: 0, from: [1], to: [2], kind: "replica" as const };
  const start = (id: string) =>
    run({
      v: 1,
      op: "rebalance_start",
      id,
      strategy: "BALANCE_PARTITIONS",
      topics: null,
      maxConcurrentMoves: 2,
      moves: [move, { ...move, partition: 1 }],
    });
  assert.equal(start("a").ok, true);
  assert.equal(start("b").error.code, "REBALANCE_IN_PROGRESS");
  run({ v: 1, op: "rebalance_progress", id: "a", topic: "t", partition: 0, outcome: "done" });
  assert.equal(sm.state.rebalance!.finished, false);
  run({ v: 1, op: "rebalance_progress", id: "a", topic: "t", partition: 1, outcome: "timed_out" });
  assert.equal(sm.state.rebalance!.finished, true);
  assert.equal(start("c").ok, true);
  assert.equal(run({ v: 1, op: "rebalance_cancel" }).ok, true);
  assert.deepEqual(sm.state.rebalance!.moves.map((m) => m.outcome), ["cancelled", "cancelled"]);
  assert.equal(run({ v: 1, op: "rebalance_cancel" }).error.code, "NOT_FOUND");
  // Snapshots keep the job.
  const copy = new MetadataStateMachine();
  copy.restore(sm.applied, sm.snapshot());
  assert.deepEqual(copy.state.rebalance, sm.state.rebalance);
});
