import assert from "node:assert/strict";
import { applyTopicPolicy, timestampBounds } from "./topic_policy_stage.ts";
import { TOPIC_CONFIG_DEFAULTS, type TopicConfig } from "../../model/topic_config.ts";
import {
  batchCompression,
  buildBatch,
  decodeRecords,
  readBatchHeader,
} from "../../protocol/record/record_batch.ts";
import { KafkaProtocolError } from "../broker_errors.ts";
import { CorruptRecordError } from "../../protocol/record/record_errors.ts";

const enc = new TextEncoder();
const NOW = 1_700_000_000_000;

function _config(over: Partial<TopicConfig>): TopicConfig {
  return { ...TOPIC_CONFIG_DEFAULTS, ...over };
}

function _records(timestamps: number[]) {
  return timestamps.map((timestamp, i) => ({
    key: enc.encode(`k${i}`),
    value: enc.encode(`value ${i} `.repeat(20)),
    headers: [{ key: "h", value: enc.encode(String(i)) }],
    timestamp,
  }));
}

Deno.test("applyTopicPolicy refuses a record outside the timestamp bounds with INVALID_TIMESTAMP", async () => {
  const config = _config({
    "message.timestamp.before.max.ms": 60_000,
    "message.timestamp.after.max.ms": 1_000,
  });
  const ok = await buildBatch(_records([NOW - 59_000, NOW, NOW + 1_000]));
  assert.equal(await applyTopicPolicy(ok, config, NOW), ok);
  for (const late of [NOW - 61_000, NOW + 1_001]) {
    // The stray record is the second: every record is checked, not only the first and max.
    const bad = await buildBatch(_records([NOW, late, NOW]), { compression: "gzip" });
    await assert.rejects(
      () => applyTopicPolicy(bad, config, NOW),
      (e) =>
        e instanceof KafkaProtocolError && e.code === "INVALID_TIMESTAMP" &&
        e.message.includes(String(late)),
    );
  }
  // LogAppendTime topics stamp records themselves: the producer's clock does not matter.
  const append = _config({ ...config, "message.timestamp.type": "LogAppendTime" });
  const old = await buildBatch(_records([0]));
  assert.equal(await applyTopicPolicy(old, append, NOW), old);
});

Deno.test("the deprecated message.timestamp.difference.max.ms stands in for an unset bound", () => {
  const diff = _config({ "message.timestamp.difference.max.ms": 5_000 });
  assert.deepEqual(timestampBounds(diff, NOW), { minMs: NOW - 5_000, maxMs: NOW + 5_000 });
  const both = _config({ ...diff, "message.timestamp.after.max.ms": 10 });
  assert.deepEqual(timestampBounds(both, NOW), { minMs: NOW - 5_000, maxMs: NOW + 10 });
  assert.equal(timestampBounds(TOPIC_CONFIG_DEFAULTS, NOW), null);
});

Deno.test("compression.type recompresses and keeps producer fields, offsets and records", async () => {
  const batch = await buildBatch(_records([NOW, NOW + 5, NOW + 2]), {
    baseOffset: 0,
    producerId: 77,
    producerEpoch: 3,
    baseSequence: 40,
    compression: "snappy",
  });
  const before = await decodeRecords(batch);
  for (const type of ["gzip", "lz4", "zstd", "uncompressed"] as const) {
    const out = await applyTopicPolicy(batch, _config({ "compression.type": type }), NOW);
    const h = readBatchHeader(out);
    assert.equal(batchCompression(h), type === "uncompressed" ? "none" : type);
    assert.deepEqual(
      [h.producerId, h.producerEpoch, h.baseSequence, h.lastOffsetDelta, h.maxTimestamp],
      [77, 3, 40, 2, NOW + 5],
    );
    const after = await decodeRecords(out);
    assert.deepEqual(after.records, before.records);
  }
  // Already in the topic's codec, or `producer`: the very same bytes.
  assert.equal(
    await applyTopicPolicy(batch, _config({ "compression.type": "snappy" }), NOW),
    batch,
  );
  assert.equal(await applyTopicPolicy(batch, TOPIC_CONFIG_DEFAULTS, NOW), batch);
});

Deno.test("a corrupt batch is refused before it could be recompressed under a fresh CRC", async () => {
  const batch = await buildBatch(_records([NOW]));
  batch[batch.length - 1]! ^= 0xff;
  await assert.rejects(
    () => applyTopicPolicy(batch, _config({ "compression.type": "gzip" }), NOW),
    CorruptRecordError,
  );
});
