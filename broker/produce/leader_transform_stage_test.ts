import assert from "node:assert/strict";
import { keepsBatch, transformForAppend } from "./leader_transform_stage.ts";
import { ledPartition, stageBatch } from "./stage_fixture.ts";
import type { ProduceTransform } from "./transform_stage.ts";
import { KafkaProtocolError } from "../broker_errors.ts";

Deno.test("transformForAppend copies an untransformed batch and keeps markers away from the chain", async () => {
  const { p } = ledPartition();
  const records = await stageBatch(2);
  const out = await transformForAppend(p, p.leader!, records, {
    transform: undefined,
    marker: false,
    stillHosted: () => true,
  });
  assert.notEqual(out, records);
  assert.deepEqual(out, records);
  let calls = 0;
  const transform: ProduceTransform = () => {
    calls++;
    return Promise.resolve({ batch: null, recordsIn: 1 });
  };
  const marker = await stageBatch(1, { producerId: 3, control: true });
  const kept = await transformForAppend(p, p.leader!, marker, {
    transform,
    marker: true,
    stillHosted: () => true,
  });
  assert.equal(calls, 0);
  assert.deepEqual(kept, marker);
  p.leader!.close();
});

Deno.test("transformForAppend returns the chain's batch, or null when it kept nothing", async () => {
  const { p } = ledPartition();
  const records = await stageBatch(2);
  const replaced = await stageBatch(1);
  let answer: Uint8Array | null = replaced;
  const transform: ProduceTransform = (topic, partition, config, batch) => {
    assert.deepEqual([topic, partition, config, batch], ["t", 0, p.config, records]);
    return Promise.resolve({ batch: answer, recordsIn: 2 });
  };
  const options = { transform, marker: false, stillHosted: () => true };
  assert.equal(await transformForAppend(p, p.leader!, records, options), replaced);
  answer = null;
  assert.equal(await transformForAppend(p, p.leader!, records, options), null);
  p.leader!.close();
});

Deno.test("transformForAppend refuses a batch whose partition changed leadership while the chain ran", async () => {
  const { p } = ledPartition();
  const leader = p.leader!;
  const other = ledPartition().p.leader!;
  const records = await stageBatch(1);
  const transform: ProduceTransform = () => {
    // A new epoch arrived while the chain ran.
    p.become({ kind: "leader", leaderId: 1, leaderEpoch: 1, replicas: [1], replication: other });
    return Promise.resolve({ batch: records, recordsIn: 1 });
  };
  await assert.rejects(
    transformForAppend(p, leader, records, { transform, marker: false, stillHosted: () => true }),
    (e) => e instanceof KafkaProtocolError && e.code === "NOT_LEADER_OR_FOLLOWER",
  );
  other.close();
  // The partition was unhosted and hosted again while the chain ran; its leader is unchanged.
  const q = ledPartition().p;
  await assert.rejects(
    transformForAppend(q, q.leader!, records, {
      transform: () => Promise.resolve({ batch: records, recordsIn: 1 }),
      marker: false,
      stillHosted: () => false,
    }),
    /leadership changed while its ETL chain ran/,
  );
  q.leader!.close();
});

Deno.test("transformForAppend keeps an owned batch that fills its buffer, and copies any other", async () => {
  const { p } = ledPartition();
  const records = await stageBatch(2);
  const options = { transform: undefined, marker: false, stillHosted: () => true };
  // A request frame: the batch plus a short request header before it, in one buffer.
  const header = Math.floor(records.length / 16);
  const frame = new Uint8Array(header + records.length);
  frame.set(records, header);
  const inFrame = frame.subarray(header);
  const kept = await transformForAppend(p, p.leader!, inFrame, { ...options, owned: true });
  assert.equal(kept, inFrame, "an owned batch is appended from its frame");
  const notOwned = await transformForAppend(p, p.leader!, inFrame, options);
  assert.notEqual(notOwned!.buffer, frame.buffer);
  assert.deepEqual(notOwned, records);
  // A small batch in a large frame would pin the frame unseen by the cache's accounting.
  const big = new Uint8Array(records.length * 4);
  big.set(records);
  const small = big.subarray(0, records.length);
  const copied = await transformForAppend(p, p.leader!, small, { ...options, owned: true });
  assert.notEqual(copied!.buffer, big.buffer);
  assert.deepEqual(copied, records);
  p.leader!.close();
});

Deno.test("keepsBatch allows at most a sixteenth of the batch as the rest of its buffer", () => {
  const buf = new Uint8Array(1700);
  assert.equal(keepsBatch(buf.subarray(100), true), true);
  assert.equal(keepsBatch(buf.subarray(101), true), false);
  assert.equal(keepsBatch(buf, false), false);
});
