import assert from "node:assert/strict";
import { AssignerProtocol } from "kafkajs";
import { Buffer } from "node:buffer";
import {
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
  type Subscription,
} from "./consumer_protocol.ts";

const _FULL: Subscription = {
  version: 3,
  topics: ["a", "bc"],
  userData: new Uint8Array([9]),
  ownedPartitions: [{ topic: "a", partitions: [1, 2] }],
  generationId: 7,
  rackId: "r1",
};

Deno.test("encodeSubscription writes the Java ConsumerProtocol v3 layout", () => {
  const bytes = encodeSubscription(_FULL);
  assert.deepEqual([...bytes], [
    0,
    3, // version
    0,
    0,
    0,
    2,
    0,
    1,
    97,
    0,
    2,
    98,
    99, // topics
    0,
    0,
    0,
    1,
    9, // user data
    0,
    0,
    0,
    1,
    0,
    1,
    97,
    0,
    0,
    0,
    2,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    2, // owned partitions
    0,
    0,
    0,
    7, // generation
    0,
    2,
    114,
    49, // rack
  ]);
  assert.deepEqual(decodeSubscription(bytes), _FULL);
});

Deno.test("decodeSubscription reads each version's fields and ignores newer ones", () => {
  for (const version of [0, 1, 2, 3]) {
    const got = decodeSubscription(encodeSubscription({ ..._FULL, version }));
    assert.deepEqual(got.topics, ["a", "bc"]);
    assert.deepEqual(got.ownedPartitions, version >= 1 ? _FULL.ownedPartitions : []);
    assert.equal(got.generationId, version >= 2 ? 7 : -1);
    assert.equal(got.rackId, version >= 3 ? "r1" : null);
  }
  // A v4 written by some future client: the v3 prefix is read, the tail ignored.
  const v3 = encodeSubscription(_FULL);
  const v4 = new Uint8Array([...v3, 1, 2, 3]);
  v4[1] = 4;
  assert.deepEqual(decodeSubscription(v4).ownedPartitions, _FULL.ownedPartitions);
});

Deno.test("decodeSubscription rejects bytes cut anywhere inside the topic list", () => {
  const bytes = encodeSubscription({ ..._FULL, version: 0 });
  for (let n = 0; n < 11; n++) {
    assert.throws(() => decodeSubscription(bytes.subarray(0, n)), { name: "MalformedFrameError" });
  }
});

Deno.test("encodeSubscription and encodeAssignment interoperate with kafkajs's AssignerProtocol", () => {
  const ours = encodeSubscription({
    version: 0,
    topics: ["x", "y"],
    userData: new Uint8Array(0),
    ownedPartitions: [],
    generationId: -1,
    rackId: null,
  });
  const theirs = AssignerProtocol.MemberMetadata.encode({
    version: 0,
    topics: ["x", "y"],
    userData: Buffer.alloc(0),
  });
  assert.deepEqual([...ours], [...theirs]);
  const kjsDecoded = AssignerProtocol.MemberMetadata.decode(Buffer.from(encodeSubscription(_FULL)));
  assert.deepEqual(kjsDecoded?.topics, ["a", "bc"]);

  const assignment = encodeAssignment({
    version: 0,
    assignedPartitions: [{ topic: "x", partitions: [0, 2] }],
    userData: new Uint8Array(0),
  });
  const kjsAssignment = AssignerProtocol.MemberAssignment.encode({
    version: 0,
    assignment: { x: [0, 2] },
    userData: Buffer.alloc(0),
  });
  assert.deepEqual([...assignment], [...kjsAssignment]);
  assert.deepEqual(decodeAssignment(new Uint8Array(kjsAssignment)).assignedPartitions, [
    { topic: "x", partitions: [0, 2] },
  ]);
});

Deno.test("decodeAssignment treats empty bytes as an empty assignment", () => {
  assert.deepEqual(decodeAssignment(new Uint8Array(0)).assignedPartitions, []);
});

Deno.test("encodeSubscription rejects versions it cannot write", () => {
  assert.throws(() => encodeSubscription({ ..._FULL, version: 4 }), RangeError);
  assert.throws(
    () => encodeAssignment({ version: -1, assignedPartitions: [], userData: null }),
    RangeError,
  );
});
