/**
 * The broker's /metrics carries storage gauges and consumer lag per group and partition.
 */

import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { startTestBroker } from "./support/in_process_broker.ts";

Deno.test("broker /metrics reports consumer lag per group and partition", async () => {
  await using tb = await startTestBroker();
  const kafka = new Kafka({
    brokers: [`127.0.0.1:${tb.port}`],
    clientId: "metrics-test",
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const producer = kafka.producer();
  await admin.connect();
  await producer.connect();
  try {
    await admin.createTopics({ topics: [{ topic: "lagged", numPartitions: 2 }] });
    await producer.send({
      topic: "lagged",
      messages: Array.from({ length: 10 }, (_, i) => ({ value: `m${i}`, partition: 0 })),
    });
    await producer.send({ topic: "lagged", messages: [{ value: "x", partition: 1 }] });
    await admin.setOffsets({
      groupId: "lag-group",
      topic: "lagged",
      partitions: [{ partition: 0, offset: "3" }, { partition: 1, offset: "1" }],
    });
    const text = await (await fetch(`http://127.0.0.1:${tb.broker.addrs.http!.port}/metrics`))
      .text();
    assert.match(
      text,
      /^rustmq_consumer_group_lag\{group="lag-group",topic="lagged",partition="0"\} 7$/m,
    );
    assert.match(
      text,
      /^rustmq_consumer_group_lag\{group="lag-group",topic="lagged",partition="1"\} 0$/m,
    );
    assert.match(text, /^rustmq_partitions \d+$/m);
    assert.match(text, /^rustmq_wal_appends_total \d+$/m);
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }
});
