import assert from "node:assert/strict";
import { answerDropped, answerDuplicate, checkSequence } from "./sequence_stage.ts";
import { ledPartition, stageBatch } from "./stage_fixture.ts";
import { readBatchHeader } from "../../protocol/record/record_batch.ts";
import { KafkaProtocolError } from "../broker_errors.ts";
import { markerBatch } from "../txn/txn_marker.ts";

Deno.test("checkSequence admits the next batch, finds a retry, and refuses a gap", async () => {
  const { p } = ledPartition();
  const first = readBatchHeader(await stageBatch(2, { producerId: 9, baseSequence: 0 }));
  const v = checkSequence(p, first);
  assert.equal(v.kind, "append");
  // Nothing is recorded by the check itself.
  assert.equal(checkSequence(p, first).kind, "append");
  p.producers.record(v.seq, 40);
  assert.deepEqual(checkSequence(p, first), { kind: "duplicate", seq: v.seq, baseOffset: 40 });
  const gap = readBatchHeader(await stageBatch(1, { producerId: 9, baseSequence: 5 }));
  assert.throws(
    () => checkSequence(p, gap),
    (e) => e instanceof KafkaProtocolError && e.code === "OUT_OF_ORDER_SEQUENCE_NUMBER",
  );
  p.leader!.close();
});

Deno.test("checkSequence lets a marker fence the producer instead of checking a sequence", async () => {
  const { p } = ledPartition();
  const marker = readBatchHeader(await stageBatch(1, { producerId: 9, control: true }));
  assert.equal(checkSequence(p, marker).kind, "append");
  p.producers.fence(9, 3);
  // Epoch 0 is now older than the partition's: the marker is refused.
  assert.throws(
    () => checkSequence(p, marker),
    (e) => e instanceof KafkaProtocolError && e.code === "INVALID_PRODUCER_EPOCH",
  );
  p.leader!.close();
});

Deno.test("checkSequence refuses a marker from a coordinator epoch older than one seen", async () => {
  const { p } = ledPartition();
  const at = async (coordinatorEpoch: number) =>
    await markerBatch({ producerId: 9, producerEpoch: 0, commit: true, coordinatorEpoch }, 0);
  const newer = await at(5);
  assert.equal(checkSequence(p, readBatchHeader(newer), newer).kind, "append");
  const stale = await at(4);
  assert.throws(
    () => checkSequence(p, readBatchHeader(stale), stale),
    (e) => e instanceof KafkaProtocolError && e.code === "TRANSACTION_COORDINATOR_FENCED",
  );
  p.leader!.close();
});

Deno.test("answerDuplicate answers with the original offsets once the ISR has them", async () => {
  const { p } = ledPartition({ replicas: [1, 2] });
  const batch = await stageBatch(3, { producerId: 9 });
  p.log.assign(batch);
  p.leader!.leaderDurable(3);
  const seq = checkSequence(p, readBatchHeader(batch)).seq;
  let answered = false;
  const answer = answerDuplicate(p, p.leader!, { seq, baseOffset: 0 }, {
    acks: -1,
    level: { kind: "all" },
  }).then((r) => (answered = true, r));
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(answered, false);
  p.leader!.followerFetched(2, 3);
  const r = await answer;
  assert.deepEqual(r, {
    baseOffset: 0,
    lastOffset: 2,
    logAppendTimeMs: -1,
    logStartOffset: 0,
    duplicate: true,
  });
  p.leader!.close();
});

Deno.test("answerDropped records the dropped batch's sequence at the log end", async () => {
  const { p } = ledPartition();
  const header = readBatchHeader(await stageBatch(2, { producerId: 9 }));
  const r = await answerDropped(p, header);
  assert.deepEqual(r, {
    baseOffset: 0,
    lastOffset: -1,
    logAppendTimeMs: -1,
    logStartOffset: 0,
    duplicate: false,
  });
  // The retry is a duplicate; the producer's next sequence is in order.
  assert.equal((await answerDropped(p, header)).duplicate, true);
  const next = readBatchHeader(await stageBatch(1, { producerId: 9, baseSequence: 2 }));
  assert.equal(checkSequence(p, next).kind, "append");
  p.leader!.close();
});
