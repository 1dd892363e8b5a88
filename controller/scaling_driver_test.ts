import assert from "node:assert/strict";
import { createOpsApp } from "../ops/ops_server.ts";
import { createLogger } from "../ops/logger.ts";
import { ManualClock } from "../ops/clock.ts";
import { mountAdminApi } from "./admin_api.ts";
import type { ControllerNode } from "./controller_node.ts";
import { openTestNode, registerBrokers } from "./_test_node.ts";
import { ScalingDriver } from "./scaling_driver.ts";

type _Json = Record<string, unknown>;

async function setup(brokers: number, options: { migrationRate?: number } = {}) {
  const node = await openTestNode();
  await registerBrokers(node, brokers);
  const { app } = createOpsApp({ role: "controller", version: "test" });
  mountAdminApi(app, node);
  const clock = new ManualClock(1000);
  const driver = new ScalingDriver(node, {
    clock,
    logger: createLogger("test", { level: "error" }),
    moveTimeoutMs: 10_000,
    migrationRate: options.migrationRate ?? 0,
  });
  const req = async (method: string, path: string, body?: unknown) => {
    const res = await app.request(path, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: await res.json() as _Json };
  };
  return { node, driver, clock, req };
}

/** Plays the partition leaders: every new replica has caught up and joins the ISR. */
async function catchUp(node: ControllerNode): Promise<number> {
  let n = 0;
  for (const t of node.sm.topics()) {
    for (const p of t.partitions) {
      if (p.targetReplicas === undefined) continue;
      n++;
      await node.execute({
        v: 1,
        op: "alter_isr",
        nodeId: p.leader,
        brokerEpoch: node.sm.broker(p.leader)!.epoch,
        topic: t.name,
        partition: p.partition,
        leaderEpoch: p.leaderEpoch,
        partitionEpoch: p.partitionEpoch,
        isr: p.replicas,
      });
    }
  }
  return n;
}

async function createTopic(node: ControllerNode, name: string, partitions: number, rf: number) {
  await node.execute({
    v: 1,
    op: "create_topic",
    name,
    partitions,
    replicationFactor: rf,
    configs: {},
    topicId: `id-${name}`,
  });
}

Deno.test("ScalingDriver drains a decommissioned broker, a few moves at a time", async () => {
  const { node, driver, req } = await setup(4);
  try {
    await createTopic(node, "t", 12, 3);
    const r = await req("POST", "/api/v1/brokers/4/decommission");
    assert.equal(r.status, 202, JSON.stringify(r.json));
    assert.equal(r.json.state, "draining");
    let rounds = 0;
    let maxInFlight = 0;
    while (node.sm.broker(4)!.decommissioned !== true && rounds++ < 50) {
      await driver.step();
      maxInFlight = Math.max(maxInFlight, await catchUp(node));
    }
    assert.ok(maxInFlight <= 4, `at most 4 moves in flight: saw ${maxInFlight}`);
    const brokers = (await req("GET", "/api/v1/brokers")).json.brokers as _Json[];
    const b4 = brokers.find((b) => b.node_id === 4)!;
    assert.deepEqual([b4.state, b4.replicas, b4.leaders], ["decommissioned", 0, 0]);
    const counts = brokers.filter((b) => b.node_id !== 4).map((b) => b.replicas as number);
    assert.equal(counts.reduce((a, b) => a + b, 0), 36, "no replica lost");
    for (const p of node.sm.topic("t")!.partitions) {
      assert.equal(new Set(p.replicas).size, 3);
      assert.ok(!p.replicas.includes(4));
    }
    // A second decommission of the same broker is a no-op; cancelling returns it to service.
    assert.equal(
      (await req("POST", "/api/v1/brokers/4/decommission")).json.state,
      "decommissioned",
    );
    assert.equal((await req("DELETE", "/api/v1/brokers/4/decommission")).json.state, "active");
  } finally {
    driver.stop();
    await node.close();
  }
});

Deno.test("decommission: slots, cancel, unknown broker, no new replicas", async () => {
  const { node, driver, req } = await setup(4);
  try {
    await createTopic(node, "t", 4, 2);
    assert.equal((await req("POST", "/api/v1/brokers/1/decommission")).status, 202);
    const busy = await req("POST", "/api/v1/brokers/2/decommission");
    assert.equal(busy.status, 409);
    assert.match((busy.json.error as _Json).message as string, /at most 1 may be decommissioning/);
    assert.equal((await req("POST", "/api/v1/brokers/9/decommission")).status, 404);
    assert.equal((await req("POST", "/api/v1/brokers/x/decommission")).status, 404);
    await createTopic(node, "u", 6, 3);
    assert.ok(node.sm.topic("u")!.partitions.every((p) => !p.replicas.includes(1)));
    await driver.step();
    const progress = await req("GET", "/api/v1/brokers/1/decommission");
    assert.ok((progress.json.moving as string[]).length > 0, JSON.stringify(progress.json));
    const cancelled = await req("DELETE", "/api/v1/brokers/1/decommission");
    assert.equal(cancelled.json.state, "active");
    // With the slot free, another broker may drain.
    assert.equal((await req("POST", "/api/v1/brokers/2/decommission")).status, 202);
  } finally {
    driver.stop();
    await node.close();
  }
});

Deno.test("ScalingDriver reverts a move that does not catch up in time", async () => {
  const { node, driver, clock, req } = await setup(2);
  try {
    await createTopic(node, "t", 2, 1);
    for (const partition of [0, 1]) {
      await node.execute({ v: 1, op: "reassign_partition", topic: "t", partition, replicas: [1] });
    }
    await catchUp(node);
    assert.equal((await req("POST", "/api/v1/rebalance", {})).status, 202);
    await driver.step();
    const moving = node.sm.topic("t")!.partitions.find((p) => p.targetReplicas !== undefined)!;
    assert.deepEqual(moving.targetReplicas, [2]);
    clock.advance(9_999);
    await driver.step();
    assert.notEqual(node.sm.topic("t")!.partitions[moving.partition]!.targetReplicas, undefined);
    clock.advance(2);
    await driver.step();
    const p = node.sm.topic("t")!.partitions[moving.partition]!;
    assert.equal(p.targetReplicas, undefined);
    assert.deepEqual(p.replicas, [1], "reverted to its old replicas");
    const job = (await req("GET", "/api/v1/rebalance")).json;
    assert.deepEqual([job.state, job.moves_timed_out], ["finished", 1]);
  } finally {
    driver.stop();
    await node.close();
  }
});

Deno.test("rebalance: dry run shows the plan, a job gives a new broker its share", async () => {
  const { node, driver, req } = await setup(3);
  try {
    await createTopic(node, "t", 12, 3);
    await registerBrokers(node, 4);
    const dry = await req("POST", "/api/v1/rebalance", { dry_run: true });
    assert.equal(dry.status, 200);
    const shown = dry.json.brokers as _Json[];
    assert.deepEqual(shown.map((b) => b.replicas_after), [9, 9, 9, 9]);
    assert.equal(node.sm.state.rebalance, null, "a dry run changes nothing");
    const bad = await req("POST", "/api/v1/rebalance", { strategy: "BALANCE_LOAD" });
    assert.equal(bad.status, 400);
    assert.match((bad.json.error as _Json).message as string, /no broker has reported load/);
    assert.equal((await req("POST", "/api/v1/rebalance", { topic_names: ["nope"] })).status, 404);
    const started = await req("POST", "/api/v1/rebalance", { max_concurrent_moves: 2 });
    assert.equal(started.status, 202, JSON.stringify(started.json));
    assert.equal((await req("POST", "/api/v1/rebalance", {})).status, 409);
    for (let i = 0; i < 40 && !node.sm.state.rebalance!.finished; i++) {
      await driver.step();
      const moving = await catchUp(node);
      assert.ok(moving <= 2, `max_concurrent_moves holds: ${moving}`);
    }
    await driver.step(); // elects preferred leaders
    const job = (await req("GET", "/api/v1/rebalance")).json;
    assert.equal(job.state, "finished");
    assert.equal(job.moves_done, job.moves_total);
    const brokers = (await req("GET", "/api/v1/brokers")).json.brokers as _Json[];
    assert.deepEqual(brokers.map((b) => b.replicas), [9, 9, 9, 9]);
    assert.deepEqual(brokers.map((b) => b.leaders), [3, 3, 3, 3]);
  } finally {
    driver.stop();
    await node.close();
  }
});
