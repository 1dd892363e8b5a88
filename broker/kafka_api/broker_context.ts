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
import type { TxnService } from "../txn/txn_service.ts";
import type { DynamicBrokerConfig } from "../../config/dynamic_config.ts";

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
  /** retention.ms of topics created here without their own (`broker.log_retention_ms`). */
  readonly defaultRetentionMs?: number;
  /** max.message.bytes of topics created here without their own (`broker.message_max_bytes`). */
  readonly defaultMessageMaxBytes?: number;
  /** message.downconversion.enable of topics created here without their own. */
  readonly defaultMessageDownconversionEnable?: boolean;
  /** The broker's layered config, for DescribeConfigs and alters of BROKER resources. */
  readonly dynamicConfig?: DynamicBrokerConfig;
  /** Counts records appended by produce requests (`messages_produced_total`). */
  readonly recordsProduced?: (n: number) => void;
  /** Counts records returned to consumer fetches (`messages_consumed_total`). */
  readonly recordsConsumed?: (n: number) => void;
  /** Fetch waits at most this long, whatever the client asks (`max_wait_ms` cap). */
  readonly fetchWaitMaxMs: number;
  /** Wakes fetch waits on shutdown, so connections can close promptly. */
  readonly stopping: () => boolean;
  /** The consumer-group coordinator; group APIs answer COORDINATOR_NOT_AVAILABLE without it. */
  readonly groups?: GroupService;
  /** The transaction coordinator; absent when transactions are off. */
  readonly txns?: TxnService;
}

/** One request's context: the broker's services plus its header and connection. */
export interface RequestContext {
  readonly broker: BrokerContext;
  readonly header: RequestHeader;
  readonly connection: ConnectionContext;
}

/**
 * Topic configs a topic created through this broker takes unless it sets its own: the broker's
 * `replication.min_in_sync_replicas`, `broker.log_retention_ms`, `broker.message_max_bytes` and
 * `broker.message_downconversion_enable`, as Kafka's broker-level min.insync.replicas,
 * log.retention.ms, message.max.bytes and log.message.downconversion.enable.
 */
export function brokerTopicDefaults(broker: BrokerContext): Record<string, string> {
  const out: Record<string, string> = {};
  const set = (name: string, v: number | undefined) => {
    if (v !== undefined) out[name] = String(v);
  };
  set("min.insync.replicas", broker.defaultMinInsyncReplicas);
  set("retention.ms", broker.defaultRetentionMs);
  set("max.message.bytes", broker.defaultMessageMaxBytes);
  const down = broker.defaultMessageDownconversionEnable;
  if (down !== undefined) out["message.downconversion.enable"] = String(down);
  return out;
}
