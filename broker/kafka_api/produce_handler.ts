/**
 * Produce (API key 0). Every partition of the request is appended concurrently; each answers
 * once its batch is as safe as `acks` asks: durable on the leader (1), on the whole ISR (-1), on
 * a majority of the replicas (-2) or on n replicas (n >= 2). With
 * acks=0 the batch is still appended, but no response is sent, as Kafka does.
 *
 * Versions 0-2 carry message sets (magic 0/1), which RustMQ does not store: each partition's set
 * is converted to one RecordBatch v2 on the way in (protocol/record/legacy_message_set.ts), as a
 * Kafka 3 broker converts it to its configured format.
 *
 * This handler is the pipeline's decode end: authorization already ran in the router's
 * middleware, and each batch goes on through the stages `produce/produce_pipeline.ts` lists.
 *
 * @module
 */

import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  createProduceResponse,
  decodeProduceRequest,
  encodeProduceResponse,
  type ProduceRequest,
  type ProduceResponse,
  type ProduceResponsePartitionProduceResponse,
} from "../../protocol/kafka/messages/mod.ts";
import { splitBatches } from "../../protocol/record/record_batch.ts";
import { recordCountOf } from "../seed_metrics.ts";
import { messageSetToBatch } from "../../protocol/record/legacy_message_set.ts";
import { kafkaErrorCode } from "../broker_errors.ts";
import type { ApiRoute } from "./request_router.ts";
import type { BrokerContext, RequestContext } from "./broker_context.ts";
import { topicOrAutoCreate } from "./metadata_handler.ts";
import { applyTopicPolicy } from "../produce/topic_policy_stage.ts";
import type { TopicMeta } from "../../model/cluster_metadata.ts";

/**
 * Valid `acks`: 0 (none), 1 (leader), -1 (all of the ISR), -2 (a majority of the replicas, an
 * extension) and n >= 2 (n replicas including the leader, an extension).
 */
function _acksValid(acks: number): boolean {
  return acks >= -2 && acks <= 32767;
}

function _partitionError(
  index: number,
  errorCode: number,
  message: string | null,
): ProduceResponsePartitionProduceResponse {
  return {
    index,
    errorCode,
    baseOffset: -1n,
    logAppendTimeMs: -1n,
    logStartOffset: -1n,
    recordErrors: [],
    errorMessage: message,
    currentLeader: { leaderId: -1, leaderEpoch: -1 },
  };
}

/** The magic byte's place in a message and in a batch: after offset, length and crc/epoch. */
const _MAGIC_AT = 16;

/**
 * The v2 batches a partition's records hold. Versions 0-2 carry a message set (magic 0/1),
 * which becomes one v2 batch before anything else; they may also carry v2 batches, which Kafka
 * accepts from any Produce version (only v3+ insists on magic 2).
 */
async function _batchesOf(
  records: Uint8Array,
  version: number,
  nowMs: number,
): Promise<Iterable<Uint8Array>> {
  if (version >= 3 || records[_MAGIC_AT] === 2) return splitBatches(records);
  return [await messageSetToBatch(records, nowMs)];
}

async function _producePartition(
  broker: BrokerContext,
  topic: TopicMeta,
  index: number,
  records: Uint8Array | null,
  acks: number,
  version: number,
): Promise<ProduceResponsePartitionProduceResponse> {
  if (records === null || records.length === 0) {
    return _partitionError(
      index,
      ErrorCode.CORRUPT_MESSAGE,
      "the partition carries no record batch",
    );
  }
  try {
    let first: ProduceResponsePartitionProduceResponse | null = null;
    const batches = await _batchesOf(records, version, broker.nowMs());
    for (const sent of batches) {
      // Timestamp bounds and compression.type (topic_policy_stage.ts), before offsets.
      const batch = await applyTopicPolicy(sent, topic.config, broker.nowMs());
      // A batch still in the request frame is the request's own (FrameHandler); a converted or
      // recompressed one may sit in a codec's reused buffer, so only the former is handed over.
      const owned = batch.buffer === records.buffer;
      const r = await broker.partitions.produce(topic.name, index, batch, acks, { owned });
      broker.recordsProduced?.(recordCountOf(batch));
      first ??= {
        ..._partitionError(index, ErrorCode.NONE, null),
        baseOffset: BigInt(r.baseOffset),
        logAppendTimeMs: BigInt(r.logAppendTimeMs),
        logStartOffset: BigInt(r.logStartOffset),
      };
    }
    return first ??
      _partitionError(index, ErrorCode.CORRUPT_MESSAGE, "the partition carries no record batch");
  } catch (err) {
    const code = kafkaErrorCode(err);
    if (code === ErrorCode.UNKNOWN_SERVER_ERROR) {
      broker.logger.error("produce failed", {
        topic: topic.name,
        partition: index,
        err: err as Error,
      });
    }
    return _partitionError(index, code, (err as Error).message);
  }
}

async function _handle(req: ProduceRequest, ctx: RequestContext): Promise<ProduceResponse | null> {
  const broker = ctx.broker;
  const res = createProduceResponse();
  const acksOk = _acksValid(req.acks);
  const work = req.topicData.map(async (t) => {
    const found = acksOk
      ? await topicOrAutoCreate(broker, t.name, true)
      : ErrorCode.INVALID_REQUIRED_ACKS;
    const partitions = await Promise.all(t.partitionData.map((p) => {
      if (typeof found === "number") return _partitionError(p.index, found, null);
      if (p.index < 0 || p.index >= found.partitions.length) {
        return _partitionError(p.index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, null);
      }
      const v = ctx.header.apiVersion;
      return _producePartition(broker, found, p.index, p.records, req.acks, v);
    }));
    return { name: t.name, partitionResponses: partitions };
  });
  res.responses = await Promise.all(work);
  return req.acks === 0 ? null : res;
}

/** The Produce route. */
export const produceRoute: ApiRoute<ProduceRequest, ProduceResponse> = {
  apiKey: ApiKey.Produce,
  name: "Produce",
  minVersion: 0,
  maxVersion: 11,
  advertised: true,
  decode: decodeProduceRequest,
  encode: encodeProduceResponse,
  handle: _handle,
};
