/**
 * RustMQ's TypeScript client SDK: a Kafka-protocol client over QUIC, TCP or TLS with an
 * idempotent batching producer, a group-less consumer, a consumer-group member, and topic and
 * group administration.
 *
 * @example
 * ```ts ignore
 * import { RustMqClient } from "./mod.ts";
 * const client = await RustMqClient.connect({ brokers: ["quic://localhost:9092"] });
 * const producer = client.producer({ ackLevel: "All" });
 * await producer.send({ topic: "events", key: "user-1", value: "signed up" });
 * const consumer = client.consumer({ autoOffsetReset: "earliest" });
 * consumer.assign([{ topic: "events", partition: 0 }]);
 * const records = await consumer.poll({ timeoutMs: 1000 });
 *
 * // A consumer-group member: partitions are shared out, offsets committed to the group.
 * const member = client.consumer({ groupId: "billing", autoOffsetReset: "earliest" });
 * member.subscribe(["events"]);
 * for (const record of await member.poll({ timeoutMs: 1000 })) console.log(record.offset);
 * await member.close(); // commits, then leaves the group
 * await client.close();
 * ```
 *
 * @module
 */

export { type ClientOptions, type ClientTlsOptions, RustMqClient } from "./client.ts";
export { Producer, type ProducerOptions } from "./producer.ts";
export type { SaslMechanism, SaslOptions } from "./sasl.ts";
export type {
  MessageHeaders,
  Payload,
  ProducerMessage,
  RecordMetadata,
} from "./producer_message.ts";
export type { ProducerMetrics } from "./producer_metrics.ts";
export {
  Consumer,
  type ConsumerOptions,
  type ConsumerRecord,
  type PollOptions,
  type SeekTarget,
  type TopicPartition,
} from "./consumer.ts";
export {
  GroupConsumer,
  type GroupConsumerOptions,
  type RebalanceContext,
  type RebalanceListener,
} from "./group_consumer.ts";
export type { TopicPartitionOffset } from "./group_membership.ts";
export {
  type Assignor,
  ASSIGNOR_NAMES,
  assignorByName,
  type AssignorMember,
  type AssignorName,
} from "./assignors.ts";
export {
  type Assignment,
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
  type Subscription,
  type TopicPartitions,
} from "./consumer_protocol.ts";
export {
  Admin,
  type CreateTopicOptions,
  type GroupDescription,
  type GroupListing,
  type GroupMemberDescription,
  type ResetOffsetPlan,
  type ResetOffsetsOptions,
  type TopicDescription,
} from "./admin.ts";
export { describeLag, type PartitionLag } from "./group_lag.ts";
export type { BrokerNode, PartitionInfo } from "./metadata_cache.ts";
export { type AckLevel, ackLevelToWire, ACKS_MAJORITY, parseAckLevel } from "./ack_level.ts";
export {
  createDefaultPartitioner,
  type DefaultPartitionerOptions,
  type Partitioner,
  partitionForKey,
} from "./partitioner.ts";
export { murmur2, toPositive } from "./murmur2.ts";
export {
  BrokerError,
  brokerError,
  BufferFullError,
  ClosedError,
  ConnectionError,
  type ErrorContext,
  isRetriable,
  KAFKA_ERROR_CLASSES,
  MessageTooLargeError,
  NotLeaderError,
  OffsetOutOfRangeError,
  RustMqError,
  TimeoutError,
  UnknownTopicError,
} from "./errors.ts";
export { type Clock, systemClock } from "../ops/clock.ts";
export { type Random } from "../ops/random.ts";
export type { Dialer } from "./broker_connection.ts";
export type { Transport } from "../protocol/transport/transport.ts";
export { connect as connectTransport } from "../protocol/transport/connect.ts";
