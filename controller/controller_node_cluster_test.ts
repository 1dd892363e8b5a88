import assert from "node:assert/strict";
import { ControllerNode } from "./controller_node.ts";
import { MemoryStorage, SeededRandom } from "./raft/mod.ts";
import { MemoryNetwork } from "./transport/memory_transport.ts";
import { createLogger } from "../ops/logger.ts";

const IDS = ["c1", "c2", "c3"];

async function openCluster(net: MemoryNetwork, leaseMs: number): Promise<ControllerNode[]> {
  return await Promise.all(IDS.map((id, i) =>
    ControllerNode.open({
      id,
      voters: IDS,
      storage: new MemoryStorage(),
      transport: net.transport(id, IDS),
      random: new SeededRandom(i + 1),
      logger: createLogger(id, { level: "error" }),
      tickMs: 10,
      electionTicks: 10,
      brokerLeaseMs: leaseMs,
      requestTimeoutMs: 3000,
    })
  ));
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function leaderOf(nodes: ControllerNode[]): ControllerNode | undefined {
  return nodes.find((n) => n.status().role === "leader");
}

Deno.test("ControllerNode followers forward writes and serve linearizable reads", async () => {
  const net = new MemoryNetwork();
  const nodes = await openCluster(net, 60_000);
  try {
    const leader = await until("a leader", () => leaderOf(nodes));
    const follower = nodes.find((n) => n !== leader)!;
    await follower.execute({
      v: 1,
      op: "register_broker",
      nodeId: 1,
      host: "h",
      port: 1,
      rack: null,
      endpoints: {},
    });
    const r = await follower.execute({
      v: 1,
      op: "create_topic",
      name: "t",
      partitions: 2,
      replicationFactor: 1,
      configs: {},
      topicId: "x",
    });
    assert.ok(follower.sm.applied >= r.index, "the result is visible on the proposer");
    const other = nodes.find((n) => n !== leader && n !== follower)!;
    await other.linearizableRead();
    assert.equal(other.sm.topic("t")?.partitions.length, 2, "a read after the write sees it");
    await assert.rejects(
      follower.execute({
        v: 1,
        op: "create_topic",
        name: "t",
        partitions: 1,
        replicationFactor: 1,
        configs: {},
        topicId: "y",
      }),
      { code: "TOPIC_ALREADY_EXISTS" },
    );
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

Deno.test("ControllerNode keeps a heartbeating broker alive across a leader change", async () => {
  const net = new MemoryNetwork();
  const nodes = await openCluster(net, 300);
  let beating = true;
  try {
    const first = await until("a leader", () => leaderOf(nodes));
    const reg = await first.execute({
      v: 1,
      op: "register_broker",
      nodeId: 1,
      host: "h",
      port: 1,
      rack: null,
      endpoints: {},
    });
    const epoch = (reg.value as { brokerEpoch: number }).brokerEpoch;
    const survivors = nodes.filter((n) => n !== first);
    // The broker heartbeats through whichever survivor answers, every 50 ms.
    const beat = (async () => {
      while (beating) {
        await survivors[0]!.brokerHeartbeat(1, epoch).catch(() => {});
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    net.down(first.id);
    const second = await until("a new leader", () => {
      const l = leaderOf(survivors);
      return l !== undefined && l.status().term > first.status().term ? l : undefined;
    });
    // Two leases under the new leader: still alive.
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(second.sm.broker(1)?.fenced, false);
    beating = false;
    await beat;
    await until(
      "the silent broker to be fenced",
      () => second.sm.broker(1)?.fenced ? true : undefined,
      3000,
    );
  } finally {
    beating = false;
    await Promise.all(nodes.map((n) => n.close()));
  }
});
