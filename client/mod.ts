/**
 * RustMQ's TypeScript client SDK: a Kafka-protocol client over QUIC, TCP or TLS with an
 * idempotent batching producer, a group-less consumer, and topic administration.
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
 * await client.close();
 * ```
 *
 * @module
 */

export { type ClientOptions, type ClientTlsOptions, RustMqClient } from "./client.ts";
export { Producer, type ProducerOptions } from "./producer.ts";
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
export { Admin, type CreateTopicOptions, type TopicDescription } from "./admin.ts";
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
export { type Clock, type Random, systemClock } from "./clock.ts";
export type { Dialer } from "./broker_connection.ts";
export type { Transport } from "./transport/transport.ts";
export { connect as connectTransport } from "./transport/connect.ts";
