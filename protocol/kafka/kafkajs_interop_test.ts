/**
 * Cross-checks the generated codecs against an independent Kafka client implementation:
 * kafkajs's own request encoders and response decoders (non-flexible versions, which is what
 * kafkajs speaks).
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import produceV3 from "kafkajs/src/protocol/requests/produce/v3/request.js";
import metadataV6Request from "kafkajs/src/protocol/requests/metadata/v6/request.js";
import metadataV6Response from "kafkajs/src/protocol/requests/metadata/v6/response.js";
import fetchV11Response from "kafkajs/src/protocol/requests/fetch/v11/response.js";
import apiVersionsV2Response from "kafkajs/src/protocol/requests/apiVersions/v2/response.js";
import {
  createApiVersionsResponse,
  createFetchResponse,
  createFetchResponsePartitionData,
  createMetadataResponse,
  createMetadataResponseBroker,
  createMetadataResponsePartition,
  createMetadataResponseTopic,
  decodeMetadataRequest,
  decodeProduceRequest,
  encodeApiVersionsResponse,
  encodeFetchResponse,
  encodeMetadataResponse,
  encodeProduceRequest,
} from "./messages/mod.ts";
import { Reader, Writer } from "./wire.ts";

interface KafkajsRequest {
  encode(): Promise<{ buffer: Buffer }>;
}

async function kafkajsBody(request: KafkajsRequest): Promise<Uint8Array> {
  const encoder = await request.encode();
  return new Uint8Array(encoder.buffer);
}

function ours(fn: (w: Writer) => void): Buffer {
  const w = new Writer();
  fn(w);
  return Buffer.from(w.finish());
}

Deno.test("ProduceRequest v3 from kafkajs decodes, re-encodes identically, and feeds a fetch", async () => {
  const body = await kafkajsBody(produceV3({
    acks: -1,
    timeout: 1500,
    topicData: [{
      topic: "orders",
      partitions: [{ partition: 2, messages: [{ key: "k1", value: "hello" }, { value: "world" }] }],
    }],
  }));
  const req = decodeProduceRequest(new Reader(body), 3);
  assert.equal(req.acks, -1);
  assert.equal(req.timeoutMs, 1500);
  assert.equal(req.topicData[0]!.name, "orders");
  const part = req.topicData[0]!.partitionData[0]!;
  assert.equal(part.index, 2);
  const w = new Writer();
  encodeProduceRequest(w, req, 3);
  assert.deepEqual(w.finish(), body);

  // The record batch kafkajs produced goes back to kafkajs inside our FetchResponse v11.
  const res = createFetchResponse();
  const p = createFetchResponsePartitionData();
  p.partitionIndex = 2;
  p.highWatermark = 2n;
  p.lastStableOffset = 2n;
  p.logStartOffset = 0n;
  p.preferredReadReplica = -1;
  p.records = part.records;
  res.responses = [{ topic: "orders", topicId: "AAAAAAAAAAAAAAAAAAAAAA", partitions: [p] }];
  const decoded = await fetchV11Response.decode(ours((w) => encodeFetchResponse(w, res, 11)));
  const parsed = await fetchV11Response.parse(decoded);
  const got = parsed.responses[0].partitions[0];
  assert.equal(parsed.responses[0].topicName, "orders");
  assert.equal(got.highWatermark, "2");
  assert.deepEqual(
    got.messages.map((m: { value: Buffer }) => m.value.toString()),
    ["hello", "world"],
  );
  assert.equal(got.messages[0].key.toString(), "k1");
});

Deno.test("MetadataRequest v6 from kafkajs decodes, and kafkajs reads our v6 response", async () => {
  const body = await kafkajsBody(
    metadataV6Request({ topics: ["a", "b"], allowAutoTopicCreation: false }),
  );
  const req = decodeMetadataRequest(new Reader(body), 6);
  assert.deepEqual(req.topics?.map((t) => t.name), ["a", "b"]);
  assert.equal(req.allowAutoTopicCreation, false);

  const res = createMetadataResponse();
  res.clusterId = "rustmq";
  res.controllerId = 1;
  res.brokers = [{ ...createMetadataResponseBroker(), nodeId: 1, host: "h", port: 9092 }];
  const topic = createMetadataResponseTopic();
  topic.name = "a";
  topic.partitions = [{
    ...createMetadataResponsePartition(),
    partitionIndex: 0,
    leaderId: 1,
    replicaNodes: [1],
    isrNodes: [1],
  }];
  res.topics = [topic];
  const got = await metadataV6Response.decode(ours((w) => encodeMetadataResponse(w, res, 6)));
  assert.equal(got.clusterId, "rustmq");
  assert.deepEqual(got.brokers, [{ nodeId: 1, host: "h", port: 9092, rack: null }]);
  assert.equal(got.topicMetadata[0].topic, "a");
  assert.deepEqual(got.topicMetadata[0].partitionMetadata[0].isr, [1]);
});

Deno.test("kafkajs reads our ApiVersionsResponse v2", async () => {
  const res = createApiVersionsResponse();
  res.apiKeys = [{ apiKey: 0, minVersion: 3, maxVersion: 9 }, {
    apiKey: 18,
    minVersion: 0,
    maxVersion: 4,
  }];
  res.throttleTimeMs = 5;
  const got = await apiVersionsV2Response.decode(ours((w) => encodeApiVersionsResponse(w, res, 2)));
  assert.equal(got.errorCode, 0);
  assert.deepEqual(got.apiVersions, res.apiKeys);
  assert.equal(got.clientSideThrottleTime, 5);
});
