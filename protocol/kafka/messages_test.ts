import assert from "node:assert/strict";
import { inRange, populateMessage, SeededRandom } from "./_populate.ts";
import {
  API_DESCRIPTORS,
  apiDescriptor,
  createApiVersionsRequest,
  createApiVersionsResponse,
  createMetadataRequest,
  createMetadataRequestTopic,
  createProduceRequest,
  decodeApiVersionsRequest,
  decodeApiVersionsResponse,
  decodeFetchResponse,
  decodeMetadataRequest,
  decodeProduceRequest,
  encodeApiVersionsRequest,
  encodeApiVersionsResponse,
  encodeFetchResponse,
  encodeMetadataRequest,
  encodeProduceRequest,
  type FetchResponse,
  type MessageDescriptor,
} from "./messages/mod.ts";
import { API_VERSION_RANGES } from "./api_keys.ts";
import { FrameEncodeError, MalformedFrameError, Reader, Writer } from "./wire.ts";

function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function encoded(fn: (w: Writer) => void): Uint8Array {
  const w = new Writer({ initialBytes: 8 });
  fn(w);
  return w.finish().slice();
}

Deno.test("ApiVersionsRequest v0 encodes to an empty body", () => {
  assert.deepEqual(
    encoded((w) => encodeApiVersionsRequest(w, createApiVersionsRequest(), 0)),
    new Uint8Array(0),
  );
});

Deno.test("ApiVersionsRequest v3 matches golden bytes", () => {
  const req = createApiVersionsRequest();
  req.clientSoftwareName = "rmq";
  req.clientSoftwareVersion = "1.0";
  // COMPACT_STRING "rmq", COMPACT_STRING "1.0", empty TAG_BUFFER.
  const golden = hex("04 726d71 04 312e30 00");
  assert.deepEqual(encoded((w) => encodeApiVersionsRequest(w, req, 3)), golden);
  assert.deepEqual(decodeApiVersionsRequest(new Reader(golden), 3), req);
});

Deno.test("ApiVersionsResponse v0 matches golden bytes", () => {
  const res = createApiVersionsResponse();
  res.apiKeys = [{ apiKey: 18, minVersion: 0, maxVersion: 4 }];
  // error_code int16, api_keys ARRAY(int32 count) of [int16 key, int16 min, int16 max].
  const golden = hex("0000 00000001 0012 0000 0004");
  assert.deepEqual(encoded((w) => encodeApiVersionsResponse(w, res, 0)), golden);
  assert.deepEqual(decodeApiVersionsResponse(new Reader(golden), 0), res);
});

Deno.test("ApiVersionsResponse v3 writes non-default tagged fields", () => {
  const res = createApiVersionsResponse();
  res.apiKeys = [{ apiKey: 18, minVersion: 0, maxVersion: 4 }];
  res.finalizedFeaturesEpoch = 5n;
  // error_code, COMPACT_ARRAY(1) [key,min,max,TAG_BUFFER], throttle_time_ms,
  // TAG_BUFFER with one field: tag 1, size 8, int64 5.
  const golden = hex("0000 02 0012 0000 0004 00 00000000 01 01 08 0000000000000005");
  assert.deepEqual(encoded((w) => encodeApiVersionsResponse(w, res, 3)), golden);
  assert.deepEqual(decodeApiVersionsResponse(new Reader(golden), 3), res);
});

Deno.test("ApiVersionsResponse v3 skips unknown tagged fields", () => {
  // Same as above with an unknown tag 9 of 2 bytes before the known tag 1.
  const bytes = hex("0000 02 0012 0000 0004 00 00000000 02 09 02 abcd 01 08 0000000000000007");
  const res = decodeApiVersionsResponse(new Reader(bytes), 3);
  assert.equal(res.finalizedFeaturesEpoch, 7n);
});

Deno.test("MetadataRequest v1 matches golden bytes", () => {
  const req = createMetadataRequest();
  const topic = createMetadataRequestTopic();
  topic.name = "t";
  req.topics = [topic];
  const golden = hex("00000001 0001 74");
  assert.deepEqual(encoded((w) => encodeMetadataRequest(w, req, 1)), golden);
  assert.deepEqual(decodeMetadataRequest(new Reader(golden), 1), req);
  // A null topic array means "all topics" from v1 on.
  req.topics = null;
  assert.deepEqual(encoded((w) => encodeMetadataRequest(w, req, 1)), hex("ffffffff"));
});

Deno.test("ProduceRequest v3 matches golden bytes and decodes records zero-copy", () => {
  const req = createProduceRequest();
  req.acks = -1;
  req.timeoutMs = 1000;
  req.topicData = [{
    name: "t",
    partitionData: [{ index: 0, records: new Uint8Array([1, 2, 3, 4, 5]) }],
  }];
  // transactional_id null, acks, timeout_ms, [name, [index, RECORDS(int32 size)]].
  const golden = hex("ffff ffff 000003e8 00000001 0001 74 00000001 00000000 00000005 0102030405");
  assert.deepEqual(encoded((w) => encodeProduceRequest(w, req, 3)), golden);
  const back = decodeProduceRequest(new Reader(golden), 3);
  assert.deepEqual(back, req);
  const records = back.topicData[0]!.partitionData[0]!.records!;
  assert.equal(records.buffer, golden.buffer);
  assert.equal(records.byteOffset, golden.length - 5);
});

Deno.test("ProduceRequest v9 matches golden bytes", () => {
  const req = createProduceRequest();
  req.transactionalId = "tx";
  req.acks = 1;
  req.timeoutMs = 1000;
  req.topicData = [{
    name: "t",
    partitionData: [{ index: 2, records: new Uint8Array([1, 2, 3, 4, 5]) }],
  }];
  // COMPACT_NULLABLE_STRING "tx", acks, timeout, COMPACT_ARRAY(1) [COMPACT_STRING "t",
  // COMPACT_ARRAY(1) [index, COMPACT_RECORDS(5), TAG_BUFFER], TAG_BUFFER], TAG_BUFFER.
  const golden = hex("03 7478 0001 000003e8 02 02 74 02 00000002 06 0102030405 00 00 00");
  assert.deepEqual(encoded((w) => encodeProduceRequest(w, req, 9)), golden);
  assert.deepEqual(decodeProduceRequest(new Reader(golden), 9), req);
});

Deno.test("ProduceRequest rejects a null topic array and a hostile array length", () => {
  assert.throws(
    () => decodeProduceRequest(new Reader(hex("ffff ffff 000003e8 ffffffff")), 3),
    MalformedFrameError,
  );
  assert.throws(
    () => decodeProduceRequest(new Reader(hex("ffff ffff 000003e8 7fffffff 00")), 3),
    MalformedFrameError,
  );
});

Deno.test("encode rejects null in a version where the field is not nullable", () => {
  const req = createMetadataRequest();
  req.topics = null;
  // Metadata v0 has a non-nullable topic array.
  assert.throws(() => encodeMetadataRequest(new Writer(), req, 0), FrameEncodeError);
});

Deno.test("encode and decode reject versions outside the schema's range", () => {
  assert.throws(() => encodeProduceRequest(new Writer(), createProduceRequest(), 12), RangeError);
  assert.throws(() => decodeProduceRequest(new Reader(new Uint8Array(0)), -1), RangeError);
});

Deno.test("FetchResponse v12 omits default tagged structs and keeps set ones", () => {
  const res: FetchResponse = decodeFetchResponse(
    new Reader(encoded((w) => encodeFetchResponse(w, emptyFetchResponse(), 12))),
    12,
  );
  const part = res.responses[0]!.partitions[0]!;
  assert.equal(part.currentLeader.leaderId, -1);
  const withLeader = emptyFetchResponse();
  withLeader.responses[0]!.partitions[0]!.currentLeader = { leaderId: 3, leaderEpoch: 9 };
  const a = encoded((w) => encodeFetchResponse(w, emptyFetchResponse(), 12));
  const b = encoded((w) => encodeFetchResponse(w, withLeader, 12));
  // One tagged field: tag 1, size 9 (two int32 and a TAG_BUFFER), so 2 + 9 more bytes.
  assert.equal(b.length - a.length, 11);
  assert.deepEqual(decodeFetchResponse(new Reader(b), 12), withLeader);
});

function emptyFetchResponse(): FetchResponse {
  const d = apiDescriptor(1)!;
  const res = d.response.create() as FetchResponse;
  const partition = (d.response.fields.find((f) => f.name === "responses")!.fields!)
    .find((f) => f.name === "partitions")!
    .create!() as FetchResponse["responses"][0]["partitions"][0];
  res.responses = [{ topic: "t", topicId: "AAAAAAAAAAAAAAAAAAAAAA", partitions: [partition] }];
  return res;
}

Deno.test("API_DESCRIPTORS covers the generated APIs of api_keys", () => {
  const generated = API_VERSION_RANGES.filter((r) => r.generated).map((r) => r.apiKey);
  assert.deepEqual(API_DESCRIPTORS.map((d) => d.apiKey), generated);
  assert.equal(API_DESCRIPTORS.length, 38);
});

function roundTrip(desc: MessageDescriptor, v: number, rnd: SeededRandom): void {
  const msg = populateMessage(desc, v, rnd);
  const bytes = encoded((w) => desc.encode(w, msg as never, v));
  const r = new Reader(bytes);
  const back = desc.decode(r, v);
  assert.equal(r.remaining, 0, `${desc.name} v${v} left bytes unread`);
  assert.deepEqual(back, msg, `${desc.name} v${v} changed in a round trip`);
  assert.deepEqual(encoded((w) => desc.encode(w, back as never, v)), bytes);
  // Every strict prefix is a truncated frame: it must fail with MalformedFrameError, not hang.
  for (let n = 0; n < bytes.length; n++) {
    assert.throws(
      () => desc.decode(new Reader(bytes, 0, n), v),
      MalformedFrameError,
      `${desc.name} v${v} truncated to ${n} of ${bytes.length} bytes`,
    );
  }
}

Deno.test("every generated message round-trips at every version and fails when truncated", () => {
  const rnd = new SeededRandom(0x5eed);
  let checked = 0;
  for (const api of API_DESCRIPTORS) {
    for (let v = api.minVersion; v <= api.maxVersion; v++) {
      for (let i = 0; i < 3; i++) {
        roundTrip(api.request, v, rnd);
        roundTrip(api.response, v, rnd);
        checked += 2;
      }
    }
  }
  assert.ok(checked > 300);
});

Deno.test("populated messages exercise nullable and tagged fields", () => {
  // Guards the round-trip test itself: it must reach tagged fields and nulls.
  const d = apiDescriptor(18)!;
  assert.ok(d.response.fields.some((f) => inRange(f.taggedVersions, 3)));
  assert.ok(
    apiDescriptor(0)!.request.fields.some((f) => inRange(f.nullableVersions, 9)),
  );
});

Deno.test("encode rejects non-default values of non-ignorable fields the version lacks", () => {
  const req = createMetadataRequest();
  req.allowAutoTopicCreation = false;
  // AllowAutoTopicCreation exists from v4 and is not ignorable, as in Kafka.
  assert.throws(() => encodeMetadataRequest(new Writer(), req, 3), FrameEncodeError);
  encodeMetadataRequest(new Writer(), req, 4);
  const res = emptyFetchResponse();
  res.responses[0]!.partitions[0]!.currentLeader = { leaderId: 1, leaderEpoch: 2 };
  assert.throws(() => encodeFetchResponse(new Writer(), res, 11), FrameEncodeError);
  // TopicId is ignorable: below v13 it is dropped without error.
  const ignorable = emptyFetchResponse();
  ignorable.responses[0]!.topicId = "AAAAAAAAAAAAAAAAAAAAAQ";
  const back = decodeFetchResponse(
    new Reader(encoded((w) => encodeFetchResponse(w, ignorable, 12))),
    12,
  );
  assert.equal(back.responses[0]!.topicId, "AAAAAAAAAAAAAAAAAAAAAA");
});
