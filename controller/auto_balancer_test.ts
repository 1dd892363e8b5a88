import assert from "node:assert/strict";
import { ManualClock } from "../ops/clock.ts";
import { createLogger } from "../ops/logger.ts";
import { createOpsApp } from "../ops/ops_server.ts";
import { mountAdminApi } from "./admin_api.ts";
import { AutoBalancer } from "./auto_balancer.ts";
import { LoadBoard } from "./metadata/load_board.ts";
import { openTestNode, registerBrokers } from "./_test_node.ts";
import type { ControllerNode } from "./controller_node.ts";

async function setup(enabled = true, cooldownMs = 60_000) {
  const node = await openTestNode();
  await registerBrokers(node, 3);
  const clock = new ManualClock(1_000_000);
  const loads = new LoadBoard();
  let n = 0;
  const balancer = new AutoBalancer(node, {
    clock,
    logger: createLogger("test", { level: "error" }),
    enabled,
    cpuThreshold: 0.8,
    memoryThreshold: 0.75,
    cooldownMs,
    loads,
    reportMaxAgeMs: 10_000,
    newId: () => `job-${++n}`,
  });
  return { node, clock, loads, balancer };
}

async function topic(node: ControllerNode, name: string, partitions: number, rf: number) {
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

/** Reports for brokers 1..3: broker 1 leads the hot partitions of `hot`. */
function report(node: ControllerNode, loads: LoadBoard, clock: ManualClock, rate: number) {
  for (const id of [1, 2, 3]) {
    const partitions = node.sm.topics().flatMap((t) =>
      t.partitions.filter((p) => p.leader === id).map((p) => ({
        topic: t.name,
        partition: p.partition,
        recordsInPerSec: id === 1 ? rate : 0,
      }))
    );
    const load = { cpu: 0.1, memory: 0.1, bytesInPerSec: 0, bytesOutPerSec: 0, partitions };
    loads.record(id, load, clock.monotonicMs());
  }
}

Deno.test("auto-balancer starts one BALANCE_LOAD job on skewed load, then waits out its cooldown", async () => {
  const { node, clock, loads, balancer } = await setup();
  try {
    await topic(node, "t", 6, 1);
    report(node, loads, clock, 500);
    const d = await balancer.step();
    assert.equal(d?.action, "started");
    assert.equal(d?.strategy, "BALANCE_LOAD");
    assert.match(d!.reason, /broker 1 carries .* records\/s, .*x the mean .*skew bound 1\.5x/);
    const job = node.sm.state.rebalance!;
    assert.equal(job.id, "job-1");
    assert.equal(job.strategy, "BALANCE_LOAD");
    assert.ok(job.moves.length > 0 && job.moves.every((m) => m.from.includes(1)));
    // While the job runs, nothing new starts; after it, the cooldown still holds.
    assert.equal(await balancer.step(), null);
    await node.execute({ v: 1, op: "rebalance_cancel" });
    clock.advance(30_000);
    report(node, loads, clock, 500);
    assert.equal(await balancer.step(), null, "inside the cooldown");
    clock.advance(31_000);
    report(node, loads, clock, 500);
    assert.equal((await balancer.step())?.jobId, "job-2");
    assert.equal(balancer.decisions.length, 2);
  } finally {
    await node.close();
  }
});

Deno.test("auto-balancer: CPU over its threshold triggers, even load does not, disabled never acts", async () => {
  const { node, clock, loads, balancer } = await setup();
  try {
    await topic(node, "t", 3, 1);
    for (const id of [1, 2, 3]) {
      loads.record(id, {
        cpu: 0.2,
        memory: 0.1,
        bytesInPerSec: 0,
        bytesOutPerSec: 0,
        partitions: [],
      }, clock.monotonicMs());
    }
    assert.equal(await balancer.step(), null, "even replica counts, no load: balanced");
    loads.record(2, {
      cpu: 0.95,
      memory: 0.1,
      bytesInPerSec: 0,
      bytesOutPerSec: 0,
      partitions: [],
    }, clock.monotonicMs());
    const d = await balancer.step();
    assert.match(d!.reason, /broker 2 CPU 95% is above cpu_threshold 80%/);
    // Nothing to move (no partition carries load): said once, not every step.
    assert.equal(d!.action, "no_moves");
    assert.equal(await balancer.step(), null);
    // Stale reports are ignored.
    clock.advance(20_000);
    assert.equal(await balancer.step(), null);
  } finally {
    await node.close();
  }
  const off = await setup(false);
  try {
    await topic(off.node, "t", 6, 1);
    report(off.node, off.loads, off.clock, 500);
    assert.equal(await off.balancer.step(), null);
    assert.equal(off.node.sm.state.rebalance, null);
  } finally {
    await off.node.close();
  }
});

Deno.test("auto-balancer gives a joining broker replicas (BALANCE_PARTITIONS) and REST shows it", async () => {
  const { node, balancer } = await setup();
  try {
    await topic(node, "t", 6, 2);
    await node.execute({
      v: 1,
      op: "register_broker",
      nodeId: 4,
      host: "127.0.0.1",
      port: 9094,
      rack: "r4",
      endpoints: {},
    });
    const d = await balancer.step();
    assert.equal(d?.strategy, "BALANCE_PARTITIONS");
    assert.match(d!.reason, /broker \d holds \d+, broker 4 0/);
    assert.ok(node.sm.state.rebalance!.moves.some((m) => m.to.includes(4)));
    const { app } = createOpsApp({ role: "controller", version: "test" });
    mountAdminApi(app, node, { autoBalancer: balancer });
    const res = await app.request("/api/v1/autobalancer");
    const body = await res.json() as { enabled: boolean; decisions: { reason: string }[] };
    assert.equal(res.status, 200);
    assert.equal(body.enabled, true);
    assert.equal(body.decisions[0]!.reason, d!.reason);
    const load = await app.request("/api/v1/rebalance", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ strategy: "BALANCE_LOAD", dry_run: true }),
    });
    assert.equal(load.status, 400, "no reports yet");
    assert.match(
      (await load.json() as { error: { message: string } }).error.message ??
        "",
      /no broker has reported load/,
    );
  } finally {
    await node.close();
  }
});
