import assert from "node:assert/strict";
import { ackLevelToWire, ACKS_MAJORITY, parseAckLevel } from "./ack_level.ts";

Deno.test("ackLevelToWire encodes each level in the Produce acks field", () => {
  assert.equal(ackLevelToWire("None"), 0);
  assert.equal(ackLevelToWire("Leader"), 1);
  assert.equal(ackLevelToWire("All"), -1);
  assert.equal(ackLevelToWire("Majority"), ACKS_MAJORITY);
  assert.equal(ACKS_MAJORITY, -2);
  assert.equal(ackLevelToWire({ custom: 3 }), 3);
  assert.throws(() => ackLevelToWire({ custom: -1 }), RangeError);
  assert.throws(() => ackLevelToWire({ custom: 40000 }), RangeError);
});

Deno.test("parseAckLevel reads the command-line spellings", () => {
  assert.equal(parseAckLevel("0"), "None");
  assert.equal(parseAckLevel("leader"), "Leader");
  assert.equal(parseAckLevel("-1"), "All");
  assert.equal(parseAckLevel("ALL"), "All");
  assert.equal(parseAckLevel("majority"), "Majority");
  assert.deepEqual(parseAckLevel("3"), { custom: 3 });
  assert.throws(() => parseAckLevel("maybe"), RangeError);
});
