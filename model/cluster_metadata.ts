/**
 * The broker's view of cluster metadata: brokers, topics, partitions with their leaders and
 * replicas, and producer-id allocation. `standalone` backs it with `LocalMetadata`
 * (broker/metadata/local_metadata.ts), a durable JSON file; in a cluster the controller's Raft state machine provides it.
 *
 * @module
 */

import type { TopicConfig } from "./topic_config.ts";
import type { EtlModuleRef } from "./etl_topic_config.ts";

/** A broker as clients see it in Metadata responses. */
export interface BrokerInfo {
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
  readonly rack: string | null;
}

/** One partition's placement. */
export interface PartitionMeta {
  readonly partition: number;
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
}

/** One topic. */
export interface TopicMeta {
  readonly name: string;
  /** The topic's Kafka Uuid, in Kafka's text form: 22 characters of unpadded base64url. */
  readonly topicId: string;
  readonly partitions: readonly PartitionMeta[];
  readonly config: Readonly<TopicConfig>;
}

/** Raised for a topic that does not exist (UNKNOWN_TOPIC_OR_PARTITION). */
export class UnknownTopicError extends Error {
  readonly code = "UNKNOWN_TOPIC_OR_PARTITION";
  readonly retriable = true;
  constructor(readonly topic: string) {
    super(`Topic '${topic}' does not exist`);
    this.name = "UnknownTopicError";
  }
}

/** Raised when creating a topic that exists (TOPIC_ALREADY_EXISTS). */
export class TopicExistsError extends Error {
  readonly code = "TOPIC_ALREADY_EXISTS";
  readonly retriable = false;
  constructor(readonly topic: string) {
    super(`Topic '${topic}' already exists`);
    this.name = "TopicExistsError";
  }
}

/** What a role needs from cluster metadata. */
export interface ClusterMetadata {
  /** The cluster's id, fixed when the cluster is first created. */
  readonly clusterId: string;
  /** The node id clients should treat as the controller. */
  readonly controllerId: number;
  brokers(): readonly BrokerInfo[];
  topics(): readonly TopicMeta[];
  topic(name: string): TopicMeta | undefined;
  createTopic(
    name: string,
    partitions: number,
    replicationFactor: number,
    configs?: Readonly<Record<string, string | null>>,
  ): Promise<TopicMeta>;
  deleteTopic(name: string): Promise<void>;
  createPartitions(name: string, totalCount: number): Promise<TopicMeta>;
  alterTopicConfig(
    name: string,
    configs: Readonly<Record<string, string | null>>,
  ): Promise<TopicMeta>;
  allocateProducerId(): Promise<bigint>;
  /** Called after every change, with the names of the topics that changed. */
  onChange(listener: (topics: readonly string[]) => void): void;
  /** The latest version of a deployed ETL module (metadata with a module registry only). */
  etlModule?(name: string): EtlModuleRef | undefined;
  /** The bytes of the ETL module whose sha256 is `sha256`; rejects when none has it. */
  etlModuleBytes?(sha256: string): Promise<Uint8Array>;
  /** Where followers fetch from broker `nodeId` (its replication listener), when known. */
  replicationEndpoint?(nodeId: number): { host: string; port: number } | undefined;
  /**
   * Proposes the ISR of a partition this broker leads at `leaderEpoch`. Resolves once the
   * controller committed it; rejects when the broker's view is stale.
   */
  proposeIsr?(
    topic: string,
    partition: number,
    leaderEpoch: number,
    isr: readonly number[],
  ): Promise<void>;
}

/** A random Kafka Uuid in its text form (unpadded base64url of 16 bytes). */
export function randomTopicId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}
