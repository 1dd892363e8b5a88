/**
 * Broker wiring, coordinators: the consumer-group coordinator and, when enabled, the
 * transaction coordinator, each reloading its partition when this broker takes over its lead.
 *
 * @module
 */

import type { BrokerConfig } from "../../config/schema.ts";
import type { Logger } from "../../ops/logger.ts";
import type { ClusterMetadata } from "../../model/cluster_metadata.ts";
import type { FetchWaiter } from "../fetch/fetch_waiter.ts";
import type { PartitionManager } from "../partition_manager.ts";
import { GroupService, type GroupServiceOptions, OFFSETS_TOPIC } from "../group/group_service.ts";
import { TXN_STATE_TOPIC, TxnService, type TxnServiceOptions } from "../txn/txn_service.ts";
import { connectReplica } from "../security/replication_auth.ts";
import type { ClusterSecret } from "../../ops/cluster_secret.ts";

/** The broker's coordinators. */
export interface BrokerCoordinators {
  readonly groups: GroupService;
  /** Null when `broker.transactions_enabled` is false. */
  readonly txns: TxnService | null;
}

/** Starts the coordinators over recovered partitions. */
export async function startCoordinators(
  cfg: BrokerConfig,
  d: {
    nodeId: number;
    metadata: ClusterMetadata;
    partitions: PartitionManager;
    waiter: FetchWaiter;
    clusterSecret: ClusterSecret | null;
    log: Logger;
  },
  tunables: { groups?: GroupServiceOptions; transactions?: TxnServiceOptions },
): Promise<BrokerCoordinators> {
  const { nodeId, metadata, partitions } = d;
  const replicationFactor = cfg.replication.default_replication_factor;
  // Committed offsets are rebuilt from the recovered partitions before any request is served.
  const groups = await GroupService.start({
    nodeId,
    metadata,
    partitions,
    logger: d.log.child("groups"),
    replicationFactor,
  }, tunables.groups);
  // A coordinator that takes over an offsets partition (failover) loads its committed offsets.
  partitions.onLeadership((p) => {
    if (p.topic === OFFSETS_TOPIC) void groups.reloadPartition(p.partition);
  });
  // Transactions are rebuilt after the offsets, as a commit being finished applies offsets.
  const txns = cfg.broker.transactions_enabled
    ? await TxnService.start({
      nodeId,
      metadata,
      partitions,
      groups,
      waiter: d.waiter,
      // WriteTxnMarkers goes to other leaders the way followers reach them, authenticated alike.
      connect: (u) => connectReplica(u, nodeId, d.clusterSecret),
      logger: d.log.child("txns"),
      replicationFactor,
    }, {
      timeoutMaxMs: cfg.broker.transaction_max_timeout_ms,
      transactionalIdExpirationMs: cfg.broker.transactional_id_expiration_ms,
      abortCheckIntervalMs: cfg.broker.transaction_abort_check_interval_ms,
      ...tunables.transactions,
    })
    : null;
  partitions.onLeadership((p) => {
    if (p.topic === TXN_STATE_TOPIC) void txns?.reloadPartition(p.partition);
  });
  return { groups, txns };
}
