/**
 * A running broker: it opens the WAL and rebuilds partitions from it, then serves the Kafka
 * protocol over TCP (and TLS) and QUIC, and `/health`, `/ready` and `/metrics` over HTTP. This
 * file only wires parts together; each part lives in its own module.
 *
 * @module
 */

import { resolve } from "node:path";
import { type DirectoryLock, lockDirectory } from "../ops/dir_lock.ts";
import type { Hono } from "hono";
import type { BrokerConfig } from "../config/schema.ts";
import { parseHostPort } from "../config/rules.ts";
import type { Logger, LogLevel } from "../ops/logger.ts";
import { mountBrokerConfigApi, startDynamicConfig } from "./broker_dynamic_config.ts";
import { SeedMetrics } from "./seed_metrics.ts";
import type { DynamicBrokerConfig } from "../config/dynamic_config.ts";
import type { OpsServer } from "../ops/ops_server.ts";
import type { Wal, WalStats } from "./wal/wal.ts";
import type { FetchWaiter } from "./fetch/fetch_waiter.ts";
import type { EtlRuntime } from "./produce/etl_produce_stage.ts";
import type { BrokerInfo, ClusterMetadata } from "../model/cluster_metadata.ts";
import { fileMetadataPersistence, LocalMetadata } from "./metadata/local_metadata.ts";
import type { PartitionManager } from "./partition_manager.ts";
import type { TcpListener } from "./net/tcp_listener.ts";
import type { QuicListener } from "./net/quic_listener.ts";
import type { NetCounters } from "./net/frame_handler.ts";
import { startBrokerSecurity } from "./security/broker_security.ts";
import type { WalDiskWatch } from "./wal_disk_watch.ts";
import { failpointPause } from "../ops/failpoints.ts";
import { type LabelledNetCounters, RequestMetrics } from "./broker_metrics.ts";
import type { ReplicaFetcherManager } from "./replication/replica_fetcher_manager.ts";
import type { GroupService, GroupServiceOptions } from "./group/group_service.ts";
import type { TxnService, TxnServiceOptions } from "./txn/txn_service.ts";
import type { ObjectStore } from "./object_store/object_store.ts";
import type { ObjectManifest } from "../model/object_manifest.ts";
import { LocalObjectManifest } from "./tiering/local_object_manifest.ts";
import type { TierService } from "./tiering/tier_service.ts";
import { partitionsHealth } from "./partition_health.ts";
import type { LiveTopicDefaults } from "./broker_dynamic_config.ts";
import type { BrokerSecurity } from "./security/broker_security.ts";
import type { SecurityMetadataSource } from "./security/cluster_security_directory.ts";
import { type BrokerStorage, openStorage } from "./wiring/storage_wiring.ts";
import { createTiering, startTierService, type TieringParts } from "./wiring/tiering_wiring.ts";
import { type BrokerPartitions, startPartitions } from "./wiring/replication_wiring.ts";
import { type BrokerCoordinators, startCoordinators } from "./wiring/coordinator_wiring.ts";
import {
  advertisedHost,
  brokerContext,
  type BrokerListeners,
  type BrokerTls,
  openApi,
  startListeners,
} from "./wiring/api_wiring.ts";
import { ledPartitions, startOps } from "./wiring/metrics_wiring.ts";

/** Options of {@linkcode Broker.start}. */
export interface BrokerStartOptions {
  /** Directory for broker-local state (metadata of standalone, stream registry). */
  readonly dataDir: string;
  readonly logger: Logger;
  /**
   * Connects the broker to its cluster's metadata once its listeners are bound (so it can
   * register the real ports). @default a {@linkcode LocalMetadata} and a local manifest file
   */
  readonly cluster?: (self: BrokerSelf) => Promise<ClusterBinding>;
  /** Certificate and key for QUIC (required for QUIC) and for TLS on the TCP listener. */
  readonly quicTls?: BrokerTls;
  /** Whether to serve the operations HTTP endpoint. @default true */
  readonly serveHttp?: boolean;
  /** Object store to use instead of the one `[object_storage]` describes (tests inject faults). */
  readonly objectStore?: ObjectStore;
  /** Group coordinator tunables (rebalance delay, session bounds, offsets retention). */
  readonly groups?: GroupServiceOptions;
  /** Transaction coordinator tunables (timeout bounds, abort check interval). */
  readonly transactions?: TxnServiceOptions;
  /** Whether to listen for followers on `network.rpc_listen`. @default true */
  readonly replicationListener?: boolean;
  /**
   * The running loggers' shared level, so that `broker.log_level` can change at runtime.
   * @default none: the level stays as the logger was made
   */
  readonly logLevel?: { level: LogLevel };
}

/** The broker's identity and bound endpoints, for registering with a controller. */
export interface BrokerSelf extends BrokerInfo {
  /** Where followers fetch from this broker (`network.rpc_listen`), when it listens. */
  readonly replication: { host: string; port: number } | null;
}

/** Metadata and manifest a broker works against, plus what else the binding serves. */
export interface ClusterBinding {
  readonly metadata: ClusterMetadata;
  readonly manifest: ObjectManifest;
  /** Extra HTTP routes on the operations port (standalone's admin REST API). */
  readonly mountRoutes?: (app: Hono) => void;
  /** Users and ACLs from the controllers' metadata (a cluster); absent: the local file. */
  readonly security?: SecurityMetadataSource;
  close(): Promise<void>;
}

/** The default binding: local metadata and manifest files in `dataDir`. */
export async function localClusterBinding(
  self: BrokerSelf,
  dataDir: string,
): Promise<ClusterBinding> {
  const metadata = await LocalMetadata.open(
    self,
    fileMetadataPersistence(`${dataDir}/metadata.json`),
  );
  const manifest = await LocalObjectManifest.open(
    fileMetadataPersistence(`${dataDir}/manifest.json`),
  );
  return { metadata, manifest, close: () => Promise.resolve() };
}

/** A broker node id from its configured id: the trailing digits of `broker-007` are 7. */
export function nodeIdOf(brokerId: string): number {
  const m = /(\d+)$/.exec(brokerId);
  const n = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(n) && n >= 0 && n <= 2147483647 ? n : 1;
}

/** Addresses the broker bound, with the real ports (useful when configured with port 0). */
export interface BrokerAddrs {
  readonly kafka: Deno.NetAddr;
  readonly quic: Deno.NetAddr | null;
  readonly replication: Deno.NetAddr | null;
  readonly http: { hostname: string; port: number } | null;
}

/** A started broker. */
export class Broker implements AsyncDisposable {
  readonly addrs: BrokerAddrs;
  readonly partitions: PartitionManager;
  readonly metadata: ClusterMetadata;
  /** The consumer-group coordinator. */
  readonly groups: GroupService;
  /** The transaction coordinator; null when `broker.transactions_enabled` is false. */
  readonly txns: TxnService | null;
  readonly #wal: Wal;
  readonly #tcp: TcpListener;
  readonly #quic: QuicListener | null;
  readonly #ops: OpsServer | null;
  readonly #waiter: FetchWaiter;
  readonly #ctx: { stopping: boolean };
  readonly #logger: Logger;
  readonly #tier: TierService;
  readonly #replication: TcpListener | null;
  readonly #binding: ClusterBinding;
  readonly #locks: DirectoryLock[];
  readonly #diskWatch: WalDiskWatch;
  readonly #fetchers: ReplicaFetcherManager;
  readonly #etl: EtlRuntime;
  /** The layered configuration: file, and overrides changed at runtime. */
  readonly dynamicConfig: DynamicBrokerConfig;

  private constructor(parts: {
    dynamicConfig: DynamicBrokerConfig;
    replication: TcpListener | null;
    binding: ClusterBinding;
    fetchers: ReplicaFetcherManager;
    tier: TierService;
    groups: GroupService;
    txns: TxnService | null;
    addrs: BrokerAddrs;
    partitions: PartitionManager;
    metadata: ClusterMetadata;
    wal: Wal;
    tcp: TcpListener;
    quic: QuicListener | null;
    ops: OpsServer | null;
    waiter: FetchWaiter;
    ctx: { stopping: boolean };
    logger: Logger;
    locks: DirectoryLock[];
    diskWatch: WalDiskWatch;
    etl: EtlRuntime;
  }) {
    this.#etl = parts.etl;
    this.#locks = parts.locks;
    this.dynamicConfig = parts.dynamicConfig;
    this.#diskWatch = parts.diskWatch;
    this.addrs = parts.addrs;
    this.partitions = parts.partitions;
    this.metadata = parts.metadata;
    this.groups = parts.groups;
    this.txns = parts.txns;
    this.#wal = parts.wal;
    this.#tcp = parts.tcp;
    this.#quic = parts.quic;
    this.#replication = parts.replication;
    this.#binding = parts.binding;
    this.#fetchers = parts.fetchers;
    this.#ops = parts.ops;
    this.#waiter = parts.waiter;
    this.#ctx = parts.ctx;
    this.#logger = parts.logger;
    this.#tier = parts.tier;
  }

  /** The WAL's counters. */
  get walStats(): Readonly<WalStats> {
    return this.#wal.stats;
  }

  /** Each client listener's counters (the same figures `/metrics` exports). */
  get network(): { tcp: Readonly<NetCounters>; quic: Readonly<NetCounters> | null } {
    return { tcp: this.#tcp.counters, quic: this.#quic?.counters ?? null };
  }

  /** Object-storage tiering: uploader, maintenance, reader. */
  get tier(): TierService {
    return this.#tier;
  }

  /**
   * Opens storage, recovers, and starts serving. The data and WAL directories are locked
   * first: a second process on them fails with `DirectoryLockedError`.
   */
  static async start(cfg: BrokerConfig, options: BrokerStartOptions): Promise<Broker> {
    const locks: DirectoryLock[] = [];
    try {
      locks.push(await lockDirectory(options.dataDir, "broker data"));
      if (_resolvePath(cfg.wal.path) !== _resolvePath(options.dataDir)) {
        locks.push(await lockDirectory(cfg.wal.path, "WAL"));
      }
      return await Broker.#startLocked(cfg, options, locks);
    } catch (error) {
      for (const lock of locks) lock.release();
      throw error;
    }
  }

  static async #startLocked(
    cfg: BrokerConfig,
    options: BrokerStartOptions,
    locks: DirectoryLock[],
  ): Promise<Broker> {
    const log = options.logger;
    const core = await _startCore(cfg, options);
    const ctx = { stopping: false };
    const ops = await _serve(cfg, options, core, ctx);
    const { storage, listeners: { tcp, quic, replication } } = core;
    const addrs: BrokerAddrs = {
      kafka: tcp.addr,
      quic: quic?.addr ?? null,
      replication: replication?.addr ?? null,
      http: ops ? { hostname: parseHostPort(cfg.network.http_listen)!.host, port: ops.port } : null,
    };
    log.info("broker started", {
      nodeId: core.nodeId,
      kafka: `${addrs.kafka.hostname}:${addrs.kafka.port}`,
      quic: addrs.quic ? `${addrs.quic.hostname}:${addrs.quic.port}` : null,
      wal: storage.wal.backendName,
      recoveredEntries: storage.recovered.length,
      partitions: partitionsHealth(core.partitions).count,
    });
    return new Broker({
      dynamicConfig: core.dynamic,
      addrs,
      partitions: core.partitions,
      metadata: core.binding.metadata,
      wal: storage.wal,
      tcp,
      quic,
      ops,
      waiter: storage.waiter,
      ctx,
      logger: log,
      tier: core.tier,
      groups: core.groups,
      txns: core.txns,
      replication,
      binding: core.binding,
      fetchers: core.fetchers,
      locks,
      diskWatch: storage.diskWatch,
      etl: core.etl,
    });
  }

  /** Stops serving and closes storage; in-flight requests get a short grace period. */
  async close(): Promise<void> {
    this.#ctx.stopping = true;
    this.#waiter.wakeAll();
    // Parked JoinGroup/SyncGroup requests are answered first, so connections can close promptly.
    this.groups.close();
    this.txns?.close();
    await Promise.allSettled([
      this.#tcp.close(),
      this.#quic?.close(),
      this.#replication?.close(),
      this.#ops?.close(),
    ]);
    this.#etl.close();
    await this.#fetchers.stop();
    await this.#tier.stop();
    this.#diskWatch[Symbol.dispose]();
    await this.#wal.close();
    await this.#binding.close();
    for (const lock of this.#locks) lock.release();
    this.#logger.info("broker stopped");
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Everything a broker runs, started and recovered, before requests are served. */
interface _Core extends BrokerPartitions, BrokerCoordinators {
  readonly nodeId: number;
  readonly storage: BrokerStorage;
  readonly security: BrokerSecurity;
  readonly listeners: BrokerListeners;
  readonly binding: ClusterBinding;
  readonly tiering: TieringParts;
  readonly dynamic: DynamicBrokerConfig;
  readonly topicDefaults: LiveTopicDefaults;
  readonly tier: TierService;
}

/**
 * Opens storage, binds the listeners (the advertised port is only known once bound, so they
 * start first: the gate answers ApiVersions at once and holds other requests until serving),
 * joins the cluster, and recovers partitions, tiering and the coordinators.
 */
async function _startCore(cfg: BrokerConfig, options: BrokerStartOptions): Promise<_Core> {
  const log = options.logger;
  const nodeId = nodeIdOf(cfg.broker.id);
  const storage = await openStorage(cfg, options.dataDir, log);
  const security = await startBrokerSecurity(cfg, options.dataDir);
  let partitionsRef: PartitionManager | null = null;
  const listeners = await startListeners(cfg, {
    security,
    epochs: (topic, partition) => _epochsOf(partitionsRef, topic, partition),
    quicTls: options.quicTls,
    replicationListener: options.replicationListener !== false,
    log,
  });
  const binding = await (options.cluster ?? ((s) => localClusterBinding(s, options.dataDir)))(
    _self(cfg, nodeId, listeners),
  );
  const { metadata } = binding;
  await security.bindCluster(binding.security);
  const tiering = createTiering(cfg, binding.manifest, options.objectStore, log);
  const { dynamic, topicDefaults } = await startDynamicConfig(
    cfg,
    { blockCache: tiering.blockCache, ...(options.logLevel ? { logLevel: options.logLevel } : {}) },
    options.dataDir,
    log.child("config"),
  );
  const parts = await startPartitions(cfg, {
    nodeId,
    dataDir: options.dataDir,
    storage,
    metadata,
    tiering,
    clusterSecret: security.clusterSecret,
    internalTls: security.internalTls,
    log,
  });
  const partitions = partitionsRef = parts.partitions;
  const tier = startTierService(cfg, tiering, { storage, partitions, log });
  metadata.onChange(() => void partitions.syncWithMetadata());
  const coordinators = await startCoordinators(cfg, {
    nodeId,
    metadata,
    partitions,
    waiter: storage.waiter,
    clusterSecret: security.clusterSecret,
    log,
  }, {
    ...(options.groups ? { groups: options.groups } : {}),
    ...(options.transactions ? { transactions: options.transactions } : {}),
  });
  return {
    ...parts,
    ...coordinators,
    nodeId,
    storage,
    security,
    listeners,
    binding,
    tiering,
    dynamic,
    topicDefaults,
    tier,
  };
}

/** Opens the request router over the broker context, then the operations endpoint. */
async function _serve(
  cfg: BrokerConfig,
  options: BrokerStartOptions,
  c: _Core,
  ctx: { stopping: boolean },
): Promise<OpsServer | null> {
  const seedMetrics = new SeedMetrics();
  const requestMetrics = new RequestMetrics();
  const brokerCtx = brokerContext(
    {
      nodeId: c.nodeId,
      metadata: c.binding.metadata,
      partitions: c.partitions,
      waiter: c.storage.waiter,
      logger: options.logger.child("api"),
      nowMs: () => Date.now(),
      recordsProduced: (n) => seedMetrics.recordsProduced(n),
      recordsConsumed: (n) => seedMetrics.recordsConsumed(n),
      fetchWaitMaxMs: 30_000,
      stopping: () => ctx.stopping,
      groups: c.groups,
      ...(c.txns === null ? {} : { txns: c.txns }),
    },
    c.topicDefaults,
    c.dynamic,
  );
  await failpointPause("broker-before-serving");
  openApi(c.listeners, brokerCtx, {
    security: c.security,
    observe: (api, seconds, failed) => {
      requestMetrics.observe(api, seconds, failed);
      seedMetrics.observe(api, seconds);
    },
  });
  if (options.serveHttp === false) return null;
  const health = partitionsHealth(c.partitions);
  return startOps(cfg, {
    ...c.storage,
    uploader: c.tier.uploader,
    partitions: health,
    offsets: c.groups.offsets,
    requests: requestMetrics,
    etl: c.etl.metrics,
    listeners: _labelledListeners(c.listeners),
    seed: (registry) =>
      seedMetrics.register(registry, {
        walUsedBytes: () => c.storage.wal.stats.usedBytes,
        cacheStats: () => c.tiering.blockCache.stats,
        uploadedBytes: () => c.tier.uploader.stats.uploadedBytes,
        ledPartitions: () => ledPartitions(health),
        nowMs: () => performance.now(),
      }),
    mount: (app) => mountBrokerConfigApi(app, c.nodeId, c.dynamic),
    ...(c.binding.mountRoutes ? { mountBinding: c.binding.mountRoutes } : {}),
  }, options.logger);
}

/** What OffsetForLeaderEpoch answers from: a partition this broker leads, once recovered. */
function _epochsOf(partitions: PartitionManager | null, topic: string, partition: number) {
  const p = partitions?.get(topic, partition);
  if (p === undefined || p.role !== "leader") return undefined;
  return {
    leaderEpochCache: p.epochs,
    logEndOffset: p.log.logEndOffset,
    currentLeaderEpoch: p.leaderEpoch,
  };
}

/** The broker's identity with the ports its listeners bound. */
function _self(cfg: BrokerConfig, nodeId: number, listeners: BrokerListeners): BrokerSelf {
  const host = advertisedHost(cfg);
  return {
    nodeId,
    host,
    port: listeners.tcp.addr.port,
    rack: cfg.broker.rack_id || null,
    replication: listeners.replication ? { host, port: listeners.replication.addr.port } : null,
  };
}

function _labelledListeners(l: BrokerListeners): LabelledNetCounters[] {
  return [
    { transport: "tcp", counters: l.tcp.counters },
    ...(l.quic ? [{ transport: "quic", counters: l.quic.counters }] : []),
    ...(l.replication ? [{ transport: "replication", counters: l.replication.counters }] : []),
  ];
}

function _resolvePath(path: string): string {
  return resolve(path).replace(/\/+$/, "");
}
