import assert from "node:assert/strict";
import {
  countsAfter,
  planBalance,
  type PlanBroker,
  planDrain,
  type PlanPartition,
} from "./balance_plan.ts";
import { placeReplicas } from "./placement.ts";

function brokers(ids: number[], rack = (id: number) => `r${id}`): PlanBroker[] {
  return ids.map((id) => ({ nodeId: id, rack: rack(id), eligible: true }));
}

function partitions(topic: string, lists: number[][]): PlanPartition[] {
  return lists.map((replicas, partition) => ({ topic, partition, replicas, moving: false }));
}

Deno.test("planDrain moves every replica off the broker, spread over the others", () => {
  const bs = brokers([1, 2, 3, 4]).map((b) => ({ ...b, eligible: b.nodeId !== 4 }));
  const ps = partitions(
    "t",
    placeReplicas(brokers([1, 2, 3, 4]), {
      count: 12,
      replicationFactor: 2,
      cursor: 0,
    }),
  );
  const plan = planDrain(bs, ps, 4);
  assert.equal(plan.blocked.length, 0);
  const hosting = ps.filter((p) => p.replicas.includes(4)).length;
  assert.equal(plan.moves.length, hosting);
  for (const m of plan.moves) {
    assert.ok(!m.to.includes(4));
    assert.equal(new Set(m.to).size, m.to.length);
    assert.equal(m.to.length, m.from.length);
  }
  const after = countsAfter(bs, ps, plan);
  assert.equal(after.find((c) => c.nodeId === 4)!.replicas, 0);
  // Greedy in partition order, each replica picking the least loaded broker it may use:
  // within 2 of each other (a rebalance afterwards evens the rest out).
  const others = after.filter((c) => c.nodeId !== 4).map((c) => c.replicas);
  assert.ok(Math.max(...others) - Math.min(...others) <= 2, `${others}`);
});

Deno.test("planDrain prefers a rack the partition does not use yet", () => {
  const bs: PlanBroker[] = [
    { nodeId: 1, rack: "a", eligible: true },
    { nodeId: 2, rack: "a", eligible: true },
    { nodeId: 3, rack: "b", eligible: false },
    { nodeId: 4, rack: "b", eligible: true },
  ];
  const plan = planDrain(bs, partitions("t", [[3, 1]]), 3);
  assert.deepEqual(plan.moves[0]!.to, [4, 1]);
});

Deno.test("planDrain blocks a partition no broker can take and skips moving ones", () => {
  const bs = brokers([1, 2, 3]).map((b) => ({ ...b, eligible: b.nodeId !== 3 }));
  const ps: PlanPartition[] = [
    { topic: "a", partition: 0, replicas: [1, 2, 3], moving: false },
    { topic: "a", partition: 1, replicas: [3, 1], moving: true },
  ];
  const plan = planDrain(bs, ps, 3);
  assert.equal(plan.moves.length, 0);
  assert.equal(plan.blocked.length, 1);
  assert.match(plan.blocked[0]!.reason, /no eligible broker/);
});

Deno.test("planBalance gives a new broker its share of replicas and leaders", () => {
  const old = [1, 2, 3];
  const ps = partitions(
    "t",
    placeReplicas(brokers(old), { count: 12, replicationFactor: 3, cursor: 0 }),
  );
  const bs = brokers([1, 2, 3, 4]);
  const plan = planBalance(bs, ps);
  const after = countsAfter(bs, ps, plan);
  // 36 replicas over 4 brokers: 9 each; 12 leaders: 3 each.
  assert.deepEqual(after.map((c) => c.replicas), [9, 9, 9, 9]);
  assert.deepEqual(after.map((c) => c.leaders), [3, 3, 3, 3]);
  assert.equal(plan.moves.filter((m) => m.kind === "replica").length, 9, "the fewest moves");
  for (const m of plan.moves) assert.equal(new Set(m.to).size, 3);
});

Deno.test("planBalance is deterministic and leaves a balanced cluster alone", () => {
  const bs = brokers([1, 2, 3, 4]);
  const ps = partitions("t", placeReplicas(bs, { count: 8, replicationFactor: 2, cursor: 3 }));
  const first = planBalance(bs, ps);
  assert.ok(first.moves.length > 0, "the placement itself is uneven here (5,4,3,4)");
  const applied = ps.map((p) => ({
    ...p,
    replicas: first.moves.find((m) => m.partition === p.partition)?.to ?? p.replicas,
  }));
  assert.deepEqual(planBalance(bs, applied).moves, [], "a balanced cluster is left alone");
  const skewed = partitions("t", Array.from({ length: 8 }, (_, i) => [1 + (i % 2), 3]));
  assert.deepEqual(planBalance(bs, skewed), planBalance(bs, skewed));
});

Deno.test("planBalance keeps each partition's rack spread", () => {
  // Racks: 1,2 in a; 3,4 in b. Every partition spans both racks and must still do so.
  const bs = brokers([1, 2, 3, 4], (id) => id <= 2 ? "a" : "b");
  const ps = partitions("t", Array.from({ length: 6 }, () => [1, 3]));
  const plan = planBalance(bs, ps);
  const rack = (id: number) => id <= 2 ? "a" : "b";
  for (const m of plan.moves) assert.equal(new Set(m.to.map(rack)).size, 2, `${m.to}`);
  const after = countsAfter(bs, ps, plan).map((c) => c.replicas);
  assert.deepEqual(after, [3, 3, 3, 3]);
});

Deno.test("planBalance only touches the named topics and never uses ineligible brokers", () => {
  const bs = brokers([1, 2, 3]).map((b) => ({ ...b, eligible: b.nodeId !== 3 }));
  const ps = [
    ...partitions("a", [[1], [1], [1], [1]]),
    ...partitions("b", [[1], [1]]),
  ];
  const plan = planBalance(bs, ps, { topics: new Set(["a"]) });
  assert.ok(plan.moves.length > 0);
  assert.ok(plan.moves.every((m) => m.topic === "a" && !m.to.includes(3)));
  assert.equal(planBalance(bs, ps, { movesMax: 1 }).moves.length, 1);
});
