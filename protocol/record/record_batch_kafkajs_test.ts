/**
 * Interop with kafkajs's own RecordBatch v2 encoder and decoder. kafkajs does not export them
 * publicly, so they are imported from its sources in the npm package; this checks our varints,
 * CRC32C and layout against an independent implementation used in production.
 */
import assert from "node:assert/strict";
import kafkajs from "kafkajs";
import { buildBatch, decodeRecords, type RecordInput, validateBatch } from "./record_batch.ts";

const KJS = "npm:kafkajs@2.2.4/src/protocol";
// deno-lint-ignore no-explicit-any
type Any = any;
const Record: Any = (await import(`${KJS}/recordBatch/record/v0/index.js`)).default;
const { RecordBatch }: Any = (await import(`${KJS}/recordBatch/v0/index.js`)).default;
const Decoder: Any = (await import(`${KJS}/decoder.js`)).default;
const decodeKafkajsBatch: Any = (await import(`${KJS}/recordBatch/v0/decoder.js`)).default;
const Long: Any = (await import(`npm:kafkajs@2.2.4/src/utils/long.js`)).default;

const enc = (s: string) => new TextEncoder().encode(s);

async function kafkajsBatch(compression: number): Promise<Uint8Array> {
  const records = [0, 1, 2].map((i) =>
    Record({
      offsetDelta: i,
      timestampDelta: i * 1000,
      key: Buffer.from(`k${i}`),
      value: Buffer.from(`v${i}`.repeat(i + 1)),
      headers: i === 1 ? { trace: Buffer.from("t1") } : {},
    })
  );
  const encoder = await RecordBatch({
    compression,
    firstOffset: Long.fromInt(100),
    firstTimestamp: 1_700_000_000_000,
    maxTimestamp: 1_700_000_002_000,
    lastOffsetDelta: 2,
    producerId: Long.fromInt(-1),
    records,
  });
  return new Uint8Array(encoder.buffer);
}

Deno.test("validateBatch and decodeRecords accept batches written by kafkajs", async () => {
  for (const compression of [kafkajs.CompressionTypes.None, kafkajs.CompressionTypes.GZIP]) {
    const bytes = await kafkajsBatch(compression);
    const header = validateBatch(bytes);
    assert.equal(header.recordCount, 3);
    assert.equal(header.compressionId, compression);
    const { records } = await decodeRecords(bytes);
    assert.deepEqual(records.map((r) => r.offset), [100, 101, 102]);
    assert.deepEqual(records.map((r) => r.timestamp), [
      1_700_000_000_000,
      1_700_000_001_000,
      1_700_000_002_000,
    ]);
    assert.deepEqual(records[2]!.value, enc("v2v2v2"));
    assert.deepEqual(records[1]!.headers, [{ key: "trace", value: enc("t1") }]);
  }
});

Deno.test("kafkajs decodes batches written by buildBatch", async () => {
  const input: RecordInput[] = [
    { key: enc("a"), value: enc("first"), timestamp: 1_700_000_000_123 },
    {
      key: null,
      value: enc("second"),
      headers: [{ key: "h", value: enc("x") }],
      timestamp: 1_700_000_000_100,
    },
    { key: enc("c"), value: null, timestamp: 1_700_000_009_999 },
  ];
  for (const compression of ["none", "gzip"] as const) {
    const bytes = await buildBatch(input, { baseOffset: 77, compression, producerId: 9 });
    const decoded: Any = await decodeKafkajsBatch(new Decoder(Buffer.from(bytes)));
    assert.equal(decoded.firstOffset, "77");
    assert.equal(decoded.producerId, "9");
    assert.equal(decoded.maxTimestamp, "1700000009999");
    assert.equal(decoded.records.length, 3);
    assert.deepEqual(decoded.records.map((r: Any) => r.offset), ["77", "78", "79"]);
    assert.deepEqual(decoded.records.map((r: Any) => r.timestamp), [
      "1700000000123",
      "1700000000100",
      "1700000009999",
    ]);
    assert.equal(decoded.records[0].value.toString(), "first");
    assert.equal(decoded.records[1].key, null);
    assert.equal(decoded.records[1].headers.h.toString(), "x");
    assert.equal(decoded.records[2].value, null);
  }
});
