/**
 * kafkajs against the broker: an idempotent producer writes 10,000 keyed messages with headers,
 * and a consumer reads every one back byte for byte, in order within each partition.
 */

import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { startTestBroker } from "./support/in_process_broker.ts";

const MESSAGES = 10_000;

Deno.test({
  name: "kafkajs idempotent producer and consumer round-trip 10,000 messages",
  // kafkajs keeps timers of its own after disconnect; they are not ours to sanitize.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using tb = await startTestBroker("[broker]\nnum_partitions = 3\n");
    const kafka = new Kafka({
      clientId: "interop",
      brokers: [`127.0.0.1:${tb.port}`],
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const sent = Array.from({ length: MESSAGES }, (_, i) => ({
      key: `k${i % 113}`,
      value: `value-${i}-${"ß".repeat(i % 17)}`,
      headers: { seq: String(i) },
    }));
    for (let i = 0; i < MESSAGES; i += 500) {
      await producer.send({ topic: "kjs", messages: sent.slice(i, i + 500) });
    }
    await producer.disconnect();

    const consumer = kafka.consumer({
      groupId: "kjs-reader",
      sessionTimeout: 6000,
      heartbeatInterval: 500,
    });
    await consumer.connect();
    await consumer.subscribe({ topic: "kjs", fromBeginning: true });
    const got: { partition: number; offset: number; key: string; value: string; seq: number }[] =
      [];
    const done = new Promise<void>((resolve) => {
      consumer.run({
        eachMessage: ({ partition, message }) => {
          got.push({
            partition,
            offset: Number(message.offset),
            key: message.key!.toString(),
            value: message.value!.toString(),
            seq: Number(message.headers!.seq!.toString()),
          });
          if (got.length === MESSAGES) resolve();
          return Promise.resolve();
        },
      });
    });
    const timeout = new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`consumed ${got.length} of ${MESSAGES}`)), 60_000)
    );
    try {
      await Promise.race([done, timeout]);
    } finally {
      await consumer.disconnect();
    }
    assert.equal(got.length, MESSAGES);
    assert.equal(new Set(got.map((m) => m.seq)).size, MESSAGES, "no duplicates");
    const lastSeq = new Map<number, number>();
    for (const m of got) {
      assert.deepEqual({ key: m.key, value: m.value }, {
        key: sent[m.seq]!.key,
        value: sent[m.seq]!.value,
      });
      assert.ok((lastSeq.get(m.partition) ?? -1) < m.seq, `partition ${m.partition} out of order`);
      lastSeq.set(m.partition, m.seq);
    }
    assert.equal(lastSeq.size, 3);
  },
});
