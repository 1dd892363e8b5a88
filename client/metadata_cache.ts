/**
 * What the client knows about the cluster: brokers, the controller, and each topic's partitions
 * and leaders, learned from Metadata responses. Pure bookkeeping (no I/O); the time of each
 * update is passed in so staleness is testable.
 *
 * @module
 */

import { ErrorCode } from "../protocol/kafka/errors.ts";
import type { MetadataResponse } from "../protocol/kafka/messages/mod.ts";

/** A broker as Metadata describes it. */
export interface BrokerNode {
  /** Node id. */
  nodeId: number;
  /** Advertised host. */
  host: string;
  /** Advertised Kafka port. */
  port: number;
  /** Rack, or null. */
  rack: string | null;
}

/** One partition of a topic. */
export interface PartitionInfo {
  /** Partition index. */
  partition: number;
  /** Leader node id, or -1 when there is none. */
  leaderId: number;
  /** Leader epoch. */
  leaderEpoch: number;
  /** Replica node ids. */
  replicas: number[];
  /** In-sync replica node ids. */
  isr: number[];
  /** Kafka error code of the partition (0 when healthy). */
  errorCode: number;
}

/** One topic. */
export interface TopicInfo {
  /** Topic name. */
  name: string;
  /** Topic id (base64 UUID). */
  topicId: string;
  /** Partitions, indexed by partition number. */
  partitions: PartitionInfo[];
  /** When this entry was learned, in clock milliseconds. */
  updatedAtMs: number;
}

/**
 * Cached cluster metadata.
 *
 * @example
 * ```ts
 * import { MetadataCache } from "./metadata_cache.ts";
 * import { createMetadataResponse } from "../protocol/kafka/messages/mod.ts";
 * const cache = new MetadataCache();
 * const res = createMetadataResponse();
 * res.brokers = [{ nodeId: 1, host: "h", port: 9092, rack: null }];
 * cache.update(res, 0);
 * if (cache.broker(1)?.host !== "h") throw new Error();
 * ```
 */
export class MetadataCache {
  readonly #brokers = new Map<number, BrokerNode>();
  readonly #topics = new Map<string, TopicInfo>();
  #controllerId = -1;

  /** The controller's node id, or -1 when unknown. */
  get controllerId(): number {
    return this.#controllerId;
  }

  /**
   * Merges a response: brokers are replaced, healthy topics are stored, topics that came back
   * with an error are dropped; with `complete` (an all-topics answer) topics it does not name
   * are dropped too. Returns the topic error codes, by name.
   */
  update(res: MetadataResponse, nowMs: number, complete = false): Map<string, number> {
    if (complete) this.#topics.clear();
    if (res.brokers.length > 0) {
      this.#brokers.clear();
      for (const b of res.brokers) this.#brokers.set(b.nodeId, { ...b });
    }
    this.#controllerId = res.controllerId;
    const errors = new Map<string, number>();
    for (const t of res.topics) {
      if (t.name === null) continue;
      errors.set(t.name, t.errorCode);
      if (t.errorCode !== ErrorCode.NONE) {
        this.#topics.delete(t.name);
        continue;
      }
      const partitions: PartitionInfo[] = [];
      for (const p of t.partitions) {
        partitions[p.partitionIndex] = {
          partition: p.partitionIndex,
          leaderId: p.leaderId,
          leaderEpoch: p.leaderEpoch,
          replicas: [...p.replicaNodes],
          isr: [...p.isrNodes],
          errorCode: p.errorCode,
        };
      }
      this.#topics.set(t.name, {
        name: t.name,
        topicId: t.topicId,
        partitions,
        updatedAtMs: nowMs,
      });
    }
    return errors;
  }

  /** The cached topic, or undefined. */
  topic(name: string): TopicInfo | undefined {
    return this.#topics.get(name);
  }

  /** Names of the cached topics. */
  topicNames(): string[] {
    return [...this.#topics.keys()];
  }

  /** Forgets a topic so the next lookup asks the cluster again. */
  invalidate(name: string): void {
    this.#topics.delete(name);
  }

  /** A broker by node id. */
  broker(nodeId: number): BrokerNode | undefined {
    return this.#brokers.get(nodeId);
  }

  /** Every known broker. */
  brokers(): BrokerNode[] {
    return [...this.#brokers.values()];
  }
}
