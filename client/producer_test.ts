import assert from "node:assert/strict";
import { RustMqClient } from "./client.ts";
import { BrokerError, NotLeaderError } from "./errors.ts";
import { _FakeBroker } from "./_fake_broker_test_support.ts";
import { decodeRecords, readBatchHeader } from "../protocol/record/record_batch.ts";

/** The values the fake broker appended to `partition`, in log order. */
async function _logValues(broker: _FakeBroker, partition: number): Promise<string[]> {
  const out: string[] = [];
  for (const bytes of broker.log.get(partition) ?? []) {
    for (const r of (await decodeRecords(bytes)).records) {
      out.push(new TextDecoder().decode(r.value!));
    }
  }
  return out;
}

/** Holds every Produce answer until `release()`; counts the requests waiting. */
function _gate(broker: _FakeBroker): { waiting: () => number; release: () => void } {
  let waiters: (() => void)[] = [];
  let open = false;
  broker.beforeProduce = () => open ? Promise.resolve() : new Promise<void>((r) => waiters.push(r));
  return {
    waiting: () => waiters.length,
    release: () => {
      open = true;
      for (const w of waiters) w();
      waiters = [];
    },
  };
}

async function _until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(cond(), `timed out waiting for ${what}`);
}

async function _open(broker: _FakeBroker): Promise<RustMqClient> {
  return await RustMqClient.connect({
    brokers: ["tcp://fake:9092"],
    dial: broker.dial,
    retryBackoffMs: 1,
    retryBackoffMaxMs: 2,
  });
}

Deno.test("Producer resends the same batch bytes after NOT_LEADER_OR_FOLLOWER", async () => {
  const broker = new _FakeBroker();
  broker.produceErrors.push(6);
  const client = await _open(broker);
  const producer = client.producer();
  const ack = await producer.send({ topic: "t", value: "v", partition: 1 });
  assert.deepEqual([ack.partition, ack.offset], [1, 0]);
  assert.equal(broker.produced.length, 2);
  assert.deepEqual(broker.produced[1]!.records, broker.produced[0]!.records);
  assert.equal(broker.produced[0]!.baseSequence, 0);
  assert.equal(producer.metrics().retries, 1);
  await client.close();
});

Deno.test("Producer does not spend a sequence number on a batch that failed for good", async () => {
  const broker = new _FakeBroker();
  broker.produceErrors.push(10); // MESSAGE_TOO_LARGE is not retriable
  const client = await _open(broker);
  const producer = client.producer();
  await assert.rejects(
    producer.send({ topic: "t", value: "a", partition: 0 }),
    (e: unknown) => e instanceof BrokerError && e.code === "MESSAGE_TOO_LARGE",
  );
  await producer.send({ topic: "t", value: "b", partition: 0 });
  await producer.send({ topic: "t", value: "c", partition: 0 });
  assert.deepEqual(broker.produced.map((p) => p.baseSequence), [0, 0, 1]);
  assert.deepEqual(producer.metrics().failedMessages, 1);
  await client.close();
});

Deno.test("Producer sends one batch at a time until the broker knows its producer id", async () => {
  const broker = new _FakeBroker();
  let release!: () => void;
  let first = true;
  broker.beforeProduce = () => {
    if (!first) return Promise.resolve();
    first = false;
    return new Promise((r) => release = r);
  };
  const client = await _open(broker);
  const producer = client.producer();
  const sends = [producer.send({ topic: "t", value: "0", partition: 0 })];
  while (broker.produced.length === 0 && release === undefined) {
    await new Promise((r) => setTimeout(r, 1));
  }
  for (let i = 1; i <= 10; i++) {
    sends.push(producer.send({ topic: "t", value: `${i}`, partition: 0 }));
  }
  await new Promise((r) => setTimeout(r, 5));
  release();
  const acks = await Promise.all(sends);
  assert.deepEqual(acks.map((a) => a.offset), Array.from({ length: 11 }, (_, i) => i));
  assert.deepEqual(broker.produced.map((p) => [p.baseSequence, p.recordCount]), [[0, 1], [1, 10]]);
  assert.equal(producer.metrics().averageBatchSize, 5.5);
  await client.close();
});

Deno.test("Producer gives up after deliveryTimeoutMs with the last retriable error", async () => {
  const broker = new _FakeBroker();
  for (let i = 0; i < 1000; i++) broker.produceErrors.push(6);
  const client = await _open(broker);
  const producer = client.producer({ deliveryTimeoutMs: 30 });
  await assert.rejects(
    producer.send({ topic: "t", value: "v", partition: 0 }),
    (e: unknown) => e instanceof NotLeaderError && e.retriable,
  );
  assert.ok(producer.metrics().retries >= 1);
  await client.close();
});

Deno.test("Producer with ackLevel None gets no response and reports offset -1", async () => {
  const broker = new _FakeBroker();
  const client = await _open(broker);
  const producer = client.producer({ ackLevel: "None" });
  const ack = await producer.send({ topic: "t", value: "v", partition: 0 });
  assert.equal(ack.offset, -1);
  // Idempotence needs acknowledgements, so it is off with "None".
  assert.equal(broker.produced[0]!.baseSequence, -1);
  await client.close();
});

Deno.test("Producer validates its options with RangeError", async () => {
  const client = await _open(new _FakeBroker());
  assert.throws(() => client.producer({ batchSize: -1 }), RangeError);
  assert.throws(() => client.producer({ ackLevel: { custom: 1.5 } }), RangeError);
  await client.close();
});

Deno.test("Producer rejects a partition the topic does not have and frees its buffer", async () => {
  const broker = new _FakeBroker();
  const client = await _open(broker);
  const producer = client.producer();
  await producer.send({ topic: "t", value: "warm", partition: 0 });
  await assert.rejects(
    producer.send({ topic: "t", value: "v", partition: 9 }),
    (e: unknown) => e instanceof BrokerError && e.code === "UNKNOWN_TOPIC_OR_PARTITION",
  );
  assert.equal(producer.metrics().bufferedMessages, 0);
  await producer.flush();
  await client.close();
});

Deno.test("Producer retries a timed-out request with the same batch sequence", async () => {
  const broker = new _FakeBroker();
  let calls = 0;
  // The first answer comes after the client's deadline, as if the broker were slow.
  broker.beforeProduce = () =>
    calls++ === 0 ? new Promise((r) => setTimeout(r, 120)) : Promise.resolve();
  const client = await RustMqClient.connect({
    brokers: ["tcp://fake:9092"],
    dial: broker.dial,
    requestTimeoutMs: 40,
    retryBackoffMs: 1,
  });
  const producer = client.producer();
  await producer.send({ topic: "t", value: "v", partition: 0 });
  assert.ok(producer.metrics().retries >= 1);
  const sequences = new Set(broker.produced.map((p) => p.baseSequence));
  assert.deepEqual([...sequences], [0], "every attempt carries the same sequence");
  for (const p of broker.produced) assert.deepEqual(p.records, broker.produced[0]!.records);
  await new Promise((r) => setTimeout(r, 150));
  await client.close();
});

Deno.test("Producer pipelines up to maxInFlight batches per partition, in order", async () => {
  const broker = new _FakeBroker();
  const client = await _open(broker);
  const producer = client.producer({ batchSize: 2, maxInFlight: 3 });
  await producer.send({ topic: "t", value: "warm", partition: 0 });
  const gate = _gate(broker);
  const sends = [];
  for (let i = 0; i < 10; i++) {
    sends.push(producer.send({ topic: "t", value: `${i}`, partition: 0 }));
  }
  await _until("three requests in flight", () => gate.waiting() === 3);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(gate.waiting(), 3, "no fourth batch while three are in flight");
  gate.release();
  const acks = await Promise.all(sends);
  assert.deepEqual(acks.map((a) => a.offset), Array.from({ length: 10 }, (_, i) => i + 1));
  assert.deepEqual(broker.produced.slice(1).map((p) => p.baseSequence), [1, 3, 5, 7, 9]);
  assert.deepEqual(await _logValues(broker, 0), ["warm", ...acks.map((_, i) => `${i}`)]);
  await client.close();
});

Deno.test("Producer resends pipelined batches in order after a retriable failure", async () => {
  const broker = new _FakeBroker();
  const client = await _open(broker);
  const producer = client.producer({ batchSize: 2 });
  await producer.send({ topic: "t", value: "warm", partition: 0 });
  const gate = _gate(broker);
  // The second of five batches meets a leader change; those after it are refused as out of
  // sequence by the broker, which never saw the second.
  broker.produceErrors.push(0, 6);
  const sends = [];
  for (let i = 0; i < 10; i++) {
    sends.push(producer.send({ topic: "t", value: `${i}`, partition: 0 }));
  }
  await _until("five requests in flight", () => gate.waiting() === 5);
  gate.release();
  await Promise.all(sends);
  const expected = ["warm", ...Array.from({ length: 10 }, (_, i) => `${i}`)];
  assert.deepEqual(await _logValues(broker, 0), expected, "no duplicate, no gap, no reorder");
  assert.ok(broker.produced.some((p) => p.errorCode === 45), "later batches were refused");
  assert.ok(producer.metrics().retries >= 4);
  assert.equal(producer.metrics().failedMessages, 0);
  await client.close();
});

Deno.test("Producer renumbers the batches after one the broker refused for good", async () => {
  const broker = new _FakeBroker();
  const client = await _open(broker);
  const producer = client.producer({ batchSize: 2 });
  await producer.send({ topic: "t", value: "warm", partition: 0 });
  const gate = _gate(broker);
  broker.produceErrors.push(0, 10); // the second batch is too large for the broker
  const sends = [];
  for (let i = 0; i < 10; i++) {
    sends.push(producer.send({ topic: "t", value: `${i}`, partition: 0 }));
  }
  await _until("five requests in flight", () => gate.waiting() === 5);
  gate.release();
  const outcomes = await Promise.allSettled(sends);
  assert.deepEqual(outcomes.map((o) => o.status), [
    ...["fulfilled", "fulfilled", "rejected", "rejected"],
    ...Array(6).fill("fulfilled"),
  ]);
  assert.deepEqual(await _logValues(broker, 0), ["warm", "0", "1", "4", "5", "6", "7", "8", "9"]);
  const ids = new Set(broker.log.get(0)!.map((b) => readBatchHeader(b).producerId));
  assert.equal(ids.size, 2, "the batches after the refused one moved to a new producer id");
  await client.close();
});

Deno.test("Producer moves to a new producer id after a batch whose fate is unknown", async () => {
  const broker = new _FakeBroker();
  let slow = true;
  broker.beforeProduce = () => slow ? new Promise((r) => setTimeout(r, 60)) : Promise.resolve();
  const client = await RustMqClient.connect({
    brokers: ["tcp://fake:9092"],
    dial: broker.dial,
    requestTimeoutMs: 20,
    retryBackoffMs: 1,
    retryBackoffMaxMs: 2,
  });
  const producer = client.producer({ deliveryTimeoutMs: 50 });
  // Every attempt times out at the client, but the broker writes the batch all the same.
  await assert.rejects(producer.send({ topic: "t", value: "a", partition: 0 }));
  await new Promise((r) => setTimeout(r, 100));
  slow = false;
  // Reusing sequence 0 under the same id would be taken for a duplicate of "a" and dropped.
  await producer.send({ topic: "t", value: "b", partition: 0 });
  assert.deepEqual(await _logValues(broker, 0), ["a", "b"]);
  await client.close();
});
