/**
 * The produce path's topic-policy stage: what a topic's configs ask of a batch before offsets
 * are assigned, after the batch has been checked.
 *
 * - `message.timestamp.before.max.ms` / `after.max.ms` (and the deprecated
 *   `message.timestamp.difference.max.ms`, which stands in for an unset bound, as in Kafka):
 *   with `message.timestamp.type=CreateTime`, a record stamped further from the broker's clock
 *   fails the batch with INVALID_TIMESTAMP (KIP-937).
 * - `compression.type`: anything but `producer` recompresses the batch to that codec, as a Kafka
 *   broker does, so every stored batch of the topic uses it.
 *
 * A batch the topic asks nothing of is returned as it came, without decoding, so the common path
 * costs two comparisons.
 *
 * @module
 */

import {
  batchCompression,
  type BatchHeader,
  decodeRecords,
  recompressBatch,
  validateBatch,
} from "../../protocol/record/record_batch.ts";
import type { CompressionCodec } from "../../protocol/record/compression.ts";
import { CONFIG_LONG_MAX, type TopicConfig } from "../../model/topic_config.ts";
import { KafkaProtocolError } from "../broker_errors.ts";

/** The configs this stage reads. */
export type TopicPolicyConfig = Pick<
  TopicConfig,
  | "compression.type"
  | "message.timestamp.type"
  | "message.timestamp.before.max.ms"
  | "message.timestamp.after.max.ms"
  | "message.timestamp.difference.max.ms"
  | "max.message.bytes"
>;

/** The codec `compression.type` asks for, or null for `producer` (keep the producer's). */
export function targetCodec(
  config: Pick<TopicConfig, "compression.type">,
): CompressionCodec | null {
  const t = config["compression.type"];
  if (t === "producer") return null;
  return t === "uncompressed" ? "none" : t;
}

/** The timestamp window `[now - before, now + after]` the configs allow, or null for none. */
export function timestampBounds(
  config: TopicPolicyConfig,
  nowMs: number,
): { minMs: number; maxMs: number } | null {
  if (config["message.timestamp.type"] !== "CreateTime") return null;
  const diff = config["message.timestamp.difference.max.ms"];
  const pick = (v: number) => v !== CONFIG_LONG_MAX ? v : diff;
  const before = pick(config["message.timestamp.before.max.ms"]);
  const after = pick(config["message.timestamp.after.max.ms"]);
  if (before === CONFIG_LONG_MAX && after === CONFIG_LONG_MAX) return null;
  return {
    minMs: before === CONFIG_LONG_MAX ? -Infinity : nowMs - before,
    maxMs: after === CONFIG_LONG_MAX ? Infinity : nowMs + after,
  };
}

async function _checkTimestamps(
  batch: Uint8Array,
  header: BatchHeader,
  bounds: { minMs: number; maxMs: number },
): Promise<void> {
  for (const r of (await decodeRecords(batch)).records) {
    if (r.timestamp >= bounds.minMs && r.timestamp <= bounds.maxMs) continue;
    throw new KafkaProtocolError(
      "INVALID_TIMESTAMP",
      `Cannot append a record stamped ${r.timestamp} (offset delta ${
        r.offset - header.baseOffset
      }): message.timestamp.before.max.ms and after.max.ms allow ${bounds.minMs} to ${bounds.maxMs}`,
    );
  }
}

/**
 * Applies the topic's timestamp bounds and compression to one batch; returns the batch to
 * append (`batch` itself when nothing applies).
 *
 * @throws {KafkaProtocolError} INVALID_TIMESTAMP for a record outside the bounds
 * @throws {CorruptRecordError | RecordTooLargeError} for a bad batch, before it is decoded
 *
 * @example
 * ```ts
 * import { applyTopicPolicy } from "./topic_policy_stage.ts";
 * import { TOPIC_CONFIG_DEFAULTS } from "../../model/topic_config.ts";
 * import { batchCompression, buildBatch, readBatchHeader } from "../../protocol/record/record_batch.ts";
 * import assert from "node:assert/strict";
 * const batch = await buildBatch([{ value: new Uint8Array(10), timestamp: 1 }]);
 * assert.equal(await applyTopicPolicy(batch, TOPIC_CONFIG_DEFAULTS, 1), batch);
 * const config = { ...TOPIC_CONFIG_DEFAULTS, "compression.type": "gzip" as const };
 * const out = await applyTopicPolicy(batch, config, 1);
 * assert.equal(batchCompression(readBatchHeader(out)), "gzip");
 * ```
 */
export async function applyTopicPolicy(
  batch: Uint8Array,
  config: TopicPolicyConfig,
  nowMs: number,
): Promise<Uint8Array> {
  const bounds = timestampBounds(config, nowMs);
  const codec = targetCodec(config);
  if (bounds === null && codec === null) return batch;
  // Decoding a batch whose CRC is wrong, and recompressing it under a fresh CRC, would store
  // garbage as if it were sound: check it first.
  const header = validateBatch(batch, { maxBytes: Number.MAX_SAFE_INTEGER });
  if (header.isControl) return batch;
  if (bounds !== null) await _checkTimestamps(batch, header, bounds);
  if (codec === null || batchCompression(header) === codec) return batch;
  return await recompressBatch(batch, codec);
}
