import assert from "node:assert/strict";
import { commandProblem } from "./commands.ts";

Deno.test("commandProblem rejects malformed commands by field", () => {
  assert.match(commandProblem(null)!, /object/);
  assert.match(commandProblem({ v: 2, op: "delete_topic", name: "x" })!, /version/);
  assert.match(commandProblem({ v: 1, op: "drop_everything" })!, /unknown/);
  assert.match(
    commandProblem({
      v: 1,
      op: "create_topic",
      name: "t",
      partitions: "3",
      replicationFactor: 1,
      configs: {},
      topicId: "",
    })!,
    /partitions/,
  );
  assert.match(
    commandProblem({
      v: 1,
      op: "create_topic",
      name: "t",
      partitions: 3,
      replicationFactor: 1,
      configs: { a: 1 },
      topicId: "",
    })!,
    /configs/,
  );
  assert.match(
    commandProblem({
      v: 1,
      op: "commit_upload",
      object: { objectKey: "o", ranges: [{}], sizeBytes: 1, createdMs: 0 },
    })!,
    /object/,
  );
  assert.match(
    commandProblem({
      v: 1,
      op: "alter_isr",
      nodeId: 1,
      brokerEpoch: 1,
      topic: "t",
      partition: 0,
      leaderEpoch: 0,
      partitionEpoch: 0,
      isr: ["1"],
    })!,
    /isr/,
  );
  assert.match(
    commandProblem({ v: 1, op: "register_broker", nodeId: 1, host: "h", port: 1, rack: 5 })!,
    /rack/,
  );
  assert.match(
    commandProblem({
      v: 1,
      op: "import_local",
      clusterId: "",
      nextProducerId: "0",
      topics: [{}],
      manifest: { partitions: {}, objects: [] },
    })!,
    /topics/,
  );
  assert.equal(
    commandProblem({ v: 1, op: "register_broker", nodeId: 1, host: "h", port: 1, rack: null }),
    null,
  );
});
