/**
 * Topic administration over the Kafka protocol: create, delete, list and describe topics.
 * Requests go to the controller named in Metadata (any broker on a single node).
 *
 * @module
 */

import { ErrorCode } from "../protocol/kafka/errors.ts";
import {
  createCreateTopicsRequest,
  createDeleteTopicsRequest,
  createDescribeConfigsRequest,
} from "../protocol/kafka/messages/mod.ts";
import { CREATE_TOPICS, DELETE_TOPICS, DESCRIBE_CONFIGS } from "./api_specs.ts";
import type { Cluster } from "./cluster.ts";
import { brokerError } from "./errors.ts";
import type { PartitionInfo } from "./metadata_cache.ts";

/** Options of {@linkcode Admin.createTopic}. */
export interface CreateTopicOptions {
  /** Replicas per partition; -1 lets the broker choose. @default {-1} */
  replicationFactor?: number;
  /** Topic configs such as `{ "retention.ms": "3600000" }`. @default {{}} */
  configs?: Readonly<Record<string, string>>;
}

/** A topic as {@linkcode Admin.describeTopic} reports it. */
export interface TopicDescription {
  /** Name. */
  name: string;
  /** Topic id (base64 UUID). */
  topicId: string;
  /** Partitions with leader, replicas and ISR. */
  partitions: PartitionInfo[];
  /** Config values, by name. */
  configs: Record<string, string | null>;
}

const _TOPIC_RESOURCE = 2;

/**
 * The admin client. Create one with `client.admin()`.
 *
 * @example
 * ```ts ignore
 * const admin = client.admin();
 * await admin.createTopic("orders", 6, { configs: { "retention.ms": "86400000" } });
 * console.log(await admin.listTopics());
 * ```
 */
export class Admin {
  readonly #cluster: Cluster;

  /** Use `client.admin()`. */
  constructor(cluster: Cluster) {
    this.#cluster = cluster;
  }

  /**
   * Creates a topic with `partitions` partitions. Rejects with a `BrokerError` such as
   * `TOPIC_ALREADY_EXISTS` or `INVALID_PARTITIONS`.
   */
  async createTopic(
    name: string,
    partitions: number,
    options: CreateTopicOptions = {},
  ): Promise<void> {
    if (!Number.isSafeInteger(partitions) || partitions < 1) {
      throw new RangeError(
        `Cannot create the topic as partitions must be a positive integer: current value is ${partitions}`,
      );
    }
    const req = createCreateTopicsRequest();
    req.timeoutMs = this.#cluster.settings.requestTimeoutMs;
    req.topics = [{
      name,
      numPartitions: partitions,
      replicationFactor: options.replicationFactor ?? -1,
      assignments: [],
      configs: Object.entries(options.configs ?? {}).map(([n, value]) => ({ name: n, value })),
    }];
    const conn = await this.#cluster.controllerConnection();
    const res = await conn.request(CREATE_TOPICS, req);
    const result = res?.topics.find((t) => t.name === name);
    if (result === undefined) throw brokerError(ErrorCode.UNKNOWN_SERVER_ERROR, { topic: name });
    if (result.errorCode !== ErrorCode.NONE) {
      throw brokerError(result.errorCode, { topic: name, brokerMessage: result.errorMessage });
    }
    this.#cluster.metadata.invalidate(name);
  }

  /** Deletes a topic. Rejects with `UnknownTopicError` when it does not exist. */
  async deleteTopic(name: string): Promise<void> {
    const req = createDeleteTopicsRequest();
    req.timeoutMs = this.#cluster.settings.requestTimeoutMs;
    req.topicNames = [name];
    const conn = await this.#cluster.controllerConnection();
    const res = await conn.request(DELETE_TOPICS, req);
    const result = res?.responses.find((t) => t.name === name);
    if (result === undefined) throw brokerError(ErrorCode.UNKNOWN_SERVER_ERROR, { topic: name });
    if (result.errorCode !== ErrorCode.NONE) {
      throw brokerError(result.errorCode, { topic: name, brokerMessage: result.errorMessage });
    }
    this.#cluster.metadata.invalidate(name);
  }

  /** Names of every topic, sorted. */
  async listTopics(): Promise<string[]> {
    await this.#cluster.refreshMetadata(null);
    return this.#cluster.metadata.topicNames().sort();
  }

  /** A topic's partitions and configs. Rejects with `UnknownTopicError` when it is unknown. */
  async describeTopic(name: string): Promise<TopicDescription> {
    this.#cluster.metadata.invalidate(name);
    const info = await this.#cluster.topic(name);
    const req = createDescribeConfigsRequest();
    req.resources = [{
      resourceType: _TOPIC_RESOURCE,
      resourceName: name,
      configurationKeys: null,
    }];
    const conn = await this.#cluster.controllerConnection();
    const res = await conn.request(DESCRIBE_CONFIGS, req);
    const configs: Record<string, string | null> = {};
    const result = res?.results[0];
    if (result !== undefined && result.errorCode !== ErrorCode.NONE) {
      throw brokerError(result.errorCode, { topic: name, brokerMessage: result.errorMessage });
    }
    for (const c of result?.configs ?? []) configs[c.name] = c.value;
    return {
      name: info.name,
      topicId: info.topicId,
      partitions: info.partitions.map((p) => ({ ...p })),
      configs,
    };
  }
}
