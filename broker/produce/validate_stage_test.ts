import assert from "node:assert/strict";
import { validateProduce } from "./validate_stage.ts";
import { ledPartition, stageBatch } from "./stage_fixture.ts";
import { KafkaProtocolError } from "../broker_errors.ts";
import { CorruptRecordError } from "../../protocol/record/record_errors.ts";

const opts = { acks: -1, marker: false, nodeId: 1 };

function code(err: unknown): string {
  assert.ok(err instanceof KafkaProtocolError, String(err));
  return err.code;
}

Deno.test("validateProduce admits a sound batch on the leader and returns its header and ack level", async () => {
  const { p } = ledPartition();
  const v = validateProduce(p, await stageBatch(3), opts);
  assert.equal(v.header.recordCount, 3);
  assert.deepEqual(v.level, { kind: "all" });
  assert.equal(v.leader, p.leader);
  p.leader!.close();
});

Deno.test("validateProduce refuses a follower, bad acks and too few in-sync replicas", async () => {
  const batch = await stageBatch(1);
  const follower = ledPartition();
  follower.p.become({ kind: "follower", leaderId: 2, leaderEpoch: 0, replicas: [1, 2], isr: [2] });
  assert.throws(
    () => validateProduce(follower.p, batch, opts),
    (e) => code(e) === "NOT_LEADER_OR_FOLLOWER" && /the leader is 2/.test((e as Error).message),
  );
  const { p } = ledPartition({ replicas: [1, 2], isr: [1], minInSyncReplicas: 2 });
  assert.throws(
    () => validateProduce(p, batch, { ...opts, acks: -3 }),
    (e) => code(e) === "INVALID_REQUIRED_ACKS",
  );
  assert.throws(() => validateProduce(p, batch, opts), (e) => code(e) === "NOT_ENOUGH_REPLICAS");
  // acks=0 and 1 do not need the ISR.
  assert.equal(validateProduce(p, batch, { ...opts, acks: 1 }).header.recordCount, 1);
  p.leader!.close();
});

Deno.test("validateProduce refuses a client's control batch, a marker that is not one, and a bad CRC", async () => {
  const { p } = ledPartition();
  const control = await stageBatch(1, { producerId: 5, control: true });
  assert.throws(
    () => validateProduce(p, control, opts),
    (e) => code(e) === "INVALID_RECORD" && /written by the broker only/.test((e as Error).message),
  );
  assert.equal(validateProduce(p, control, { ...opts, marker: true }).header.isControl, true);
  const plain = await stageBatch(1);
  assert.throws(
    () => validateProduce(p, plain, { ...opts, marker: true }),
    (e) => code(e) === "INVALID_RECORD" && /must be a control batch/.test((e as Error).message),
  );
  const bad = plain.slice();
  bad[bad.length - 1]! ^= 0xff;
  assert.throws(() => validateProduce(p, bad, opts), CorruptRecordError);
  p.leader!.close();
});
