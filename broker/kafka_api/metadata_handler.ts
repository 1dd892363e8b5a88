/**
 * Metadata (API key 3): brokers, the cluster id, and the requested topics with their
 * partitions' leaders, replicas and ISR. Unknown topics are created when both the broker
 * (`broker.auto_create_topics`) and the client (`allowAutoTopicCreation`) allow it.
 *
 * @module
 */

import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  createMetadataResponse,
  decodeMetadataRequest,
  encodeMetadataResponse,
  type MetadataRequest,
  type MetadataResponse,
  type MetadataResponseTopic,
} from "../../protocol/kafka/messages/mod.ts";
import { ZERO_UUID } from "../../protocol/kafka/wire.ts";
import type { TopicMeta } from "../../model/cluster_metadata.ts";
import { kafkaErrorCode } from "../broker_errors.ts";
import type { ApiRoute } from "./request_router.ts";
import { type BrokerContext, brokerTopicDefaults } from "./broker_context.ts";

/** Creates `name` if auto-creation allows it; returns the topic or an error code. */
export async function topicOrAutoCreate(
  broker: BrokerContext,
  name: string,
  allowAutoCreate: boolean,
): Promise<TopicMeta | number> {
  const existing = broker.metadata.topic(name);
  if (existing) return existing;
  if (!broker.autoCreateTopics || !allowAutoCreate) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
  try {
    const t = await broker.metadata.createTopic(
      name,
      broker.defaultPartitions,
      broker.defaultReplicationFactor,
      brokerTopicDefaults(broker),
    );
    await broker.partitions.syncWithMetadata();
    broker.logger.info("auto-created topic", { topic: name, partitions: t.partitions.length });
    return t;
  } catch (err) {
    // Two clients may race to create the same topic; the loser uses the winner's.
    const raced = broker.metadata.topic(name);
    if (raced) return raced;
    return kafkaErrorCode(err);
  }
}

function _topicEntry(t: TopicMeta): MetadataResponseTopic {
  return {
    errorCode: ErrorCode.NONE,
    name: t.name,
    topicId: t.topicId,
    isInternal: t.name.startsWith("__"),
    partitions: t.partitions.map((p) => ({
      errorCode: ErrorCode.NONE,
      partitionIndex: p.partition,
      leaderId: p.leader,
      leaderEpoch: p.leaderEpoch,
      replicaNodes: [...p.replicas],
      isrNodes: [...p.isr],
      offlineReplicas: [],
    })),
    topicAuthorizedOperations: -2147483648,
  };
}

function _errorEntry(
  name: string | null,
  topicId: string,
  errorCode: number,
): MetadataResponseTopic {
  return {
    errorCode,
    name,
    topicId,
    isInternal: false,
    partitions: [],
    topicAuthorizedOperations: -2147483648,
  };
}

async function _handle(
  req: MetadataRequest,
  broker: BrokerContext,
  version: number,
): Promise<MetadataResponse> {
  const res = createMetadataResponse();
  res.brokers = broker.metadata.brokers().map((b) => ({ ...b }));
  res.clusterId = broker.metadata.clusterId;
  res.controllerId = broker.metadata.controllerId;
  // v0 has no null topic list: an empty list means all topics.
  const all = req.topics === null || (version === 0 && req.topics.length === 0);
  if (all) {
    res.topics = broker.metadata.topics().map(_topicEntry);
    return res;
  }
  // v1-v3 always allowed auto-creation; the flag appeared in v4.
  const allowAuto = version < 4 || req.allowAutoTopicCreation;
  for (const t of req.topics ?? []) {
    const name = t.name ?? broker.metadata.topics().find((x) => x.topicId === t.topicId)?.name ??
      null;
    if (name === null) {
      res.topics.push(_errorEntry(null, t.topicId, ErrorCode.UNKNOWN_TOPIC_ID));
      continue;
    }
    const found = await topicOrAutoCreate(broker, name, allowAuto);
    res.topics.push(
      typeof found === "number" ? _errorEntry(name, ZERO_UUID, found) : _topicEntry(found),
    );
  }
  return res;
}

/** The Metadata route. */
export const metadataRoute: ApiRoute<MetadataRequest, MetadataResponse> = {
  apiKey: ApiKey.Metadata,
  name: "Metadata",
  minVersion: 0,
  maxVersion: 12,
  advertised: true,
  decode: decodeMetadataRequest,
  encode: encodeMetadataResponse,
  handle: (req, ctx) => _handle(req, ctx.broker, ctx.header.apiVersion),
};
