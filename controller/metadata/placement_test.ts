import assert from "node:assert/strict";
import { placeReplicas, rackAlternatedBrokers } from "./placement.ts";

Deno.test("rackAlternatedBrokers interleaves racks", () => {
  const out = rackAlternatedBrokers([
    { nodeId: 1, rack: "a" },
    { nodeId: 2, rack: "a" },
    { nodeId: 3, rack: "b" },
    { nodeId: 4, rack: null },
  ]);
  assert.deepEqual(out.map((b) => b.nodeId), [4, 1, 3, 2]);
});

Deno.test("placeReplicas uses every rack before reusing one", () => {
  const brokers = [1, 2, 3, 4, 5].map((id) => ({ nodeId: id, rack: id <= 3 ? "a" : "b" }));
  for (let cursor = 0; cursor < 10; cursor++) {
    for (const replicas of placeReplicas(brokers, { count: 10, replicationFactor: 3, cursor })) {
      assert.equal(new Set(replicas).size, 3);
      const racks = new Set(replicas.map((id) => brokers[id - 1]!.rack));
      assert.equal(racks.size, 2, `${replicas}`);
    }
  }
});

Deno.test("placeReplicas refuses more replicas than brokers", () => {
  assert.throws(
    () => placeReplicas([{ nodeId: 1, rack: null }], { count: 1, replicationFactor: 2, cursor: 0 }),
    RangeError,
  );
});
