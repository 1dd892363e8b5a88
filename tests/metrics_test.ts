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

Deno.test("broker /metrics reports request latency per API and connections and bytes per listener", async () => {
  await using tb = await startTestBroker();
  const scrape = async () =>
    await (await fetch(`http://127.0.0.1:${tb.broker.addrs.http!.port}/metrics`)).text();
  const value = (text: string, series: string) => {
    const line = text.split("\n").find((l) => l.startsWith(`${series} `));
    assert.ok(line !== undefined, `${series} is exported`);
    return Number(line.slice(series.length + 1));
  };
  const kafka = new Kafka({
    brokers: [`127.0.0.1:${tb.port}`],
    clientId: "metrics-test",
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic: "measured", messages: [{ value: "a" }, { value: "b" }] });
    await producer.send({ topic: "measured", messages: [{ value: "c" }] });
    const text = await scrape();
    assert.ok(value(text, 'rustmq_request_duration_seconds_count{api="Produce"}') >= 2);
    assert.ok(value(text, 'rustmq_request_duration_seconds_count{api="Metadata"}') >= 1);
    assert.ok(value(text, 'rustmq_request_duration_seconds_sum{api="Produce"}') > 0);
    assert.ok(value(text, 'rustmq_network_connections{transport="tcp"}') >= 1);
    assert.ok(value(text, 'rustmq_network_received_bytes_total{transport="tcp"}') > 0);
    assert.ok(value(text, 'rustmq_network_sent_bytes_total{transport="tcp"}') > 0);
    const requests = value(text, 'rustmq_network_requests_total{transport="tcp"}');
    assert.ok(requests >= 3, `${requests} requests`);

    // A frame with an API key the broker does not serve: that connection is closed and counted.
    const errored = value(text, 'rustmq_network_connections_errored_total{transport="tcp"}');
    const failed = 'rustmq_request_failures_total{api="ApiVersions"}';
    assert.ok(!text.includes(failed), "no request has failed yet");
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: tb.port });
    const frame = new Uint8Array([0, 0, 0, 10, 0x7f, 0x7f, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    await conn.write(frame);
    const closed = await conn.read(new Uint8Array(16)).catch(() => null);
    assert.equal(closed, null, "the broker closed the connection");
    conn.close();
    const after = await scrape();
    assert.equal(
      value(after, 'rustmq_network_connections_errored_total{transport="tcp"}'),
      errored + 1,
    );
    assert.ok(value(after, 'rustmq_network_requests_total{transport="tcp"}') > requests);
  } finally {
    await producer.disconnect();
  }
});
