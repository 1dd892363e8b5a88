/**
 * Administration over the Kafka protocol: create, delete, list and describe topics (requests
 * go to the controller named in Metadata, any broker on a single node), and list, describe and
 * reset the offsets of consumer groups (requests go to each group's coordinator).
 *
 * @module
 */

import { ErrorCode } from "../protocol/kafka/errors.ts";
import {
  createCreateTopicsRequest,
  createDeleteTopicsRequest,
  createDescribeConfigsRequest,
  createDescribeGroupsRequest,
  createIncrementalAlterConfigsRequest,
  createListGroupsRequest,
  createListOffsetsRequest,
} from "../protocol/kafka/messages/mod.ts";
import {
  CREATE_TOPICS,
  DELETE_TOPICS,
  DESCRIBE_CONFIGS,
  DESCRIBE_GROUPS,
  INCREMENTAL_ALTER_CONFIGS,
  LIST_GROUPS,
  LIST_OFFSETS,
} from "./api_specs.ts";
import type { Cluster } from "./cluster.ts";
import { decodeAssignment, decodeSubscription } from "./consumer_protocol.ts";
import type { TopicPartition } from "./consumer.ts";
import { brokerError } from "./errors.ts";
import { GroupMembership, type TopicPartitionOffset } from "./group_membership.ts";
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

/** A group as {@linkcode Admin.listGroups} reports it. */
export interface GroupListing {
  /** Group id. */
  groupId: string;
  /** Protocol type ("consumer" for consumer groups). */
  protocolType: string;
  /** State (Empty, Stable, PreparingRebalance, ...), or "" from brokers that omit it. */
  state: string;
}

/** One member of a described group. */
export interface GroupMemberDescription {
  /** Member id. */
  memberId: string;
  /** Static instance id, or null. */
  groupInstanceId: string | null;
  /** Client id of the member's connection. */
  clientId: string;
  /** Host the member connects from. */
  clientHost: string;
  /** Subscribed topics (consumer protocol), or null when unknown. */
  subscription: string[] | null;
  /** Assigned partitions (consumer protocol; empty while rebalancing). */
  assignment: TopicPartition[];
}

/** A group as {@linkcode Admin.describeGroup} reports it. */
export interface GroupDescription {
  /** Group id. */
  groupId: string;
  /** State: Empty, PreparingRebalance, CompletingRebalance, Stable or Dead (unknown group). */
  state: string;
  /** Protocol type. */
  protocolType: string;
  /** Chosen assignor (Stable groups only). */
  protocol: string;
  /** Members in the coordinator's order. */
  members: GroupMemberDescription[];
}

/** Options of {@linkcode Admin.resetOffsets}. */
export interface ResetOffsetsOptions {
  /** Topic whose partitions are reset. */
  topic: string;
  /** Target: the log start, the log end, or an offset (clamped into the log). */
  to: "earliest" | "latest" | number;
  /** Commit the new offsets; without it, only the plan is returned. @default {false} */
  execute?: boolean;
}

/** One partition of a reset plan. */
export interface ResetOffsetPlan extends TopicPartitionOffset {
  /** The committed offset before the reset, or -1. */
  previous: number;
}

/** States in which a group has no active members, so its offsets may be reset. */
const _INACTIVE_STATES = new Set(["Empty", "Dead"]);

const _TOPIC_RESOURCE = 2;
const _CONFIG_SET = 0;
const _CONFIG_DELETE = 1;

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

  /**
   * Changes a topic's configs: a string sets the key, null puts it back to its default; keys
   * not named keep their values. Rejects with a `BrokerError` such as `INVALID_CONFIG` or
   * `UNKNOWN_TOPIC_OR_PARTITION`, and then changes nothing.
   *
   * @example
   * ```ts ignore
   * await admin.alterTopicConfigs("orders", { "retention.ms": "3600000", "max.message.bytes": null });
   * ```
   */
  async alterTopicConfigs(name: string, changes: Record<string, string | null>): Promise<void> {
    const req = createIncrementalAlterConfigsRequest();
    req.resources = [{
      resourceType: _TOPIC_RESOURCE,
      resourceName: name,
      configs: Object.entries(changes).map(([key, value]) => ({
        name: key,
        configOperation: value === null ? _CONFIG_DELETE : _CONFIG_SET,
        value,
      })),
    }];
    const conn = await this.#cluster.controllerConnection();
    const res = await conn.request(INCREMENTAL_ALTER_CONFIGS, req);
    const result = res?.responses[0];
    if (result === undefined) throw brokerError(ErrorCode.UNKNOWN_SERVER_ERROR, { topic: name });
    if (result.errorCode !== ErrorCode.NONE) {
      throw brokerError(result.errorCode, { topic: name, brokerMessage: result.errorMessage });
    }
  }

  /** Every group on every broker, sorted by id. */
  async listGroups(): Promise<GroupListing[]> {
    await this.#cluster.refreshMetadata([]);
    const out = new Map<string, GroupListing>();
    for (const node of this.#cluster.metadata.brokers()) {
      // Each broker lists only the groups it coordinates.
      const conn = await this.#cluster.connection(this.#cluster.urlOf(node.nodeId));
      const res = await conn.request(LIST_GROUPS, createListGroupsRequest());
      if (res === null) throw brokerError(ErrorCode.UNKNOWN_SERVER_ERROR);
      if (res.errorCode !== ErrorCode.NONE) throw brokerError(res.errorCode);
      for (const g of res.groups) {
        out.set(g.groupId, {
          groupId: g.groupId,
          protocolType: g.protocolType,
          state: g.groupState,
        });
      }
    }
    return [...out.values()].sort((a, b) => a.groupId < b.groupId ? -1 : 1);
  }

  /**
   * A group's state and members, with each member's assignment decoded (consumer protocol).
   * An unknown group is reported as Dead with no members, as Kafka does.
   */
  async describeGroup(groupId: string): Promise<GroupDescription> {
    return await this.#withGroup(groupId, async (m) => {
      const conn = await m.coordinator();
      const req = createDescribeGroupsRequest();
      req.groups = [groupId];
      const res = await conn.request(DESCRIBE_GROUPS, req);
      const g = res?.groups.find((x) => x.groupId === groupId);
      if (g === undefined) throw brokerError(ErrorCode.UNKNOWN_SERVER_ERROR);
      if (g.errorCode !== ErrorCode.NONE) throw brokerError(g.errorCode);
      const consumer = g.protocolType === "consumer";
      return {
        groupId,
        state: g.groupState,
        protocolType: g.protocolType,
        protocol: g.protocolData,
        members: g.members.map((x) => ({
          memberId: x.memberId,
          groupInstanceId: x.groupInstanceId,
          clientId: x.clientId,
          clientHost: x.clientHost,
          subscription: consumer && x.memberMetadata.length > 0
            ? _orNull(() => decodeSubscription(x.memberMetadata).topics)
            : null,
          assignment: consumer
            ? (_orNull(() => decodeAssignment(x.memberAssignment).assignedPartitions) ?? [])
              .flatMap((tp) => tp.partitions.map((partition) => ({ topic: tp.topic, partition })))
            : [],
        })),
      };
    });
  }

  /** The group's committed offsets (all topics, or only `topics`), sorted by topic, partition. */
  async fetchOffsets(groupId: string, topics?: readonly string[]): Promise<TopicPartitionOffset[]> {
    let partitions = null;
    if (topics !== undefined) {
      partitions = [];
      for (const topic of topics) {
        const info = await this.#cluster.topic(topic);
        partitions.push({ topic, partitions: info.partitions.map((p) => p.partition) });
      }
    }
    const map = await this.#withGroup(groupId, (m) => m.fetchCommitted(partitions));
    const out: TopicPartitionOffset[] = [];
    for (const [key, offset] of map) {
      const [topic, partition] = key.split("\0") as [string, string];
      if (offset >= 0) out.push({ topic, partition: Number(partition), offset });
    }
    return out.sort((a, b) =>
      a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition
    );
  }

  /**
   * The log start (`earliest`) or end (`latest`: the high watermark) of each partition, by
   * ListOffsets to its leader.
   */
  async listOffsets(
    partitions: readonly TopicPartition[],
    which: "earliest" | "latest",
  ): Promise<TopicPartitionOffset[]> {
    const out: TopicPartitionOffset[] = [];
    for (const tp of partitions) {
      const conn = await this.#cluster.leaderConnection(tp.topic, tp.partition);
      const req = createListOffsetsRequest();
      req.replicaId = -1;
      req.topics = [{
        name: tp.topic,
        partitions: [{
          partitionIndex: tp.partition,
          currentLeaderEpoch: -1,
          timestamp: which === "earliest" ? -2n : -1n,
          maxNumOffsets: 1,
        }],
      }];
      const res = await conn.request(LIST_OFFSETS, req);
      const p = res?.topics[0]?.partitions[0];
      if (p === undefined) throw brokerError(ErrorCode.UNKNOWN_SERVER_ERROR, { ...tp });
      if (p.errorCode !== ErrorCode.NONE) throw brokerError(p.errorCode, { ...tp });
      out.push({ ...tp, offset: Number(p.offset) });
    }
    return out;
  }

  /**
   * Plans, and with `execute` commits, new offsets for every partition of `topic` in an
   * inactive (Empty) group. Rejects with a `BrokerError` `NON_EMPTY_GROUP` while the group has
   * members, since they would overwrite the reset with their next commit.
   */
  async resetOffsets(groupId: string, options: ResetOffsetsOptions): Promise<ResetOffsetPlan[]> {
    const to = options.to;
    if (typeof to === "number" && (!Number.isSafeInteger(to) || to < 0)) {
      throw new RangeError(
        `Cannot reset offsets as the offset must be >= 0: current value is ${to}`,
      );
    }
    const group = await this.describeGroup(groupId);
    if (!_INACTIVE_STATES.has(group.state)) {
      throw brokerError(ErrorCode.NON_EMPTY_GROUP, {
        brokerMessage:
          `Cannot reset offsets of group ${groupId} as it is not inactive: current state is ${group.state}`,
      });
    }
    const info = await this.#cluster.topic(options.topic);
    const tps = info.partitions.map((p) => ({ topic: options.topic, partition: p.partition }));
    const earliest = await this.listOffsets(tps, "earliest");
    const latest = await this.listOffsets(tps, "latest");
    const previous = new Map(
      (await this.fetchOffsets(groupId, [options.topic])).map((o) => [o.partition, o.offset]),
    );
    const plan = tps.map((tp, i): ResetOffsetPlan => {
      const lo = earliest[i]!.offset;
      const hi = latest[i]!.offset;
      const offset = to === "earliest" ? lo : to === "latest" ? hi : Math.min(hi, Math.max(lo, to));
      return { ...tp, offset, previous: previous.get(tp.partition) ?? -1 };
    });
    if (options.execute === true) {
      await this.#withGroup(groupId, (m) => m.commit(plan.map(({ previous: _, ...o }) => o)));
    }
    return plan;
  }

  /** Runs `op` with a short-lived group-less membership (its own coordinator connection). */
  async #withGroup<T>(groupId: string, op: (m: GroupMembership) => Promise<T>): Promise<T> {
    const m = new GroupMembership(this.#cluster, {
      groupId,
      groupInstanceId: null,
      sessionTimeoutMs: 0,
      rebalanceTimeoutMs: 0,
      assignors: [],
    });
    try {
      const deadlineMs = this.#cluster.clock.nowMs() + this.#cluster.settings.requestTimeoutMs;
      return await this.#cluster.retry(() => op(m), {
        deadlineMs,
        onRetry: () => m.coordinatorLost(),
      });
    } finally {
      m.close();
    }
  }
}

function _orNull<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch {
    // Another protocol's bytes under the "consumer" type: show nothing rather than fail.
    return null;
  }
}
