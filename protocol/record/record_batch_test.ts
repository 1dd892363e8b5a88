import assert from "node:assert/strict";
import {
  BATCH_HEADER_BYTES,
  buildBatch,
  decodeRecords,
  readBatchHeader,
  type RecordInput,
  setBaseOffset,
  setLogAppendTime,
  setPartitionLeaderEpoch,
  splitBatches,
  validateBatch,
} from "./record_batch.ts";
import type { CompressionCodec } from "./compression.ts";
import { crc32c } from "../crc32c.ts";
import {
  CorruptRecordError,
  RecordError,
  RecordTooLargeError,
  UnsupportedCompressionTypeError,
} from "./record_errors.ts";

/**
 * One record, key null, value "hi", one header h=v, timestamp 1000, no producer, written field
 * by field from the RecordBatch v2 grammar in the Kafka implementation docs.
 */
const GOLDEN = new Uint8Array([
  // baseOffset int64 = 0
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  // batchLength int32 = 62 (74 bytes total minus the 12 of baseOffset and batchLength)
  0,
  0,
  0,
  62,
  // partitionLeaderEpoch int32 = -1
  0xff,
  0xff,
  0xff,
  0xff,
  // magic int8 = 2
  2,
  // crc uint32 = CRC32C of everything from attributes to the end
  0x60,
  0xe5,
  0x7b,
  0x9c,
  // attributes int16 = 0 (no compression, CreateTime, not transactional, not control)
  0,
  0,
  // lastOffsetDelta int32 = 0
  0,
  0,
  0,
  0,
  // baseTimestamp int64 = 1000
  0,
  0,
  0,
  0,
  0,
  0,
  0x03,
  0xe8,
  // maxTimestamp int64 = 1000
  0,
  0,
  0,
  0,
  0,
  0,
  0x03,
  0xe8,
  // producerId int64 = -1
  0xff,
  0xff,
  0xff,
  0xff,
  0xff,
  0xff,
  0xff,
  0xff,
  // producerEpoch int16 = -1
  0xff,
  0xff,
  // baseSequence int32 = -1
  0xff,
  0xff,
  0xff,
  0xff,
  // records count int32 = 1
  0,
  0,
  0,
  1,
  // Record: length varint = 12 (zigzag 24 = 0x18)
  0x18,
  // attributes int8 = 0
  0x00,
  // timestampDelta varlong = 0
  0x00,
  // offsetDelta varint = 0
  0x00,
  // keyLength varint = -1 (null key; zigzag 1)
  0x01,
  // valueLength varint = 2 (zigzag 4), value "hi"
  0x04,
  0x68,
  0x69,
  // headers count varint = 1 (zigzag 2)
  0x02,
  // headerKeyLength varint = 1, "h"; headerValueLength varint = 1, "v"
  0x02,
  0x68,
  0x02,
  0x76,
]);

const enc = (s: string) => new TextEncoder().encode(s);
const GOLDEN_RECORD: RecordInput = {
  key: null,
  value: enc("hi"),
  headers: [{ key: "h", value: enc("v") }],
  timestamp: 1000,
};

Deno.test("buildBatch writes the hand-made golden batch byte for byte", async () => {
  assert.equal(GOLDEN.length, 74);
  assert.equal(crc32c(GOLDEN.subarray(21)), 0x60e57b9c);
  assert.deepEqual(await buildBatch([GOLDEN_RECORD]), GOLDEN);
});

Deno.test("readBatchHeader reads every field of the golden batch", () => {
  const h = readBatchHeader(GOLDEN);
  assert.deepEqual(
    [h.baseOffset, h.batchLength, h.sizeBytes, h.partitionLeaderEpoch, h.magic, h.crc],
    [0, 62, 74, -1, 2, 0x60e57b9c],
  );
  assert.deepEqual(
    [h.attributes, h.compressionId, h.lastOffsetDelta, h.baseTimestamp, h.maxTimestamp],
    [0, 0, 0, 1000, 1000],
  );
  assert.deepEqual(
    [h.producerId, h.producerEpoch, h.baseSequence, h.recordCount, h.lastOffset],
    [-1, -1, -1, 1, 0],
  );
  assert.equal(h.isLogAppendTime || h.isTransactional || h.isControl, false);
});

Deno.test("decodeRecords decodes the golden batch", async () => {
  const { records } = await decodeRecords(GOLDEN);
  assert.deepEqual(records, [{
    offset: 0,
    timestamp: 1000,
    key: null,
    value: enc("hi"),
    headers: [{ key: "h", value: enc("v") }],
  }]);
});

function sampleRecords(n: number): RecordInput[] {
  return Array.from({ length: n }, (_, i) => ({
    key: i % 3 === 0 ? null : enc(`key-${i}`),
    value: i % 5 === 4 ? null : enc(`value ${i} `.repeat(i % 7 + 1)),
    headers: i % 2 === 0 ? [] : [{ key: `hdr-${i}`, value: i % 4 === 1 ? null : enc("x") }],
    timestamp: 1_700_000_000_000 + ((i * 7919) % 1000) - 500,
  }));
}

Deno.test("buildBatch and decodeRecords round-trip every codec", async () => {
  const input = sampleRecords(200);
  for (const compression of ["none", "gzip", "snappy", "lz4", "zstd"] as CompressionCodec[]) {
    const batch = await buildBatch(input, {
      baseOffset: 1_000_000,
      compression,
      producerId: 4242,
      producerEpoch: 3,
      baseSequence: 17,
      transactional: true,
    });
    const h = validateBatch(batch);
    assert.equal(h.compressionId, ["none", "gzip", "snappy", "lz4", "zstd"].indexOf(compression));
    assert.deepEqual([h.producerId, h.producerEpoch, h.baseSequence], [4242, 3, 17]);
    assert.equal(h.isTransactional, true);
    assert.equal(h.maxTimestamp, Math.max(...input.map((r) => r.timestamp)));
    const { records } = await decodeRecords(batch);
    assert.equal(records.length, input.length);
    records.forEach((r, i) => {
      const want = input[i]!;
      assert.equal(r.offset, 1_000_000 + i);
      assert.equal(r.timestamp, want.timestamp);
      assert.deepEqual(r.key, want.key);
      assert.deepEqual(r.value, want.value);
      assert.deepEqual(r.headers, want.headers);
    });
  }
});

Deno.test("setBaseOffset and setPartitionLeaderEpoch patch in place without touching the CRC", async () => {
  const batch = await buildBatch(sampleRecords(3));
  const crc = readBatchHeader(batch).crc;
  setBaseOffset(batch, 2 ** 40 + 5);
  setPartitionLeaderEpoch(batch, 9);
  const h = validateBatch(batch);
  assert.deepEqual([h.baseOffset, h.partitionLeaderEpoch, h.crc, h.lastOffset], [
    2 ** 40 + 5,
    9,
    crc,
    2 ** 40 + 7,
  ]);
  assert.equal((await decodeRecords(batch)).records[2]!.offset, 2 ** 40 + 7);
  assert.throws(() => setBaseOffset(batch, 2 ** 53), RangeError);
});

Deno.test("setLogAppendTime sets the type bit and maxTimestamp and re-signs the batch", async () => {
  const batch = await buildBatch(sampleRecords(4), { compression: "lz4" });
  setLogAppendTime(batch, 1_800_000_000_000);
  const h = validateBatch(batch);
  assert.equal(h.isLogAppendTime, true);
  assert.equal(h.maxTimestamp, 1_800_000_000_000);
  assert.equal(h.compressionId, 3);
  const { records } = await decodeRecords(batch);
  assert.ok(records.every((r) => r.timestamp === 1_800_000_000_000));
});

Deno.test("validateBatch rejects corrupt batches with typed errors", async () => {
  const good = await buildBatch(sampleRecords(5));
  const mutate = (f: (b: Uint8Array, v: DataView) => void) => {
    const b = good.slice();
    f(b, new DataView(b.buffer));
    return b;
  };
  const resign = (b: Uint8Array) => new DataView(b.buffer).setUint32(17, crc32c(b.subarray(21)));
  const cases: [string, Uint8Array, new (...a: never[]) => RecordError][] = [
    ["bad CRC", mutate((b) => (b[b.length - 1]! ^= 1)), CorruptRecordError],
    ["flipped attribute", mutate((b) => (b[22]! ^= 0x10)), CorruptRecordError],
    ["wrong magic", mutate((b) => (b[16] = 1)), CorruptRecordError],
    ["length too long", mutate((_, v) => v.setInt32(8, good.length)), CorruptRecordError],
    ["length too short", mutate((_, v) => v.setInt32(8, 40)), CorruptRecordError],
    ["count mismatch", mutate((b, v) => (v.setInt32(57, 4), resign(b))), CorruptRecordError],
    ["negative count", mutate((b, v) => (v.setInt32(57, -1), resign(b))), CorruptRecordError],
    ["delta mismatch", mutate((b, v) => (v.setInt32(23, 5), resign(b))), CorruptRecordError],
    [
      "count too big for bytes",
      mutate((b, v) => {
        v.setInt32(57, 1000);
        v.setInt32(23, 999);
        resign(b);
      }),
      CorruptRecordError,
    ],
    ["codec 6", mutate((b) => (b[22] = 6, resign(b))), UnsupportedCompressionTypeError],
    ["truncated", good.subarray(0, good.length - 1), CorruptRecordError],
    ["extended", new Uint8Array([...good, 0]), CorruptRecordError],
  ];
  for (const [name, bytes, type] of cases) {
    assert.throws(() => validateBatch(bytes), type, name);
  }
  assert.throws(() => validateBatch(good, { maxBytes: good.length - 1 }), RecordTooLargeError);
  const err = (() => {
    try {
      validateBatch(cases[0]![1]);
    } catch (e) {
      return e as RecordError;
    }
  })();
  assert.equal(err?.code, "CORRUPT_MESSAGE");
  assert.equal(err?.retriable, true);
  assert.equal(new RecordTooLargeError("x").code, "MESSAGE_TOO_LARGE");
});

Deno.test("validateBatch checks compressed counts without decompressing", async () => {
  const batch = await buildBatch(sampleRecords(10), { compression: "zstd" });
  // Garble the compressed payload and re-sign: header checks still pass, because the broker
  // must not decompress on the produce path. Only decodeRecords notices.
  batch.fill(0xaa, BATCH_HEADER_BYTES + 4);
  new DataView(batch.buffer).setUint32(17, crc32c(batch.subarray(21)));
  assert.equal(validateBatch(batch).recordCount, 10);
  await assert.rejects(decodeRecords(batch), RecordError);
  // Compaction may leave fewer records than the offset span; readers accept that.
  const compacted = await buildBatch(sampleRecords(3));
  new DataView(compacted.buffer).setInt32(23, 9);
  new DataView(compacted.buffer).setUint32(17, crc32c(compacted.subarray(21)));
  assert.throws(() => validateBatch(compacted), CorruptRecordError);
  assert.equal(validateBatch(compacted, { strictCount: false }).lastOffset, 9);
});

Deno.test("splitBatches walks a concatenation and flags a partial tail", async () => {
  const a = await buildBatch(sampleRecords(2));
  const b = await buildBatch(sampleRecords(3), { compression: "gzip" });
  const all = new Uint8Array([...a, ...b, ...a]);
  const parts = [...splitBatches(all)];
  assert.deepEqual(parts.map((p) => p.length), [a.length, b.length, a.length]);
  parts.forEach((p) => validateBatch(p));
  assert.equal(parts[1]!.buffer, all.buffer); // views, not copies
  assert.deepEqual([...splitBatches(new Uint8Array(0))], []);
  for (let cut = 1; cut < a.length; cut++) {
    const partial = all.subarray(0, a.length + cut);
    assert.throws(() => [...splitBatches(partial)], CorruptRecordError, `cut ${cut}`);
    assert.equal([...splitBatches(partial, { allowPartialTail: true })].length, 1);
  }
  const bogus = new Uint8Array(20);
  new DataView(bogus.buffer).setInt32(8, -5);
  assert.throws(() => [...splitBatches(bogus)], CorruptRecordError);
});

Deno.test("decodeRecords fails with a typed error on every truncation and bit flip", async () => {
  for (const compression of ["none", "gzip", "snappy", "lz4", "zstd"] as CompressionCodec[]) {
    const batch = await buildBatch(sampleRecords(6), { compression });
    for (let len = 0; len < batch.length; len++) {
      await assert.rejects(
        decodeRecords(batch.subarray(0, len)),
        RecordError,
        `${compression} ${len}`,
      );
      assert.throws(() => validateBatch(batch.subarray(0, len)), RecordError);
    }
  }
  // Re-signed corruption inside the uncompressed records reaches the record parser itself.
  const batch = await buildBatch(sampleRecords(6));
  for (let at = BATCH_HEADER_BYTES; at < batch.length; at++) {
    for (const value of [0x00, 0x7f, 0x80, 0xff]) {
      const b = batch.slice();
      b[at] = value;
      new DataView(b.buffer).setUint32(17, crc32c(b.subarray(21)));
      try {
        await decodeRecords(b);
      } catch (err) {
        assert.ok(err instanceof RecordError, `byte ${at}=${value}: ${err}`);
      }
    }
  }
});

Deno.test("buildBatch refuses an empty record list", async () => {
  await assert.rejects(buildBatch([]), RangeError);
});
