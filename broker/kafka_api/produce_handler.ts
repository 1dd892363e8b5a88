/**
 * Produce (API key 0). Every partition of the request is appended concurrently; each answers
 * once its batch is as safe as `acks` asks: durable on the leader (1), on the whole ISR (-1), on
 * a majority of the replicas (-2) or on n replicas (n >= 2). With
 * acks=0 the batch is still appended, but no response is sent, as Kafka does.
 *
 * Versions 0-2 carry message-format v0/v1, which RustMQ does not store, so 3 is the minimum.
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

async function _producePartition(
  broker: BrokerContext,
  topic: TopicMeta,
  index: number,
  records: Uint8Array | null,
  acks: number,
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
    for (const sent of splitBatches(records)) {
      // Timestamp bounds and compression.type (topic_policy_stage.ts), before offsets.
      const batch = await applyTopicPolicy(sent, topic.config, broker.nowMs());
      const r = await broker.partitions.produce(topic.name, index, batch, acks);
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
      return _producePartition(broker, found, p.index, p.records, req.acks);
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
  minVersion: 3,
  maxVersion: 11,
  advertised: true,
  decode: decodeProduceRequest,
  encode: encodeProduceResponse,
  handle: _handle,
};
