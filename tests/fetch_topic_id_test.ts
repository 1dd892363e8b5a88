/**
 * Fetch v13+ (KIP-516): topics named by id only, as current clients (@platformatic/kafka, the
 * Java client 3.1+) send them. Exact frames against an in-process broker.
 */

import assert from "node:assert/strict";
import { ApiKey } from "../protocol/kafka/api_keys.ts";
import { recordsBytes } from "../protocol/kafka/wire.ts";
import { ErrorCode } from "../protocol/kafka/errors.ts";
import * as m from "../protocol/kafka/messages/mod.ts";
import { buildBatch, decodeRecords } from "../protocol/record/record_batch.ts";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { startTestBroker } from "./support/in_process_broker.ts";

const enc = new TextEncoder();

async function _produce(c: RawKafkaClient, topic: string, values: string[]): Promise<void> {
  const records = await buildBatch(values.map((v) => ({ value: enc.encode(v), timestamp: 1 })));
  const res = await c.request(ApiKey.Produce, 9, (w) =>
    m.encodeProduceRequest(w, {
      ...m.createProduceRequest(),
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
    }, 9), m.decodeProduceResponse);
  assert.equal(res.responses[0]?.partitionResponses[0]?.errorCode, ErrorCode.NONE);
}

function _fetch(c: RawKafkaClient, v: number, topicId: string) {
  return c.request(ApiKey.Fetch, v, (w) =>
    m.encodeFetchRequest(w, {
      ...m.createFetchRequest(),
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      topics: [{
        topic: "",
        topicId,
        partitions: [{
          ...m.createFetchRequestPartition(),
          partition: 0,
          fetchOffset: 0n,
          partitionMaxBytes: 1 << 20,
        }],
      }],
    }, v), m.decodeFetchResponse);
}

Deno.test({
  name: "Fetch v13-v17 serves a topic named by its id and answers UNKNOWN_TOPIC_ID for others",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using b = await startTestBroker();
    await b.broker.metadata.createTopic("by-id", 1, 1);
    await b.broker.partitions.syncWithMetadata();
    await using c = await RawKafkaClient.connect(b.port);
    await _produce(c, "by-id", ["a", "b"]);
    // The id a client learns from Metadata v10+.
    const md = await c.request(ApiKey.Metadata, 12, (w) =>
      m.encodeMetadataRequest(w, {
        ...m.createMetadataRequest(),
        topics: [{ ...m.createMetadataRequestTopic(), name: "by-id" }],
      }, 12), m.decodeMetadataResponse);
    const topicId = md.topics[0]!.topicId;
    assert.equal(topicId, b.broker.metadata.topic("by-id")!.topicId);
    for (const v of [13, 15, 16, 17]) {
      const res = await _fetch(c, v, topicId);
      assert.equal(res.errorCode, ErrorCode.NONE);
      const t = res.responses[0]!;
      assert.equal(t.topicId, topicId, `v${v} echoes the topic id`);
      const p = t.partitions[0]!;
      assert.equal(p.errorCode, ErrorCode.NONE, `v${v}`);
      assert.equal(p.highWatermark, 2n);
      const { records } = await decodeRecords(recordsBytes(p.records!));
      assert.deepEqual(records.map((r) => new TextDecoder().decode(r.value!)), ["a", "b"]);
    }
    const unknown = await _fetch(c, 13, "AAAAAAAAAAAAAAAAAAAAAQ");
    assert.equal(unknown.responses[0]!.partitions[0]!.errorCode, ErrorCode.UNKNOWN_TOPIC_ID);
    // The connection keeps serving after the error.
    assert.equal((await _fetch(c, 17, topicId)).responses[0]!.partitions[0]!.errorCode, 0);
  },
});
