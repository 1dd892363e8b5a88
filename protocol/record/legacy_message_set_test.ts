import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import {
  batchesToMessageSet,
  decodeMessageSet,
  encodeMessageSet,
  messageSetToBatch,
  wrapMessageSet,
} from "./legacy_message_set.ts";
import { batchCompression, buildBatch, decodeRecords, readBatchHeader } from "./record_batch.ts";
import { CorruptRecordError, RecordError } from "./record_errors.ts";
import { xxhash32 } from "./lz4_js.ts";

const enc = new TextEncoder();

// A magic 1 message set of one message (offset 0, CreateTime 1000, key "k", value "v"), as
// the protocol guide lays it out; the CRC-32 was computed apart, with Python's zlib.
const _GOLDEN_V1 = new Uint8Array([
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0, // offset
  0,
  0,
  0,
  24, // message size
  0xe4,
  0xe3,
  0x21,
  0xbc, // crc: Python's zlib.crc32 of magic..end
  1,
  0, // magic, attributes
  0,
  0,
  0,
  0,
  0,
  0,
  0x03,
  0xe8, // timestamp 1000
  0,
  0,
  0,
  1,
  0x6b, // key "k"
  0,
  0,
  0,
  1,
  0x76, // value "v"
]);

function _messages(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    offset: i,
    key: i % 2 === 0 ? enc.encode(`k${i}`) : null,
    value: i === 3 ? null : enc.encode(`value-${i}`),
    timestamp: 1_000 + i,
    logAppendTime: false,
  }));
}

Deno.test("encodeMessageSet writes Kafka's magic 1 bytes, CRC-32 included", async () => {
  const set = encodeMessageSet([{
    offset: 0,
    key: enc.encode("k"),
    value: enc.encode("v"),
    timestamp: 1000,
    logAppendTime: false,
  }], 1);
  assert.deepEqual(set, _GOLDEN_V1);
  const [m] = await decodeMessageSet(_GOLDEN_V1);
  assert.deepEqual(m, {
    offset: 0,
    magic: 1,
    timestamp: 1000,
    logAppendTime: false,
    key: enc.encode("k"),
    value: enc.encode("v"),
  });
});

Deno.test("message sets of magic 0 and 1, plain and compressed, convert to one v2 batch", async () => {
  const sent = _messages(5);
  for (const magic of [0, 1] as const) {
    const plain = encodeMessageSet(sent, magic);
    for (const codec of ["none", "gzip", "snappy", "lz4"] as const) {
      const set = codec === "none" ? plain : await wrapMessageSet(plain, codec, magic, 4);
      const batch = await messageSetToBatch(set, 777);
      assert.equal(batchCompression(readBatchHeader(batch)), codec, `${codec} magic ${magic}`);
      const { records } = await decodeRecords(batch);
      assert.deepEqual(records.map((r) => [r.key, r.value]), sent.map((m) => [m.key, m.value]));
      // Magic 0 has no timestamps: the broker's clock stands in.
      assert.deepEqual(
        records.map((r) => r.timestamp),
        sent.map((m) => magic === 0 ? 777 : m.timestamp),
      );
    }
  }
});

Deno.test("v2 batches down-convert to message sets from the fetch offset, within maxBytes", async () => {
  const records = _messages(6).map((m) => ({ key: m.key, value: m.value, timestamp: m.timestamp }));
  const batches = new Uint8Array([
    ...await buildBatch(records.slice(0, 3), { baseOffset: 10, compression: "gzip" }),
    ...await buildBatch([{ value: null, timestamp: 1 }], { baseOffset: 13, control: true }),
    ...await buildBatch(records.slice(3), { baseOffset: 14 }),
  ]);
  for (const magic of [0, 1] as const) {
    const set = await batchesToMessageSet(batches, magic, { fromOffset: 11, maxBytes: 1 << 20 });
    const got = await decodeMessageSet(set);
    // Offset 10 is below the fetch offset, 13 is a control record: neither reaches the client.
    assert.deepEqual(got.map((m) => m.offset), [11, 12, 14, 15, 16]);
    assert.ok(got.every((m) => m.magic === magic));
    assert.deepEqual(
      got.map((m) => m.timestamp),
      magic === 1 ? [1001, 1002, 1003, 1004, 1005] : [
        -1,
        -1,
        -1,
        -1,
        -1,
      ],
    );
    assert.deepEqual(got[2]!.value, null);
  }
  const one = await batchesToMessageSet(batches, 1, { fromOffset: 0, maxBytes: 1 });
  assert.deepEqual((await decodeMessageSet(one)).map((m) => m.offset), [10], "always one message");
});

Deno.test("decodeMessageSet refuses bad CRCs, magics and lengths, and may drop a partial tail", async () => {
  const set = encodeMessageSet(_messages(2), 1);
  const flipped = set.slice();
  flipped[30]! ^= 1;
  await assert.rejects(() => decodeMessageSet(flipped), CorruptRecordError);
  const magic2 = set.slice();
  magic2[16] = 2;
  await assert.rejects(() => decodeMessageSet(magic2), CorruptRecordError);
  const cut = set.subarray(0, set.length - 3);
  await assert.rejects(() => decodeMessageSet(cut), CorruptRecordError);
  assert.equal((await decodeMessageSet(cut, { partialTail: true })).length, 1);
  const firstEnd = 12 + new DataView(set.buffer).getInt32(8);
  for (let n = 1; n < set.length; n++) {
    if (n === firstEnd) continue; // a whole first message is a valid set of one
    await assert.rejects(() => messageSetToBatch(set.subarray(0, n), 0), CorruptRecordError);
  }
});

Deno.test("magic 0 LZ4 wrappers with Kafka 0.8's header checksum are read; magic 1 ones are refused", async () => {
  const plain = encodeMessageSet(_messages(3), 0);
  for (const magic of [0, 1] as const) {
    const set = await wrapMessageSet(
      magic === 0 ? plain : encodeMessageSet(_messages(3), 1),
      "lz4",
      magic,
      2,
    );
    // The wrapper's value starts after offset, size, crc, magic, attributes, [timestamp], key
    // (-1) and the value length. Old Kafka hashed the frame magic into the header checksum.
    const at = 12 + 4 + 2 + (magic === 1 ? 8 : 0) + 4 + 4;
    const frame = set.subarray(at);
    assert.equal(frame[4]! & 0x09, 0, "no content size or dictionary id: a 7-byte header");
    const headerBytes = 7;
    frame[headerBytes - 1] = (xxhash32(frame.subarray(0, headerBytes - 1)) >>> 8) & 0xff;
    const view = new DataView(set.buffer);
    view.setUint32(12, crc32(set.subarray(16)));
    if (magic === 0) {
      const { records } = await decodeRecords(await messageSetToBatch(set, 1));
      assert.deepEqual(records.map((r) => r.value), _messages(3).map((m) => m.value));
    } else {
      await assert.rejects(() => messageSetToBatch(set, 1), CorruptRecordError);
    }
  }
});

Deno.test("messageSetToBatch fails only with a RecordError on mutated and cut message sets", async () => {
  // A seeded xorshift, so a failure replays.
  let seed = 0x14c0ffee;
  const rnd = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const plain = encodeMessageSet(_messages(4), 1);
  const sets = [plain, encodeMessageSet(_messages(3), 0)];
  for (const codec of ["gzip", "snappy", "lz4"] as const) {
    sets.push(await wrapMessageSet(plain, codec, 1, 3));
  }
  for (let i = 0; i < 3000; i++) {
    const set = sets[rnd(sets.length)]!.slice(0, 1 + rnd(200));
    for (let k = rnd(4); k > 0; k--) set[rnd(set.length)] = rnd(256);
    // Re-sign the first message half the time, so mutations reach past the CRC check.
    if (rnd(2) === 0 && set.length >= 16) {
      new DataView(set.buffer).setUint32(12, crc32(set.subarray(16)));
    }
    try {
      await messageSetToBatch(set, 1);
    } catch (err) {
      assert.ok(err instanceof RecordError, `case ${i}: ${(err as Error).stack}`);
    }
  }
});
