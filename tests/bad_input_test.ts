/**
 * Bad input gets a clear error and disturbs no one else: malformed frames, unknown APIs,
 * oversized and corrupt batches, unknown topics.
 */

import assert from "node:assert/strict";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { startTestBroker } from "./support/in_process_broker.ts";
import { ErrorCode } from "../protocol/kafka/errors.ts";
import {
  createProduceRequest,
  decodeMetadataResponse,
  decodeProduceResponse,
  encodeMetadataRequest,
  encodeProduceRequest,
  type ProduceResponse,
} from "../protocol/kafka/messages/mod.ts";
import { buildBatch } from "../protocol/record/record_batch.ts";

const enc = new TextEncoder();

async function produce(
  c: RawKafkaClient,
  topic: string,
  records: Uint8Array,
): Promise<ProduceResponse> {
  const req = createProduceRequest();
  req.acks = -1;
  req.timeoutMs = 5000;
  req.topicData = [{ name: topic, partitionData: [{ index: 0, records }] }];
  return await c.request(0, 9, (w) => encodeProduceRequest(w, req, 9), decodeProduceResponse);
}

function errorOf(res: ProduceResponse): number {
  return res.responses[0]!.partitionResponses[0]!.errorCode;
}

async function batch(values: string[]): Promise<Uint8Array> {
  return await buildBatch(values.map((v) => ({ value: enc.encode(v), timestamp: Date.now() })));
}

Deno.test("broker answers MESSAGE_TOO_LARGE, CORRUPT_MESSAGE and UNKNOWN_TOPIC_OR_PARTITION", async () => {
  await using tb = await startTestBroker("[broker]\nauto_create_topics = false\n");
  await tb.broker.metadata.createTopic("t", 1, 1, { "max.message.bytes": "2000" });
  await tb.broker.partitions.syncWithMetadata();
  await using c = await RawKafkaClient.connect(tb.port);

  const ok = await produce(c, "t", await batch(["hello"]));
  assert.equal(errorOf(ok), ErrorCode.NONE);
  assert.equal(ok.responses[0]!.partitionResponses[0]!.baseOffset, 0n);

  const big = await produce(c, "t", await batch(["x".repeat(5000)]));
  assert.equal(errorOf(big), ErrorCode.MESSAGE_TOO_LARGE);

  const corrupt = await batch(["flip me"]);
  corrupt[corrupt.length - 1]! ^= 0xff;
  assert.equal(errorOf(await produce(c, "t", corrupt)), ErrorCode.CORRUPT_MESSAGE);

  assert.equal(
    errorOf(await produce(c, "nope", await batch(["a"]))),
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  );

  // Nothing was lost or added: the next good batch takes offset 1.
  const next = await produce(c, "t", await batch(["again"]));
  assert.equal(next.responses[0]!.partitionResponses[0]!.baseOffset, 1n);
});

Deno.test("broker closes only the connection that sends garbage, and keeps serving others", async () => {
  await using tb = await startTestBroker();
  await using good = await RawKafkaClient.connect(tb.port);
  const garbage: Uint8Array[] = [
    new Uint8Array([0x7f, 0xff, 0xff, 0xff, 1, 2, 3]), // a 2 GiB size prefix
    new Uint8Array([0, 0, 0, 8, 0x00, 0x63, 0, 0, 0, 0, 0, 1]), // unknown API key 99
    new Uint8Array([0, 0, 0, 6, 0, 3, 0, 99, 0, 0]), // Metadata v99 with a short header
    new Uint8Array([0xff, 0xff, 0xff, 0xfe]), // a negative size
    crypto.getRandomValues(new Uint8Array(4096)),
  ];
  let seed = 1;
  for (let round = 0; round < 30; round++) {
    const bad = await RawKafkaClient.connect(tb.port);
    const bytes = round < garbage.length
      ? garbage[round]!
      : garbage[(seed = (seed * 48271) % 2147483647) % garbage.length]!;
    await bad.writeRaw(bytes);
    // A good request on another connection keeps working while the bad one is dealt with.
    const meta = await good.request(
      3,
      9,
      (w) =>
        encodeMetadataRequest(w, {
          topics: null,
          allowAutoTopicCreation: false,
          includeClusterAuthorizedOperations: false,
          includeTopicAuthorizedOperations: false,
        }, 9),
      decodeMetadataResponse,
    );
    assert.equal(meta.brokers.length, 1);
    if (round < 4) {
      assert.equal(
        await bad.closedByPeer(5000),
        true,
        `garbage ${round} should close its connection`,
      );
    }
    bad.close();
  }
  const res = await produce(good, "after-garbage", await batch(["still here"]));
  assert.equal(errorOf(res), ErrorCode.NONE);
});
