import assert from "node:assert/strict";
import { brokerLoads, type LoadPartition, planLoadBalance } from "./load_plan.ts";

const brokers = (ids: number[]) => ids.map((id) => ({ nodeId: id, rack: null, eligible: true }));
const part = (partition: number, replicas: number[]): LoadPartition => ({
  topic: "t",
  partition,
  replicas,
  moving: false,
  leader: replicas[0]!,
});

Deno.test("planLoadBalance hands leadership to a cooler in-sync replica before copying", () => {
  // Broker 1 leads both hot partitions; 2 and 3 hold replicas. A leader change suffices.
  const ps = [part(0, [1, 2]), part(1, [1, 3])];
  const w = new Map([["t/0", 100], ["t/1", 100]]);
  assert.deepEqual([...brokerLoads([1, 2, 3], ps, w)], [[1, 400], [2, 100], [3, 100]]);
  const plan = planLoadBalance(brokers([1, 2, 3]), ps, w);
  assert.ok(plan.moves.length >= 1);
  assert.equal(plan.moves[0]!.kind, "leader");
  const after = ps.map((p) => {
    const m = plan.moves.find((x) => x.partition === p.partition);
    return m === undefined ? p : { ...p, replicas: m.to, leader: m.to[0]! };
  });
  const loads = brokerLoads([1, 2, 3], after, w);
  assert.ok(Math.max(...loads.values()) < 400, `peak fell: ${[...loads]}`);
});

Deno.test("planLoadBalance moves hot single replicas to idle brokers and leaves cold ones", () => {
  const ps = [part(0, [1]), part(1, [1]), part(2, [1]), part(3, [2]), part(4, [3])];
  const w = new Map([["t/0", 500], ["t/1", 500], ["t/2", 500], ["t/3", 0], ["t/4", 0]]);
  const plan = planLoadBalance(brokers([1, 2, 3]), ps, w);
  assert.equal(plan.moves.length, 2, JSON.stringify(plan.moves));
  assert.ok(plan.moves.every((m) => m.kind === "replica" && m.from[0] === 1));
  assert.deepEqual(new Set(plan.moves.map((m) => m.to[0])), new Set([2, 3]));
  assert.ok(!plan.moves.some((m) => m.partition >= 3), "cold partitions stay");
});

Deno.test("planLoadBalance does nothing when balanced, idle or when a move would not help", () => {
  const even = [part(0, [1]), part(1, [2])];
  assert.equal(
    planLoadBalance(brokers([1, 2]), even, new Map([["t/0", 10], ["t/1", 10]])).moves.length,
    0,
  );
  assert.equal(planLoadBalance(brokers([1, 2]), even, new Map()).moves.length, 0);
  // One partition carries everything: moving it only moves the peak.
  const one = [part(0, [1]), part(1, [2])];
  assert.equal(
    planLoadBalance(brokers([1, 2]), one, new Map([["t/0", 100]])).moves.length,
    0,
  );
  // A partition already being reassigned is left alone.
  const moving = [{ ...part(0, [1]), moving: true }, part(1, [1]), part(2, [2])];
  const plan = planLoadBalance(
    brokers([1, 2]),
    moving,
    new Map([["t/0", 100], ["t/1", 100]]),
  );
  assert.ok(plan.moves.every((m) => m.partition !== 0));
});
