/**
 * RustMQ's public TypeScript API: the client SDK, and the configuration and logging helpers
 * embedders need. Every export is named here explicitly, so each change to what users see shows
 * up in review.
 *
 * @example
 * ```ts ignore
 * import { RustMqClient } from "./mod.ts";
 * const client = await RustMqClient.connect({ brokers: ["tcp://127.0.0.1:9092"] });
 * const producer = client.producer({ ackLevel: "All" });
 * await producer.send({ topic: "orders", key: "42", value: "{}" });
 * await client.close();
 * ```
 *
 * @module
 */

export {
  type AckLevel,
  ackLevelToWire,
  Admin,
  BrokerError,
  type BrokerNode,
  BufferFullError,
  type ClientOptions,
  type ClientTlsOptions,
  ClosedError,
  ConnectionError,
  Consumer,
  type ConsumerOptions,
  type ConsumerRecord,
  createDefaultPartitioner,
  type CreateTopicOptions,
  isRetriable,
  type MessageHeaders,
  MessageTooLargeError,
  murmur2,
  NotLeaderError,
  OffsetOutOfRangeError,
  type Partitioner,
  partitionForKey,
  type PartitionInfo,
  type Payload,
  type PollOptions,
  Producer,
  type ProducerMessage,
  type ProducerMetrics,
  type ProducerOptions,
  type RecordMetadata,
  RustMqClient,
  RustMqError,
  type SeekTarget,
  TimeoutError,
  type TopicDescription,
  type TopicPartition,
  UnknownTopicError,
} from "./client/mod.ts";
export { VERSION } from "./config/version.ts";
export {
  ConfigError,
  type ConfigProblem,
  loadBrokerConfig,
  loadControllerConfig,
} from "./config/load.ts";
export type { BrokerConfig, ControllerConfig } from "./config/schema.ts";
export { createLogger, type Logger, type LogLevel } from "./ops/logger.ts";
