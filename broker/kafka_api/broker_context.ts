/**
 * What every Kafka API handler may use: the broker's metadata, its partitions, the fetch
 * waiter, its own identity and limits, a clock and a logger. Handlers receive it instead of
 * reaching for globals, so tests build one from parts.
 *
 * @module
 */

import type { ClusterMetadata } from "../../model/cluster_metadata.ts";
import type { PartitionManager } from "../partition_manager.ts";
import type { FetchWaiter } from "../fetch/fetch_waiter.ts";
import type { Logger } from "../../ops/logger.ts";
import type { ConnectionContext } from "../net/frame_handler.ts";
import type { RequestHeader } from "../../protocol/kafka/header.ts";
import type { GroupService } from "../group/group_service.ts";

/** Broker-wide services handlers use. */
export interface BrokerContext {
  readonly nodeId: number;
  readonly metadata: ClusterMetadata;
  readonly partitions: PartitionManager;
  readonly waiter: FetchWaiter;
  readonly logger: Logger;
  readonly nowMs: () => number;
  /** Auto-create unknown topics (`broker.auto_create_topics`). */
  readonly autoCreateTopics: boolean;
  /** Partitions of an auto-created topic (`broker.num_partitions`). */
  readonly defaultPartitions: number;
  /** Replication factor of an auto-created topic. */
  readonly defaultReplicationFactor: number;
  /**
   * min.insync.replicas of topics created here without their own
   * (`replication.min_in_sync_replicas`). @default the topic default (1)
   */
  readonly defaultMinInsyncReplicas?: number;
  /** Fetch waits at most this long, whatever the client asks (`max_wait_ms` cap). */
  readonly fetchWaitMaxMs: number;
  /** Wakes fetch waits on shutdown, so connections can close promptly. */
  readonly stopping: () => boolean;
  /** The consumer-group coordinator; group APIs answer COORDINATOR_NOT_AVAILABLE without it. */
  readonly groups?: GroupService;
}

/** One request's context: the broker's services plus its header and connection. */
export interface RequestContext {
  readonly broker: BrokerContext;
  readonly header: RequestHeader;
  readonly connection: ConnectionContext;
}

/**
 * Topic configs a topic created through this broker takes unless it sets its own: the broker's
 * `replication.min_in_sync_replicas`, as Kafka's broker-level min.insync.replicas.
 */
export function brokerTopicDefaults(broker: BrokerContext): Record<string, string> {
  const minIsr = broker.defaultMinInsyncReplicas;
  return minIsr === undefined ? {} : { "min.insync.replicas": String(minIsr) };
}
