/**
 * Old request versions against an in-process broker, as pre-0.11 tools send them (Burrow's
 * ListOffsets v0, kafka-go 0.2's Produce and Fetch v2): every old-version request and every
 * message set is encoded here by hand from the protocol guide (kafka.apache.org/protocol,
 * "Message Sets"), and every response decoded by hand, so the generated codecs and
 * legacy_message_set.ts are not checked against themselves. Current-version data the old
 * clients read back is written with the generated codecs or kafkajs.
 */

import assert from "node:assert/strict";
import { crc32, gzipSync } from "node:zlib";
import { ApiKey } from "../protocol/kafka/api_keys.ts";
import * as m from "../protocol/kafka/messages/mod.ts";
import { compress } from "../protocol/record/compression.ts";
import { snappyCompressRaw } from "../protocol/record/snappy_js.ts";
import { buildBatch, decodeRecords, splitBatches } from "../protocol/record/record_batch.ts";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { startTestBroker } from "./support/in_process_broker.ts";
import { createTxnTopic, startTxnTestBroker } from "./txn_support.ts";
import { Kafka, logLevel } from "kafkajs";
import { recordsBytes } from "../protocol/kafka/wire.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const TEST_OPTS = { sanitizeOps: false, sanitizeResources: false };

/** Big-endian writer for hand-made frames. */
class _Out {
  #parts: number[] = [];
  i8(v: number): this {
    this.#parts.push(v & 0xff);
    return this;
  }
  i16(v: number): this {
    return this.i8(v >> 8).i8(v);
  }
  i32(v: number): this {
    return this.i16(v >> 16).i16(v);
  }
  i64(v: number): this {
    return this.i32(Math.floor(v / 2 ** 32)).i32(v % 2 ** 32);
  }
  raw(b: Uint8Array): this {
    for (const x of b) this.#parts.push(x);
    return this;
  }
  str(s: string): this {
    const b = enc.encode(s);
    return this.i16(b.length).raw(b);
  }
  bytes(b: Uint8Array | null): this {
    return b === null ? this.i32(-1) : this.i32(b.length).raw(b);
  }
  done(): Uint8Array {
    return new Uint8Array(this.#parts);
  }
}

/** Big-endian reader for hand-decoded responses. */
class _In {
  #v: DataView;
  #b: Uint8Array;
  at = 0;
  constructor(b: Uint8Array) {
    this.#b = b;
    this.#v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  i8(): number {
    return this.#v.getInt8((this.at += 1) - 1);
  }
  i16(): number {
    return this.#v.getInt16((this.at += 2) - 2);
  }
  i32(): number {
    return this.#v.getInt32((this.at += 4) - 4);
  }
  i64(): number {
    return Number(this.#v.getBigInt64((this.at += 8) - 8));
  }
  str(): string {
    const n = this.i16();
    return dec.decode(this.#b.subarray(this.at, this.at += n));
  }
  bytes(): Uint8Array | null {
    const n = this.i32();
    return n < 0 ? null : this.#b.subarray(this.at, this.at += n);
  }
  get left(): number {
    return this.#b.length - this.at;
  }
}

/** One message: offset, size, then crc over magic..value (magic 1 carries a timestamp). */
function _message(
  o: { offset: number; magic: 0 | 1; codec?: number; ts?: number },
  key: Uint8Array | null,
  value: Uint8Array | null,
): Uint8Array {
  const body = new _Out().i8(o.magic).i8(o.codec ?? 0);
  if (o.magic === 1) body.i64(o.ts ?? -1);
  const signed = body.bytes(key).bytes(value).done();
  const msg = new _Out().i32(crc32(signed)).raw(signed).done();
  return new _Out().i64(o.offset).i32(msg.length).raw(msg).done();
}

function _concat(parts: Uint8Array[]): Uint8Array {
  const out = new _Out();
  for (const p of parts) out.raw(p);
  return out.done();
}

/** Sends a hand-made request (header v1) and returns the body after the correlation id. */
async function _call(c: RawKafkaClient, key: number, v: number, body: Uint8Array): Promise<_In> {
  const frame = new _Out().i16(key).i16(v).i32(7).str("legacy-test").raw(body).done();
  await c.writeRaw(new _Out().i32(frame.length).raw(frame).done());
  const r = new _In(await c.readFrame());
  assert.equal(r.i32(), 7, "correlation id");
  return r;
}

/** Produce v0-2 of one message set to partition 0; returns [error, baseOffset, appendTime]. */
async function _produce(c: RawKafkaClient, v: number, topic: string, set: Uint8Array) {
  const body = new _Out().i16(-1).i32(5000).i32(1).str(topic).i32(1).i32(0).bytes(set).done();
  const r = await _call(c, ApiKey.Produce, v, body);
  assert.equal(r.i32(), 1);
  assert.equal(r.str(), topic);
  assert.equal(r.i32(), 1);
  assert.equal(r.i32(), 0, "partition");
  const out = { error: r.i16(), baseOffset: r.i64(), appendTime: v >= 2 ? r.i64() : null };
  if (v >= 1) r.i32(); // throttle_time_ms
  assert.equal(r.left, 0, "produce response fully read");
  return out;
}

interface _Msg {
  offset: number;
  magic: number;
  ts: number | null;
  key: string | null;
  value: string | null;
}

/** Reads a message set as an old client would: every message, CRC checked, uncompressed. */
function _readSet(set: Uint8Array): _Msg[] {
  const r = new _In(set);
  const out: _Msg[] = [];
  while (r.left >= 12) {
    const offset = r.i64();
    const size = r.i32();
    if (r.left < size) break; // a partial message at the end is legal
    const start = r.at;
    const crc = r.i32() >>> 0;
    assert.equal(crc32(set.subarray(start + 4, start + size)), crc, `CRC of offset ${offset}`);
    const magic = r.i8();
    assert.equal(r.i8() & 0x07, 0, "down-converted messages are uncompressed");
    const ts = magic === 1 ? r.i64() : null;
    const key = r.bytes();
    const value = r.bytes();
    assert.equal(r.at, start + size, "message size matches its fields");
    out.push({
      offset,
      magic,
      ts,
      key: key && dec.decode(key),
      value: value && dec.decode(value),
    });
  }
  return out;
}

/** Fetch v0-3 of partition 0 from `offset`; returns the error, high watermark and messages. */
async function _fetch(c: RawKafkaClient, v: number, topic: string, offset: number, max = 1 << 20) {
  const req = new _Out().i32(-1).i32(100).i32(1);
  if (v >= 3) req.i32(1 << 20); // max_bytes
  req.i32(1).str(topic).i32(1).i32(0).i64(offset).i32(max);
  const r = await _call(c, ApiKey.Fetch, v, req.done());
  if (v >= 1) assert.equal(r.i32(), 0, "throttle_time_ms");
  assert.equal(r.i32(), 1);
  assert.equal(r.str(), topic);
  assert.equal(r.i32(), 1);
  assert.equal(r.i32(), 0);
  const error = r.i16();
  const highWatermark = r.i64();
  const set = r.bytes() ?? new Uint8Array(0);
  assert.equal(r.left, 0, "fetch response fully read");
  return { error, highWatermark, messages: _readSet(set) };
}

/** ListOffsets v0 for partition 0: [error, offsets]. */
async function _listOffsets(c: RawKafkaClient, topic: string, ts: number, max: number) {
  const body = new _Out().i32(-1).i32(1).str(topic).i32(1).i32(0).i64(ts).i32(max).done();
  const r = await _call(c, ApiKey.ListOffsets, 0, body);
  assert.equal(r.i32(), 1);
  assert.equal(r.str(), topic);
  assert.equal(r.i32(), 1);
  assert.equal(r.i32(), 0);
  const error = r.i16();
  const n = r.i32();
  const offsets = Array.from({ length: n }, () => r.i64());
  assert.equal(r.left, 0, "list offsets response fully read");
  return { error, offsets };
}

async function _broker(topics: Record<string, Record<string, string>>, config = "") {
  const b = await startTestBroker(config);
  for (const [name, config] of Object.entries(topics)) {
    await b.broker.metadata.createTopic(name, 1, 1, config);
  }
  await b.broker.partitions.syncWithMetadata();
  return b;
}

Deno.test(
  "Produce v2 message sets (magic 1: plain, gzip, snappy) read back by Fetch v2 and v3",
  TEST_OPTS,
  async () => {
    await using b = await _broker({ old: {} });
    await using c = await RawKafkaClient.connect(b.port);
    const plain = _concat([
      _message({ offset: 0, magic: 1, ts: 1_000 }, enc.encode("k0"), enc.encode("v0")),
      _message({ offset: 1, magic: 1, ts: 1_001 }, null, enc.encode("v1")),
    ]);
    assert.deepEqual(await _produce(c, 2, "old", plain), {
      error: 0,
      baseOffset: 0,
      appendTime: -1,
    });
    // Compressed sets: one wrapper message whose value is the inner set, compressed; old
    // producers number the inner messages from 0 and the wrapper with the last of them.
    const inner = (tag: string) =>
      _concat(
        [0, 1, 2].map((i) =>
          _message({ offset: i, magic: 1, ts: 2_000 + i }, null, enc.encode(`${tag}${i}`))
        ),
      );
    const wrap = (codec: number, value: Uint8Array) =>
      _message({ offset: 2, magic: 1, codec, ts: 2_002 }, null, value);
    const gz = await _produce(c, 2, "old", wrap(1, gzipSync(inner("g"))));
    assert.deepEqual([gz.error, gz.baseOffset], [0, 2]);
    // Snappy in both framings old clients use: xerial (Java, kafka-python) and raw (librdkafka).
    const xerial = await _produce(c, 2, "old", wrap(2, await compress("snappy", inner("x"))));
    assert.deepEqual([xerial.error, xerial.baseOffset], [0, 5]);
    const raw = await _produce(c, 2, "old", wrap(2, snappyCompressRaw(inner("r"))));
    assert.deepEqual([raw.error, raw.baseOffset], [0, 8]);

    const want = ["v0", "v1", "g0", "g1", "g2", "x0", "x1", "x2", "r0", "r1", "r2"];
    for (const v of [2, 3]) {
      const f = await _fetch(c, v, "old", 0);
      assert.equal(f.error, 0);
      assert.equal(f.highWatermark, 11);
      assert.deepEqual(f.messages.map((x) => x.value), want, `Fetch v${v}`);
      assert.deepEqual(f.messages.map((x) => x.offset), want.map((_, i) => i));
      assert.ok(f.messages.every((x) => x.magic === 1));
      assert.deepEqual(f.messages.slice(0, 3).map((x) => [x.key, x.ts]), [
        ["k0", 1_000],
        [null, 1_001],
        [null, 2_000],
      ]);
    }
    // From the middle of a stored batch: the records before the fetch offset are left out.
    const mid = await _fetch(c, 2, "old", 6);
    assert.deepEqual(mid.messages.map((x) => x.value), want.slice(6));
    // At the log end: an empty set, not an error.
    assert.deepEqual((await _fetch(c, 2, "old", 11)).messages, []);
  },
);

Deno.test(
  "Produce v0 and Fetch v0-1 speak magic 0; a stored v2 batch is down-converted",
  TEST_OPTS,
  async () => {
    await using b = await _broker({ zero: {} });
    await using c = await RawKafkaClient.connect(b.port);
    const set = _message({ offset: 0, magic: 0 }, enc.encode("k"), enc.encode("m0"));
    assert.deepEqual(await _produce(c, 0, "zero", set), {
      error: 0,
      baseOffset: 0,
      appendTime: null,
    });
    // A current producer's v2 batch (gzip, with a header) on the same partition.
    const batch = await buildBatch([
      { value: enc.encode("new"), timestamp: 5_000, headers: [{ key: "h", value: null }] },
    ], { compression: "gzip" });
    const res = await c.request(ApiKey.Produce, 9, (w) =>
      m.encodeProduceRequest(w, {
        ...m.createProduceRequest(),
        acks: -1,
        timeoutMs: 5000,
        topicData: [{ name: "zero", partitionData: [{ index: 0, records: batch }] }],
      }, 9), m.decodeProduceResponse);
    assert.equal(res.responses[0]!.partitionResponses[0]!.errorCode, 0);
    // Produce below v3 may carry a v2 batch too (Kafka insists on magic 2 only from v3).
    const inV2 = await buildBatch([{ value: enc.encode("b2"), timestamp: 6_000 }]);
    assert.deepEqual(await _produce(c, 2, "zero", inV2), {
      error: 0,
      baseOffset: 2,
      appendTime: -1,
    });
    for (const v of [0, 1]) {
      const f = await _fetch(c, v, "zero", 0);
      assert.deepEqual(
        f.messages,
        [
          { offset: 0, magic: 0, ts: null, key: "k", value: "m0" },
          { offset: 1, magic: 0, ts: null, key: null, value: "new" },
          { offset: 2, magic: 0, ts: null, key: null, value: "b2" },
        ],
        `Fetch v${v}`,
      );
    }
    // Fetch v2 gives the same records with timestamps: the broker's clock for the magic 0 one.
    const f2 = await _fetch(c, 2, "zero", 0);
    assert.ok(f2.messages[0]!.ts! > 1_600_000_000_000, "magic 0 message stamped on arrival");
    assert.equal(f2.messages[1]!.ts, 5_000);
    // And a current consumer reads the magic 0 message as a v2 batch.
    const v4 = await c.request(ApiKey.Fetch, 4, (w) =>
      m.encodeFetchRequest(w, {
        ...m.createFetchRequest(),
        maxBytes: 1 << 20,
        topics: [{
          topic: "zero",
          topicId: "AAAAAAAAAAAAAAAAAAAAAA",
          partitions: [{
            ...m.createFetchRequestPartition(),
            partition: 0,
            fetchOffset: 0n,
            partitionMaxBytes: 1 << 20,
          }],
        }],
      }, 4), m.decodeFetchResponse);
    const [first] = splitBatches(recordsBytes(v4.responses[0]!.partitions[0]!.records!));
    const { records } = await decodeRecords(first!);
    assert.deepEqual(records.map((r) => [dec.decode(r.key!), dec.decode(r.value!)]), [["k", "m0"]]);
  },
);

Deno.test(
  "ListOffsets v0 answers the earliest and latest offsets, at most max_num_offsets of them",
  TEST_OPTS,
  async () => {
    await using b = await _broker({ lo: {} });
    await using c = await RawKafkaClient.connect(b.port);
    assert.deepEqual(await _listOffsets(c, "lo", -1, 1), { error: 0, offsets: [0] });
    const set = _concat(
      [0, 1, 2].map((i) =>
        _message({ offset: i, magic: 1, ts: 10_000 + i }, null, enc.encode(`${i}`))
      ),
    );
    assert.equal((await _produce(c, 2, "lo", set)).error, 0);
    assert.deepEqual(await _listOffsets(c, "lo", -1, 1), { error: 0, offsets: [3] });
    assert.deepEqual(await _listOffsets(c, "lo", -2, 1), { error: 0, offsets: [0] });
    // RustMQ has no segments to list: one offset however many are allowed, none for zero.
    assert.deepEqual(await _listOffsets(c, "lo", -1, 10), { error: 0, offsets: [3] });
    assert.deepEqual(await _listOffsets(c, "lo", -1, 0), { error: 0, offsets: [] });
    // A time: the first offset at or after it; a time past every record: no offset.
    assert.deepEqual(await _listOffsets(c, "lo", 10_001, 1), { error: 0, offsets: [1] });
    assert.deepEqual(await _listOffsets(c, "lo", 99_999_999_999_999, 1), { error: 0, offsets: [] });
    const unknown = await _call(
      c,
      ApiKey.ListOffsets,
      0,
      new _Out().i32(-1).i32(1).str("nope").i32(1).i32(0).i64(-1).i32(1).done(),
    );
    assert.deepEqual([unknown.i32(), unknown.str(), unknown.i32(), unknown.i32()], [
      1,
      "nope",
      1,
      0,
    ]);
    assert.equal(unknown.i16(), 3, "UNKNOWN_TOPIC_OR_PARTITION");
  },
);

Deno.test(
  "bad message sets get CORRUPT_MESSAGE and the connection keeps serving",
  TEST_OPTS,
  async () => {
    await using b = await _broker({ bad: {} });
    await using c = await RawKafkaClient.connect(b.port);
    const good = _message({ offset: 0, magic: 1, ts: 1 }, null, enc.encode("ok"));
    const flipped = good.slice();
    flipped[flipped.length - 1]! ^= 1;
    const magic2 = _message({ offset: 0, magic: 1, ts: 1 }, null, enc.encode("ok"));
    magic2[16] = 2;
    const nested = _message(
      { offset: 0, magic: 1, codec: 1, ts: 1 },
      null,
      gzipSync(_message({ offset: 0, magic: 1, codec: 1, ts: 1 }, null, gzipSync(good))),
    );
    for (const set of [flipped, magic2, nested, good.subarray(0, 20), new Uint8Array(3)]) {
      const r = await _produce(c, 2, "bad", set);
      assert.equal(r.error, 2, "CORRUPT_MESSAGE");
    }
    assert.deepEqual(await _listOffsets(c, "bad", -1, 1), { error: 0, offsets: [0] });
    assert.equal((await _produce(c, 2, "bad", good)).error, 0);
    assert.deepEqual((await _fetch(c, 2, "bad", 0)).messages.map((x) => x.value), ["ok"]);
  },
);

Deno.test(
  "message.downconversion.enable=false answers Fetch v0-3 with UNSUPPORTED_VERSION",
  TEST_OPTS,
  async () => {
    await using b = await _broker({ nodown: { "message.downconversion.enable": "false" } });
    await using c = await RawKafkaClient.connect(b.port);
    const set = _message({ offset: 0, magic: 1, ts: 1 }, null, enc.encode("x"));
    assert.equal((await _produce(c, 2, "nodown", set)).error, 0, "produce is still converted");
    for (const v of [0, 3]) {
      const f = await _fetch(c, v, "nodown", 0);
      assert.equal(f.error, 35, `Fetch v${v}`);
      assert.deepEqual(f.messages, []);
    }
  },
);

Deno.test(
  "ApiVersions v0 advertises the old versions, and a version not served gets UNSUPPORTED_VERSION",
  TEST_OPTS,
  async () => {
    await using b = await _broker({ av: {} });
    await using c = await RawKafkaClient.connect(b.port);
    // ApiVersions v0 response: error_code, then [api_key, min_version, max_version].
    const r = await _call(c, ApiKey.ApiVersions, 0, new Uint8Array(0));
    assert.equal(r.i16(), 0);
    const ranges = new Map(
      Array.from({ length: r.i32() }, () => [r.i16(), [r.i16(), r.i16()]] as const),
    );
    assert.equal(r.left, 0);
    assert.deepEqual(ranges.get(ApiKey.Produce), [0, 11]);
    assert.deepEqual(ranges.get(ApiKey.Fetch), [0, 17]);
    assert.deepEqual(ranges.get(ApiKey.ListOffsets), [0, 7]);
    // ListOffsets v8 is in the codec (Kafka's schema) but not served: the client is told so,
    // per partition, and the connection stays open.
    const req = m.createListOffsetsRequest();
    req.replicaId = -1;
    req.topics = [{
      name: "av",
      partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n, maxNumOffsets: 1 }],
    }];
    const v8 = await c.request(
      ApiKey.ListOffsets,
      8,
      (w) => m.encodeListOffsetsRequest(w, req, 8),
      m.decodeListOffsetsResponse,
    );
    assert.equal(v8.topics[0]!.partitions[0]!.errorCode, 35);
    assert.deepEqual(await _listOffsets(c, "av", -1, 1), { error: 0, offsets: [0] });
  },
);

Deno.test(
  "broker.message_downconversion_enable=false is the default of topics created through the broker",
  TEST_OPTS,
  async () => {
    await using b = await _broker(
      { kept: { "message.downconversion.enable": "true" } },
      "[broker]\nmessage_downconversion_enable = false\n",
    );
    await using c = await RawKafkaClient.connect(b.port);
    const set = _message({ offset: 0, magic: 1, ts: 1 }, null, enc.encode("x"));
    // Produce v2 auto-creates the topic, which takes the broker's default.
    assert.equal((await _produce(c, 2, "auto", set)).error, 0);
    assert.equal(b.broker.metadata.topic("auto")?.config["message.downconversion.enable"], false);
    assert.equal((await _fetch(c, 2, "auto", 0)).error, 35);
    // A topic's own setting wins.
    assert.equal((await _produce(c, 2, "kept", set)).error, 0);
    assert.deepEqual((await _fetch(c, 2, "kept", 0)).messages.map((x) => x.value), ["x"]);
  },
);

Deno.test(
  "Fetch v2 of a transactional topic leaves the markers out and reads uncommitted, as Kafka does",
  TEST_OPTS,
  async () => {
    await using b = await startTxnTestBroker();
    await createTxnTopic(b.broker, "txold", 1);
    const kafka = new Kafka({ brokers: [b.bootstrap], logLevel: logLevel.NOTHING });
    const p = kafka.producer({ transactionalId: "old-reader", maxInFlightRequests: 1 });
    await p.connect();
    try {
      for (const [value, commit] of [["c1", true], ["a1", false], ["c3", true]] as const) {
        const t = await p.transaction();
        await t.send({ topic: "txold", messages: [{ value, partition: 0 }] });
        await (commit ? t.commit() : t.abort());
      }
    } finally {
      await p.disconnect();
    }
    await using c = await RawKafkaClient.connect(Number(b.bootstrap.split(":")[1]));
    // Log: c1, marker, a1, marker, c3, marker. Old clients have no isolation level.
    const f = await _fetch(c, 2, "txold", 0);
    assert.equal(f.highWatermark, 6);
    assert.deepEqual(f.messages.map((x) => [x.offset, x.value]), [[0, "c1"], [2, "a1"], [4, "c3"]]);
    // Only a marker past the fetch offset: an empty set (the client asks again, as with Kafka).
    assert.deepEqual((await _fetch(c, 2, "txold", 5)).messages, []);
  },
);
