/**
 * Broker wiring, partitions and replication: the ETL stage of the produce pipeline, the
 * partition manager over storage and tiering, the replica fetchers a follower pulls with, and
 * recovery of every hosted partition from the WAL.
 *
 * @module
 */

import type { BrokerConfig } from "../../config/schema.ts";
import type { Logger } from "../../ops/logger.ts";
import { systemClock } from "../../ops/clock.ts";
import { mkdirDurable, systemDisk } from "../../ops/disk.ts";
import type { ClusterSecret } from "../../ops/cluster_secret.ts";
import type { InternalTls } from "../../ops/internal_tls.ts";
import type { ClusterMetadata } from "../../model/cluster_metadata.ts";
import { type EtlRuntime, startEtlStage } from "../produce/etl_produce_stage.ts";
import { PartitionManager } from "../partition_manager.ts";
import { ReplicaFetcherManager } from "../replication/replica_fetcher_manager.ts";
import { ReplicaFetcher } from "../replication/replica_fetcher.ts";
import { connectReplica } from "../security/replication_auth.ts";
import type { BrokerStorage } from "./storage_wiring.ts";
import { objectStoreReason, partitionTiering, type TieringParts } from "./tiering_wiring.ts";

/** What {@linkcode startPartitions} builds. */
export interface BrokerPartitions {
  readonly partitions: PartitionManager;
  readonly fetchers: ReplicaFetcherManager;
  readonly etl: EtlRuntime;
}

/** What the partitions run on. */
export interface PartitionDeps {
  readonly nodeId: number;
  readonly dataDir: string;
  readonly storage: BrokerStorage;
  readonly metadata: ClusterMetadata;
  readonly tiering: TieringParts;
  readonly clusterSecret: ClusterSecret | null;
  /** Followers dial leaders with mutual TLS when set (`security.internal_tls_*`). */
  readonly internalTls: InternalTls | null;
  readonly log: Logger;
}

/** Builds the partitions and their fetchers, then recovers the partitions from the WAL. */
export async function startPartitions(
  cfg: BrokerConfig,
  d: PartitionDeps,
): Promise<BrokerPartitions> {
  let partitionsRef: PartitionManager | null = null;
  const etl = startEtlStage(cfg.etl, {
    metadata: d.metadata,
    logger: d.log.child("etl"),
    produce: (t, p, b) => partitionsRef!.produce(t, p, b, -1),
  });
  const { wal, cache, streams, waiter, walCapacity } = d.storage;
  const partitions = new PartitionManager({
    transform: (topic, p, config, batch) => etl.stage.transform(topic, p, config, batch),
    wal,
    cache,
    streams,
    metadata: d.metadata,
    waiter,
    logger: d.log.child("partitions"),
    nowMs: () => Date.now(),
    walHighWaterBytes: walCapacity - cfg.wal.segment_size_bytes,
    walFullReason: () => objectStoreReason(cfg, d.tiering.uploader, "uploads to "),
    tiering: partitionTiering(d.tiering),
    replication: {
      nodeId: d.nodeId,
      maxLagMessages: cfg.replication.max_replication_lag,
      maxLagTimeMs: cfg.replication.heartbeat_timeout_ms,
      ackTimeoutMs: cfg.replication.ack_timeout_ms,
      clock: systemClock,
      epochDir: `${d.dataDir}/epochs`,
    },
  });
  partitionsRef = partitions;
  // Synced into its parent: a power cut must not drop the directory with every checkpoint.
  await mkdirDurable(systemDisk, `${d.dataDir}/epochs`);
  const fetchers = new ReplicaFetcherManager((leaderId, url) =>
    new ReplicaFetcher({
      nodeId: d.nodeId,
      leaderId,
      url,
      connect: (u) => connectReplica(u, d.nodeId, d.clusterSecret, 5000, d.internalTls),
      sink: partitions.followerSink(),
      clock: systemClock,
      logger: d.log.child("fetcher"),
    })
  );
  partitions.attachFetchers(fetchers);
  await partitions.recover(d.storage.recovered);
  return { partitions, fetchers, etl };
}
