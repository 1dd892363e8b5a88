/**
 * Test helper: a single-voter {@linkcode ControllerNode} in memory, with fast ticks.
 *
 * @module
 */

import { ControllerNode, type ControllerNodeOptions } from "./controller_node.ts";
import { MemoryStorage, SeededRandom } from "./raft/mod.ts";
import { LoopbackTransport } from "./transport/raft_transport.ts";
import { createLogger } from "../ops/logger.ts";

/** Opens a node and waits until it leads and the cluster id is set. */
export async function openTestNode(
  overrides: Partial<ControllerNodeOptions> = {},
  options: { waitLeader?: boolean } = {},
): Promise<ControllerNode> {
  const node = await ControllerNode.open({
    id: "c1",
    voters: ["c1"],
    storage: new MemoryStorage(),
    transport: new LoopbackTransport(),
    random: new SeededRandom(1),
    logger: createLogger("test", { level: "error" }),
    tickMs: 5,
    electionTicks: 2,
    brokerLeaseMs: 0,
    ...overrides,
  });
  if (options.waitLeader === false) return node;
  for (let i = 0; i < 400 && node.sm.clusterId === ""; i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  if (node.sm.clusterId === "") throw new Error("test node did not elect itself");
  return node;
}

/** Registers brokers 1..n on racks r1..rn. */
export async function registerBrokers(node: ControllerNode, n: number): Promise<void> {
  for (let id = 1; id <= n; id++) {
    await node.execute({
      v: 1,
      op: "register_broker",
      nodeId: id,
      host: "127.0.0.1",
      port: 9090 + id,
      rack: `r${id}`,
      endpoints: {},
    });
  }
}
