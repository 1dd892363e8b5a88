/**
 * Produce and fetch helpers on {@linkcode RawKafkaClient}, for tests that check exactly which
 * values were acknowledged and which come back.
 *
 * @module
 */

import type { RawKafkaClient } from "./raw_kafka_client.ts";
import {
  createFetchRequest,
  createProduceRequest,
  decodeFetchResponse,
  decodeProduceResponse,
  encodeFetchRequest,
  encodeProduceRequest,
} from "../../protocol/kafka/messages/mod.ts";
import { buildBatch, decodeRecords, splitBatches } from "../../protocol/record/record_batch.ts";
import { recordsBytes } from "../../protocol/kafka/wire.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Produces `values` as one batch; returns the base offset or the Kafka error code. */
export async function produceValues(
  c: RawKafkaClient,
  topic: string,
  partition: number,
  values: readonly string[],
): Promise<{ baseOffset: number; errorCode: number; errorMessage: string | null }> {
  const records = await buildBatch(
    values.map((v) => ({ value: enc.encode(v), timestamp: Date.now() })),
  );
  const req = createProduceRequest();
  req.acks = -1;
  req.timeoutMs = 10_000;
  req.topicData = [{ name: topic, partitionData: [{ index: partition, records }] }];
  const res = await c.request(0, 9, (w) => encodeProduceRequest(w, req, 9), decodeProduceResponse);
  const p = res.responses[0]!.partitionResponses[0]!;
  return { baseOffset: Number(p.baseOffset), errorCode: p.errorCode, errorMessage: p.errorMessage };
}

/** Fetches one partition from `offset` to its high watermark; returns values in offset order. */
export async function fetchValues(
  c: RawKafkaClient,
  topic: string,
  partition: number,
  offset = 0,
): Promise<{ offsets: number[]; values: string[]; errorCode: number }> {
  const offsets: number[] = [];
  const values: string[] = [];
  let next = offset;
  for (let rounds = 0; rounds < 100_000; rounds++) {
    const req = createFetchRequest();
    req.replicaId = -1;
    req.maxWaitMs = 0;
    req.minBytes = 0;
    req.maxBytes = 4 * 1024 * 1024;
    req.topics = [{
      topic,
      topicId: "AAAAAAAAAAAAAAAAAAAAAA",
      partitions: [{
        partition,
        currentLeaderEpoch: -1,
        fetchOffset: BigInt(next),
        lastFetchedEpoch: -1,
        logStartOffset: -1n,
        partitionMaxBytes: 1024 * 1024,
        replicaDirectoryId: "AAAAAAAAAAAAAAAAAAAAAA",
      }],
    }];
    const res = await c.request(1, 11, (w) => encodeFetchRequest(w, req, 11), decodeFetchResponse);
    const p = res.responses[0]!.partitions[0]!;
    if (p.errorCode !== 0) return { offsets, values, errorCode: p.errorCode };
    const before = next;
    for (
      const b of splitBatches(p.records === null ? new Uint8Array(0) : recordsBytes(p.records), {
        allowPartialTail: true,
      })
    ) {
      for (const r of (await decodeRecords(b)).records) {
        if (r.offset < next) continue;
        offsets.push(r.offset);
        values.push(dec.decode(r.value ?? new Uint8Array(0)));
        next = r.offset + 1;
      }
    }
    if (next >= Number(p.highWatermark) || next === before) break;
  }
  return { offsets, values, errorCode: 0 };
}
