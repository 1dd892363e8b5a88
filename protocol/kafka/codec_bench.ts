/**
 * Benchmarks of the two hot codecs: ProduceRequest decode (broker ingress) and FetchResponse
 * encode (broker egress). Run with `deno bench protocol/kafka/codec_bench.ts`.
 */

import {
  createFetchResponse,
  createFetchResponsePartitionData,
  createProduceRequest,
  decodeProduceRequest,
  encodeFetchResponse,
  encodeProduceRequest,
} from "./messages/mod.ts";
import { Reader, Writer } from "./wire.ts";

function _produceFrame(topics: number, partitions: number, batchBytes: number): Uint8Array {
  const req = createProduceRequest();
  req.acks = -1;
  req.timeoutMs = 30_000;
  for (let t = 0; t < topics; t++) {
    const partitionData = [];
    for (let p = 0; p < partitions; p++) {
      partitionData.push({ index: p, records: new Uint8Array(batchBytes).fill(p) });
    }
    req.topicData.push({ name: `topic-${t}`, partitionData });
  }
  const w = new Writer();
  encodeProduceRequest(w, req, 9);
  return w.finish().slice();
}

const produceSmall = _produceFrame(1, 1, 1024);
const produceWide = _produceFrame(10, 10, 16 * 1024);

Deno.bench("decodeProduceRequest v9, 1 partition x 1 KiB", { group: "produce" }, () => {
  decodeProduceRequest(new Reader(produceSmall), 9);
});

Deno.bench("decodeProduceRequest v9, 100 partitions x 16 KiB", { group: "produce" }, () => {
  decodeProduceRequest(new Reader(produceWide), 9);
});

const fetchRes = createFetchResponse();
for (let t = 0; t < 10; t++) {
  const partitions = [];
  for (let p = 0; p < 10; p++) {
    const part = createFetchResponsePartitionData();
    part.partitionIndex = p;
    part.highWatermark = 1_000_000n;
    part.lastStableOffset = 1_000_000n;
    part.logStartOffset = 0n;
    part.records = new Uint8Array(64 * 1024).fill(p);
    partitions.push(part);
  }
  fetchRes.responses.push({ topic: `topic-${t}`, topicId: "AAAAAAAAAAAAAAAAAAAAAA", partitions });
}
const fetchWriter = new Writer({ initialBytes: 8 * 1024 * 1024 });

Deno.bench("encodeFetchResponse v12, 100 partitions x 64 KiB", { group: "fetch" }, () => {
  fetchWriter.reset();
  encodeFetchResponse(fetchWriter, fetchRes, 12);
});

Deno.bench(
  "encodeFetchResponse v16, 100 partitions x 64 KiB, fresh writer",
  { group: "fetch" },
  () => {
    encodeFetchResponse(new Writer(), fetchRes, 16);
  },
);
