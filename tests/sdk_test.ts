/**
 * The SDK against a real in-process broker. One suite, run over every transport (TCP and
 * QUIC): ordering, idempotent retries after a lost connection, typed errors, flush and close.
 */

import assert from "node:assert/strict";
import {
  BrokerError,
  ClosedError,
  type ConsumerRecord,
  MessageTooLargeError,
  OffsetOutOfRangeError,
  partitionForKey,
  RustMqClient,
  type Transport,
  UnknownTopicError,
} from "../client/mod.ts";
import { connect } from "../protocol/transport/connect.ts";
import { ConnectionError } from "../protocol/transport/errors.ts";
import { startTestBroker, type TestBroker } from "./sdk_broker.ts";

const dec = new TextDecoder();

/**
 * Wraps a transport so a test can lose the connection right after the broker handled a
 * Produce request and before its response reaches the producer: the worst moment for
 * duplicates.
 */
class _LossyTransport implements Transport {
  readonly protocol;
  readonly closed;
  readonly #inner: Transport;
  readonly #faults: { dropProduceResponses: number };

  constructor(inner: Transport, faults: { dropProduceResponses: number }) {
    this.#inner = inner;
    this.#faults = faults;
    this.protocol = inner.protocol;
    this.closed = inner.closed;
  }

  async request(frame: Uint8Array, options: { expectResponse: boolean; timeoutMs: number }) {
    const isProduce = frame[0] === 0 && frame[1] === 0;
    const response = await this.#inner.request(frame, options);
    if (isProduce && this.#faults.dropProduceResponses > 0) {
      this.#faults.dropProduceResponses -= 1;
      this.#inner.close();
      throw new ConnectionError("CONNECTION_CLOSED", "Cannot read as the test cut the connection");
    }
    return response;
  }

  close(): void {
    this.#inner.close();
  }
}

async function _consumeAll(
  client: RustMqClient,
  topic: string,
  partitions: number,
  expected: number,
): Promise<ConsumerRecord[]> {
  const consumer = client.consumer({ autoOffsetReset: "earliest", maxWaitMs: 200 });
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition })));
  const out: ConsumerRecord[] = [];
  for (let i = 0; i < 50 && out.length < expected; i++) {
    out.push(...await consumer.poll({ timeoutMs: 300, maxRecords: 10_000 }));
  }
  // One more short poll proves nothing beyond `expected` arrives.
  out.push(...await consumer.poll({ timeoutMs: 100 }));
  await consumer.close();
  return out;
}

function _suite(name: "tcp" | "quic", broker: () => TestBroker) {
  const url = () => name === "tcp" ? broker().tcpUrl : broker().quicUrl;
  const open = (extra: Partial<Parameters<typeof RustMqClient.connect>[0]> = {}) =>
    RustMqClient.connect({
      brokers: [url()],
      tls: { caCerts: [broker().caPem] },
      requestTimeoutMs: 10_000,
      retryBackoffMs: 20,
      ...extra,
    });
  let topicSeq = 0;
  const newTopic = async (client: RustMqClient, partitions: number, configs = {}) => {
    const topic = `${name}-t${topicSeq++}-${crypto.randomUUID().slice(0, 8)}`;
    await client.admin().createTopic(topic, partitions, { configs });
    return topic;
  };

  return {
    async ordering(t: Deno.TestContext) {
      const client = await open();
      const topic = await newTopic(client, 3);
      const producer = client.producer({ lingerMs: 2, batchSize: 50 });
      const sends = [];
      for (let i = 0; i < 600; i++) {
        sends.push(producer.send({ topic, key: `key-${i % 7}`, value: `${i}` }));
      }
      const acks = await Promise.all(sends);
      await t.step("keys land where the Java client puts them", () => {
        acks.forEach((ack, i) => {
          const expected = partitionForKey(new TextEncoder().encode(`key-${i % 7}`), 3);
          assert.equal(ack.partition, expected);
        });
      });
      const records = await _consumeAll(client, topic, 3, 600);
      await t.step("each key reads back in send order, offsets contiguous", () => {
        assert.equal(records.length, 600);
        const byKey = new Map<string, number[]>();
        for (const r of records) {
          const key = dec.decode(r.key!);
          byKey.set(key, [...(byKey.get(key) ?? []), Number(dec.decode(r.value!))]);
        }
        for (const values of byKey.values()) {
          assert.deepEqual(values, [...values].sort((a, b) => a - b));
        }
        for (let p = 0; p < 3; p++) {
          const offsets = records.filter((r) => r.partition === p).map((r) => r.offset);
          assert.deepEqual(offsets, offsets.map((_, i) => i));
        }
      });
      assert.ok(producer.metrics().averageBatchSize > 1);
      await client.close();
    },

    async idempotentRetry() {
      const faults = { dropProduceResponses: 0 };
      const client = await open({
        dial: async (u) =>
          new _LossyTransport(await connect(u, { caCerts: [broker().caPem] }), faults),
      });
      const topic = await newTopic(client, 2);
      const producer = client.producer({ batchSize: 40 });
      await producer.send({ topic, value: "warm-up", partition: 0 });
      faults.dropProduceResponses = 2;
      const sends = [];
      for (let i = 0; i < 400; i++) {
        sends.push(producer.send({ topic, value: `${i}`, partition: i % 2 }));
      }
      const acks = await Promise.all(sends);
      assert.equal(faults.dropProduceResponses, 0, "the faults fired");
      assert.ok(producer.metrics().retries >= 2, `retries: ${producer.metrics().retries}`);
      const records = await _consumeAll(client, topic, 2, 401);
      assert.equal(records.length, 401, "no duplicates and no gaps");
      for (const p of [0, 1]) {
        const values = records.filter((r) => r.partition === p).map((r) => dec.decode(r.value!));
        const expected = Array.from({ length: 400 }, (_, i) => i).filter((i) => i % 2 === p)
          .map(String);
        assert.deepEqual(values, p === 0 ? ["warm-up", ...expected] : expected);
      }
      // The acknowledged offsets are exactly where the records are.
      for (const [i, ack] of acks.entries()) {
        const found = records.find((r) => r.partition === ack.partition && r.offset === ack.offset);
        assert.equal(dec.decode(found!.value!), `${i}`);
      }
      await client.close();
    },

    async typedErrors(t: Deno.TestContext) {
      const client = await open({ allowAutoTopicCreation: false });
      const producer = client.producer({ maxMessageSize: 1000 });
      await t.step("unknown topic with auto-create off", async () => {
        await assert.rejects(
          producer.send({ topic: `missing-${crypto.randomUUID()}`, value: "x" }),
          (e: unknown) => e instanceof UnknownTopicError && e.code === "UNKNOWN_TOPIC_OR_PARTITION",
        );
      });
      const topic = await newTopic(client, 1, { "max.message.bytes": "2000" });
      await t.step("record over maxMessageSize is refused before sending", async () => {
        await assert.rejects(
          producer.send({ topic, value: new Uint8Array(5000) }),
          (e: unknown) => e instanceof MessageTooLargeError && !e.retriable,
        );
      });
      await t.step(
        "batch over the topic's max.message.bytes is refused by the broker",
        async () => {
          const big = client.producer({ maxMessageSize: 1 << 20 });
          await assert.rejects(
            big.send({ topic, value: new Uint8Array(5000) }),
            (e: unknown) => e instanceof MessageTooLargeError && e.code === "MESSAGE_TOO_LARGE",
          );
        },
      );
      await t.step("offset out of range", async () => {
        await producer.send({ topic, value: "one" });
        const strict = client.consumer({ autoOffsetReset: "none", maxWaitMs: 50 });
        strict.assign([{ topic, partition: 0 }]);
        await strict.seek({ topic, partition: 0 }, 1000);
        await assert.rejects(
          strict.poll({ timeoutMs: 200 }),
          (e: unknown) => e instanceof OffsetOutOfRangeError && e.offset === 1000,
        );
        const lenient = client.consumer({ autoOffsetReset: "earliest", maxWaitMs: 50 });
        lenient.assign([{ topic, partition: 0 }]);
        await lenient.seek({ topic, partition: 0 }, 1000);
        const records = await lenient.poll({ timeoutMs: 1000 });
        assert.deepEqual(records.map((r) => r.offset), [0]);
      });
      await t.step("Majority is met by one replica of one; Custom(2) cannot be", async () => {
        const majority = client.producer({ ackLevel: "Majority" });
        const sent = await majority.send({ topic, value: "x" });
        assert.ok(sent.offset >= 0);
        // A single-replica topic can never have two copies: refused before anything is written.
        // NOT_ENOUGH_REPLICAS is retriable (a replica may come back), so the producer retries
        // until its delivery timeout and then reports the broker's error.
        const two = client.producer({ ackLevel: { custom: 2 }, deliveryTimeoutMs: 300 });
        await assert.rejects(
          two.send({ topic, value: "y" }),
          (e: unknown) => {
            const cause = (e as { cause?: unknown }).cause;
            const code = (x: unknown) => (x as { code?: string } | undefined)?.code;
            return code(e) === "NOT_ENOUGH_REPLICAS" || code(cause) === "NOT_ENOUGH_REPLICAS";
          },
        );
      });
      await client.close();
    },

    async flushAndClose() {
      const client = await open();
      const topic = await newTopic(client, 2);
      const failures: unknown[] = [];
      const producer = client.producer({
        lingerMs: 60_000,
        compression: "gzip",
        defaultHeaders: { origin: "sdk-test" },
        onError: (e) => failures.push(e),
      });
      for (let i = 0; i < 250; i++) producer.sendAsync({ topic, key: `${i}`, value: `v${i}` });
      assert.equal(producer.metrics().sentMessages, 0, "lingerMs holds the records");
      await producer.flush();
      assert.equal(producer.metrics().sentMessages, 250);
      producer.sendAsync({ topic, value: "last" });
      await producer.close();
      assert.equal(producer.metrics().sentMessages, 251, "close flushes first");
      assert.deepEqual(failures, []);
      assert.throws(() => producer.sendAsync({ topic, value: "late" }), ClosedError);
      await assert.rejects(producer.send({ topic, value: "late" }), ClosedError);
      const records = await _consumeAll(client, topic, 2, 251);
      assert.equal(records.length, 251);
      assert.equal(dec.decode(records[0]!.headers[0]!.value!), "sdk-test");
      await client.close();
    },

    async consumerControls() {
      const client = await open();
      const topic = await newTopic(client, 1);
      const producer = client.producer({ compression: "zstd" });
      const t0 = 1_700_000_000_000;
      await producer.sendBatch(
        Array.from({ length: 10 }, (_, i) => ({ topic, value: `${i}`, timestamp: t0 + i * 1000 })),
      );
      const tp = { topic, partition: 0 };
      const consumer = client.consumer({ maxWaitMs: 50 });
      consumer.assign([tp]);
      await consumer.seek(tp, { timestamp: t0 + 4500 });
      assert.equal(consumer.position(tp), 5);
      const some = await consumer.poll({ timeoutMs: 1000, maxRecords: 2 });
      assert.deepEqual(some.map((r) => [r.offset, r.timestamp]), [[5, t0 + 5000], [6, t0 + 6000]]);
      consumer.pause([tp]);
      assert.deepEqual(await consumer.poll({ timeoutMs: 50 }), []);
      consumer.resume([tp]);
      const rest = await consumer.poll({ timeoutMs: 1000 });
      assert.deepEqual(rest.map((r) => r.offset), [7, 8, 9]);
      await consumer.seek(tp, "latest");
      assert.equal(consumer.position(tp), 10);
      await client.close();
    },

    async admin() {
      const client = await open();
      const admin = client.admin();
      const topic = await newTopic(client, 4, { "retention.ms": "60000" });
      assert.ok((await admin.listTopics()).includes(topic));
      const described = await admin.describeTopic(topic);
      assert.equal(described.partitions.length, 4);
      assert.equal(described.configs["retention.ms"], "60000");
      await assert.rejects(
        admin.createTopic(topic, 1),
        (e: unknown) => e instanceof BrokerError && e.code === "TOPIC_ALREADY_EXISTS",
      );
      await admin.deleteTopic(topic);
      assert.ok(!(await admin.listTopics()).includes(topic));
      await client.close();
    },
  };
}

let shared: TestBroker | null = null;
const broker = () => shared!;

Deno.test({
  name: "RustMqClient conformance over TCP and QUIC",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    shared = await startTestBroker("[broker]\nauto_create_topics=false\n");
    try {
      for (const transport of ["tcp", "quic"] as const) {
        const suite = _suite(transport, broker);
        await t.step(`${transport}: Producer keeps per-partition order`, (s) => suite.ordering(s));
        await t.step(
          `${transport}: Producer retries after a lost connection with no duplicates or gaps`,
          () => suite.idempotentRetry(),
        );
        await t.step(`${transport}: errors are typed`, (s) => suite.typedErrors(s));
        await t.step(`${transport}: Producer flush and close`, () => suite.flushAndClose());
        await t.step(
          `${transport}: Consumer seek, pause and resume`,
          () => suite.consumerControls(),
        );
        await t.step(`${transport}: Admin manages topics`, () => suite.admin());
      }
    } finally {
      await shared.close();
    }
  },
});
