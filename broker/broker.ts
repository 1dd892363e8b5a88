/**
 * A running broker: it opens the WAL and rebuilds partitions from it, then serves the Kafka
 * protocol over TCP (and TLS) and QUIC, and `/health`, `/ready` and `/metrics` over HTTP. This
 * file only wires parts together; each part lives in its own module.
 *
 * @module
 */

import { systemRandom } from "../ops/random.ts";
import { systemClock } from "../ops/clock.ts";
import { resolve } from "node:path";
import { type DirectoryLock, lockDirectory } from "../ops/dir_lock.ts";
import { Counter, Gauge, type Registry } from "prom-client";
import type { Hono } from "hono";
import type { BrokerConfig } from "../config/schema.ts";
import { parseHostPort } from "../config/rules.ts";
import type { Logger, LogLevel } from "../ops/logger.ts";
import { mountBrokerConfigApi, startDynamicConfig } from "./broker_dynamic_config.ts";
import { SeedMetrics } from "./seed_metrics.ts";
import type { DynamicBrokerConfig } from "../config/dynamic_config.ts";
import { createOpsApp, type OpsServer, serveOps } from "../ops/ops_server.ts";
import { VERSION } from "../config/version.ts";
import { Wal, type WalStats } from "./wal/wal.ts";
import { LogCache } from "./log/log_cache.ts";
import { FetchWaiter } from "./fetch/fetch_waiter.ts";
import { StreamRegistry } from "./stream_registry.ts";
import { type EtlRuntime, startEtlStage } from "./produce/etl_produce_stage.ts";
import type { EtlMetrics } from "./produce/etl_metrics.ts";
import type { BrokerInfo, ClusterMetadata } from "../model/cluster_metadata.ts";
import { fileMetadataPersistence, LocalMetadata } from "./metadata/local_metadata.ts";
import { PartitionManager } from "./partition_manager.ts";
import { listenTcp, type TcpListener } from "./net/tcp_listener.ts";
import { listenQuic, type QuicListener } from "./net/quic_listener.ts";
import type { FrameHandler, NetCounters } from "./net/frame_handler.ts";
import { anyRoute, createRequestRouter } from "./kafka_api/request_router.ts";
import { startBrokerSecurity } from "./security/broker_security.ts";
import { StartupGate } from "./kafka_api/startup_gate.ts";
import { checkWalCapacity } from "./wal_capacity.ts";
import { WalDiskWatch } from "./wal_disk_watch.ts";
import { failpointPause } from "../ops/failpoints.ts";
import {
  type LabelledNetCounters,
  registerNetworkMetrics,
  RequestMetrics,
} from "./broker_metrics.ts";
import type { BrokerContext } from "./kafka_api/broker_context.ts";
import { BROKER_ROUTES } from "./kafka_api/routes.ts";
import { ReplicaFetcherManager } from "./replication/replica_fetcher_manager.ts";
import { ReplicaFetcher } from "./replication/replica_fetcher.ts";
import { connect as connectTransport } from "../protocol/transport/connect.ts";
import { offsetForLeaderEpochRoute } from "./kafka_api/offset_for_leader_epoch_handler.ts";
import { GroupService, type GroupServiceOptions, OFFSETS_TOPIC } from "./group/group_service.ts";
import { TXN_STATE_TOPIC, TxnService, type TxnServiceOptions } from "./txn/txn_service.ts";
import { createResilientObjectStore } from "./object_store/object_store_factory.ts";
import type { ObjectStore } from "./object_store/object_store.ts";
import type { ObjectManifest } from "../model/object_manifest.ts";
import { LocalObjectManifest } from "./tiering/local_object_manifest.ts";
import { BlockCache, type EvictionPolicy } from "./tiering/block_cache.ts";
import { TieredReader } from "./tiering/tiered_reader.ts";
import { Uploader } from "./tiering/uploader.ts";
import { newObjectKey, TierMaintenance } from "./tiering/tier_maintenance.ts";
import { TierService } from "./tiering/tier_service.ts";

/** TLS material for the listeners. */
export interface BrokerTls {
  readonly certPem: string;
  readonly keyPem: string;
}

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
    const kafkaListen = parseHostPort(cfg.network.kafka_listen)!;
    const nodeId = nodeIdOf(cfg.broker.id);
    const advertisedHost = cfg.broker.advertised_host ||
      (kafkaListen.host === "0.0.0.0" || kafkaListen.host === "::"
        ? "127.0.0.1"
        : kafkaListen.host);

    const walCapacity = await checkWalCapacity({
      path: cfg.wal.path,
      capacityBytes: cfg.wal.capacity_bytes,
      segmentBytes: cfg.wal.segment_size_bytes,
      clamp: cfg.wal.clamp_capacity_to_disk,
    }, log.child("wal"));
    const { wal, recovered } = await Wal.open({
      path: cfg.wal.path,
      capacityBytes: walCapacity,
      segmentSizeBytes: cfg.wal.segment_size_bytes,
      bufferSize: cfg.wal.buffer_size,
      fsyncOnWrite: cfg.wal.fsync_on_write,
      flushIntervalMs: cfg.wal.flush_interval_ms,
      backend: cfg.wal.io_backend as "auto" | "ffi" | "portable",
      logger: log.child("wal"),
    });
    const diskWatch = new WalDiskWatch(cfg.wal.path, cfg.wal.segment_size_bytes, log.child("wal"));
    const waiter = new FetchWaiter();
    const ctx = { stopping: false };
    const cache = new LogCache({
      capacityBytes: cfg.cache.write_cache_size_bytes,
      waitTimeoutMs: cfg.replication.ack_timeout_ms,
      clock: systemClock,
    });
    const streams = await StreamRegistry.open(
      fileMetadataPersistence(`${options.dataDir}/streams.json`),
    );

    // The advertised port is only known once the listener is bound, so the listener starts
    // first: the gate answers ApiVersions at once and holds other requests until serving.
    const epochRoute = offsetForLeaderEpochRoute((topic, partition) => {
      const p = partitions.get(topic, partition);
      if (p === undefined || p.role !== "leader") return undefined;
      return {
        leaderEpochCache: p.epochs,
        logEndOffset: p.log.logEndOffset,
        currentLeaderEpoch: p.leaderEpoch,
      };
    });
    const security = await startBrokerSecurity(cfg, options.dataDir);
    const routes = [...BROKER_ROUTES, anyRoute(epochRoute), ...security.routes];
    const gate = new StartupGate(routes);
    const handler = gate.handler;
    // Client listeners authenticate (SASL) when [security] asks; replication does not yet.
    const clientHandler = security.wrapClient(handler);
    const tcp = listenTcp(clientHandler, {
      hostname: kafkaListen.host,
      port: kafkaListen.port,
      maxConnections: cfg.network.max_connections,
      connectionTimeoutMs: cfg.network.connection_timeout_ms,
      maxRequestBytes: cfg.network.max_request_bytes,
      maxInFlightRequests: cfg.network.max_in_flight_requests,
      logger: log.child("tcp"),
      ...(cfg.network.tls_cert_path
        ? {
          cert: await Deno.readTextFile(cfg.network.tls_cert_path),
          key: await Deno.readTextFile(cfg.network.tls_key_path),
        }
        : {}),
    });
    const quic = options.quicTls ? _startQuic(cfg, clientHandler, options.quicTls, log) : null;

    const replicationListener = options.replicationListener === false
      ? null
      : _startReplicationListener(cfg, handler, log);
    const self: BrokerSelf = {
      nodeId,
      host: advertisedHost,
      port: tcp.addr.port,
      rack: cfg.broker.rack_id || null,
      replication: replicationListener
        ? { host: advertisedHost, port: replicationListener.addr.port }
        : null,
    };
    const binding = await (options.cluster ?? ((s) => localClusterBinding(s, options.dataDir)))(
      self,
    );
    const { metadata, manifest } = binding;
    const store = options.objectStore ?? createResilientObjectStore(cfg.object_storage, {
      clock: systemClock,
      random: systemRandom,
    });
    const blockCache = new BlockCache(cfg.cache.read_cache_size_bytes, {
      policy: cfg.cache.eviction_policy as EvictionPolicy,
      random: systemRandom,
    });
    const reader = new TieredReader(manifest, store, blockCache);
    const { dynamic, topicDefaults } = await startDynamicConfig(
      cfg,
      {
        blockCache,
        ...(options.logLevel ? { logLevel: options.logLevel } : {}),
      },
      options.dataDir,
      log.child("config"),
    );
    const prefix = `${cfg.object_storage.key_prefix}objects/${cfg.broker.id}/`;
    const inFlight = new Set<string>();
    const maintenance = new TierMaintenance({
      store,
      manifest,
      blockCache,
      nowMs: () => Date.now(),
      objectKey: (ms) => newObjectKey(prefix, ms, systemRandom),
      prefix,
      compactBelowBytes: cfg.object_storage.compaction_threshold_bytes,
      gcGraceMs: cfg.object_storage.gc_grace_ms,
      inFlight,
      logger: log.child("maintenance"),
    });
    let uploaderRef: Uploader | null = null;
    let partitionsRef: PartitionManager | null = null;
    const etl = startEtlStage(cfg.etl, {
      metadata,
      logger: log.child("etl"),
      produce: (t, p, b) => partitionsRef!.produce(t, p, b, -1),
    });
    const partitions = new PartitionManager({
      transform: (topic, p, config, batch) => etl.stage.transform(topic, p, config, batch),
      wal,
      cache,
      streams,
      metadata,
      waiter,
      logger: log.child("partitions"),
      nowMs: () => Date.now(),
      walHighWaterBytes: walCapacity - cfg.wal.segment_size_bytes,
      walFullReason: () => _objectStoreReason(cfg, uploaderRef, "uploads to "),
      tiering: {
        manifest,
        reader,
        removePartition: (key) => maintenance.removePartition(key),
        deleteObjects: (keys) => maintenance.deleteObjects(keys),
        // The uploader is built after the partitions it reads.
        uploadNow: () => uploaderRef?.uploadNow() ?? Promise.resolve(null),
      },
      replication: {
        nodeId,
        maxLagMessages: cfg.replication.max_replication_lag,
        maxLagTimeMs: cfg.replication.heartbeat_timeout_ms,
        ackTimeoutMs: cfg.replication.ack_timeout_ms,
        clock: systemClock,
        epochDir: `${options.dataDir}/epochs`,
      },
    });
    partitionsRef = partitions;
    await Deno.mkdir(`${options.dataDir}/epochs`, { recursive: true });
    const fetchers = new ReplicaFetcherManager((leaderId, url) =>
      new ReplicaFetcher({
        nodeId,
        leaderId,
        url,
        connect: (u) => connectTransport(u, { connectTimeoutMs: 5000 }),
        sink: partitions.followerSink(),
        clock: systemClock,
        logger: log.child("fetcher"),
      })
    );
    partitions.attachFetchers(fetchers);
    await partitions.recover(recovered);
    const uploader = new Uploader({
      cache,
      store,
      manifest,
      partitions: () =>
        [...partitions.partitions()].filter((p) => p.role === "leader").map((p) => ({
          key: p.key,
          streamId: p.streamId,
          highWatermark: p.log.highWatermark,
        })),
      checkpoint: (streamId, offset) => wal.checkpoint(streamId, BigInt(offset)),
      nowMs: () => Date.now(),
      objectKey: (ms) => newObjectKey(prefix, ms, systemRandom),
      uploadIntervalMs: cfg.wal.upload_interval_ms,
      uploadBytesTarget: cfg.object_storage.upload_bytes_target,
      rangeBytesMax: Math.min(8 * 1024 * 1024, cfg.object_storage.upload_bytes_target),
      underPressure: () =>
        wal.stats.usedBytes > walCapacity / 2 ||
        cache.usedBytes > cache.capacityBytes / 2,
      inFlight,
      logger: log.child("uploader"),
    });
    uploaderRef = uploader;
    const tier = new TierService({
      uploader,
      maintenance,
      partitions,
      store,
      manifest,
      blockCache,
      cache,
      checkpoint: (streamId, offset) => wal.checkpoint(streamId, BigInt(offset)),
      maintenanceIntervalMs: cfg.object_storage.maintenance_interval_ms,
      clock: systemClock,
      logger: log.child("tier"),
    });
    tier.start();
    metadata.onChange(() => void partitions.syncWithMetadata());
    // Committed offsets are rebuilt from the recovered partitions before any request is served.
    const groups = await GroupService.start({
      nodeId,
      metadata,
      partitions,
      logger: log.child("groups"),
      replicationFactor: cfg.replication.default_replication_factor,
    }, options.groups);
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
        waiter,
        logger: log.child("txns"),
        replicationFactor: cfg.replication.default_replication_factor,
      }, options.transactions)
      : null;
    partitions.onLeadership((p) => {
      if (p.topic === TXN_STATE_TOPIC) void txns?.reloadPartition(p.partition);
    });

    const seedMetrics = new SeedMetrics();
    const brokerCtx: BrokerContext = {
      nodeId,
      metadata,
      partitions,
      waiter,
      logger: log.child("api"),
      nowMs: () => Date.now(),
      // Getters: these follow dynamic config changes.
      get autoCreateTopics() {
        return topicDefaults.autoCreateTopics;
      },
      get defaultPartitions() {
        return topicDefaults.partitions;
      },
      get defaultReplicationFactor() {
        return topicDefaults.replicationFactor;
      },
      get defaultMinInsyncReplicas() {
        return topicDefaults.minInsyncReplicas;
      },
      get defaultRetentionMs() {
        return topicDefaults.retentionMs;
      },
      get defaultMessageMaxBytes() {
        return topicDefaults.messageMaxBytes;
      },
      dynamicConfig: dynamic,
      recordsProduced: (n) => seedMetrics.recordsProduced(n),
      recordsConsumed: (n) => seedMetrics.recordsConsumed(n),
      fetchWaitMaxMs: 30_000,
      stopping: () => ctx.stopping,
      groups,
      ...(txns === null ? {} : { txns }),
    };
    const requestMetrics = new RequestMetrics();
    await failpointPause("broker-before-serving");
    gate.openWith(
      createRequestRouter(routes, brokerCtx, (api, seconds, failed) => {
        requestMetrics.observe(api, seconds, failed);
        seedMetrics.observe(api, seconds);
      }, security.middleware),
    );

    const ops = options.serveHttp === false
      ? null
      : _startOps(cfg, wal, diskWatch, uploader, cache, partitions, groups, binding, log, {
        mount: (app) => mountBrokerConfigApi(app, nodeId, dynamic),
        seed: (registry) =>
          seedMetrics.register(registry, {
            walUsedBytes: () => wal.stats.usedBytes,
            cacheStats: () => blockCache.stats,
            uploadedBytes: () => uploader.stats.uploadedBytes,
            ledPartitions: () => _ledPartitions(partitions),
            nowMs: () => performance.now(),
          }),
        requests: requestMetrics,
        etl: etl.metrics,
        listeners: [
          { transport: "tcp", counters: tcp.counters },
          ...(quic ? [{ transport: "quic", counters: quic.counters }] : []),
          ...(replicationListener
            ? [{ transport: "replication", counters: replicationListener.counters }]
            : []),
        ],
      });
    const addrs: BrokerAddrs = {
      kafka: tcp.addr,
      quic: quic?.addr ?? null,
      replication: replicationListener?.addr ?? null,
      http: ops ? { hostname: parseHostPort(cfg.network.http_listen)!.host, port: ops.port } : null,
    };
    log.info("broker started", {
      nodeId,
      kafka: `${addrs.kafka.hostname}:${addrs.kafka.port}`,
      quic: addrs.quic ? `${addrs.quic.hostname}:${addrs.quic.port}` : null,
      wal: wal.backendName,
      recoveredEntries: recovered.length,
      partitions: [...partitions.partitions()].length,
    });
    return new Broker({
      dynamicConfig: dynamic,
      addrs,
      partitions,
      metadata,
      wal,
      tcp,
      quic,
      ops,
      waiter,
      ctx,
      logger: log,
      tier,
      groups,
      txns,
      replication: replicationListener,
      binding,
      fetchers,
      locks,
      diskWatch,
      etl,
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

function _startQuic(
  cfg: BrokerConfig,
  handler: FrameHandler,
  tls: BrokerTls,
  log: Logger,
): QuicListener {
  const addr = parseHostPort(cfg.network.quic_listen)!;
  const q = cfg["network.quic_config"];
  return listenQuic(handler, {
    hostname: addr.host,
    port: addr.port,
    cert: tls.certPem,
    key: tls.keyPem,
    maxConcurrentStreams: q.max_concurrent_bidi_streams,
    maxConcurrentUniStreams: q.max_concurrent_uni_streams,
    maxRequestBytes: cfg.network.max_request_bytes,
    connectionTimeoutMs: q.max_idle_timeout_ms,
    maxConnections: cfg.network.max_connections,
    logger: log.child("quic"),
  });
}

/** Why uploads are failing, naming the store, or null while they succeed. */
function _objectStoreReason(
  cfg: BrokerConfig,
  uploader: Uploader | null,
  prefix: string,
): string | null {
  const failing = uploader?.failing;
  if (!failing) return null;
  const o = cfg.object_storage;
  const where = o.storage_type === "Local"
    ? `Local ${o.local_path}`
    : `${o.storage_type} bucket ${o.bucket}${o.endpoint ? ` at ${o.endpoint}` : ""}`;
  return `${prefix}object store unreachable since ${new Date(failing.sinceMs).toISOString()} ` +
    `(${where}): ${failing.error.message}`;
}

function _walDiskReason(wal: Wal): string | null {
  const since = wal.diskFullSinceMs;
  return since === null
    ? null
    // The broker's WAL runs on the system clock (performance.now), hence timeOrigin.
    : `WAL disk full since ${
      new Date(performance.timeOrigin + since).toISOString()
    }: appends fail until space is freed`;
}

function _startOps(
  cfg: BrokerConfig,
  wal: Wal,
  diskWatch: WalDiskWatch,
  uploader: Uploader,
  cache: LogCache,
  partitions: PartitionManager,
  groups: GroupService,
  binding: ClusterBinding,
  log: Logger,
  net: {
    mount: (app: Hono) => void;
    seed: (registry: Registry) => void;
    requests: RequestMetrics;
    etl: EtlMetrics;
    listeners: readonly LabelledNetCounters[];
  },
): OpsServer {
  const { app, registry } = createOpsApp({
    role: "broker",
    version: VERSION,
    readiness: {
      storage: () => partitions.fatalError?.message ?? null,
      wal_disk: () => _walDiskReason(wal),
    },
    degraded: {
      wal_disk: () => _walDiskReason(wal),
      object_store: () => _objectStoreReason(cfg, uploader, ""),
    },
  });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  gauge("rustmq_wal_used_bytes", "Bytes held by WAL segments", () => wal.stats.usedBytes);
  gauge(
    "rustmq_wal_disk_full",
    "1 while WAL writes fail as the disk is full",
    () => wal.diskFull ? 1 : 0,
  );
  gauge(
    "rustmq_wal_disk_free_bytes",
    "Free bytes on the WAL's filesystem (-1 where it cannot be measured)",
    () => diskWatch.freeBytes ?? -1,
  );
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  counter("rustmq_wal_appends_total", "WAL appends acknowledged", () => wal.stats.appends);
  counter("rustmq_wal_writes_total", "WAL group-commit writes", () => wal.stats.writes);
  gauge("rustmq_log_cache_used_bytes", "Bytes in the log cache", () => cache.usedBytes);
  gauge(
    "rustmq_partitions",
    "Partitions hosted by this broker",
    () => [...partitions.partitions()].length,
  );
  net.requests.register(registry);
  net.etl.register(registry);
  net.seed(registry);
  registerNetworkMetrics(registry, net.listeners);
  _consumerLagGauge(registry, partitions, groups);
  _replicationGauges(registry, partitions);
  // Before the binding's routes: standalone's admin API answers every other /api/v1 path.
  net.mount(app);
  binding.mountRoutes?.(app);
  const http = parseHostPort(cfg.network.http_listen)!;
  return serveOps(app, { hostname: http.host, port: http.port }, log.child("http"));
}

/**
 * Consumer lag per group and partition: the high watermark minus the committed offset, computed
 * when Prometheus scrapes, from the coordinator's offset cache. Groups and partitions this broker
 * does not host are skipped rather than guessed.
 */
function _consumerLagGauge(
  registry: Registry,
  partitions: PartitionManager,
  groups: GroupService,
): void {
  new Gauge({
    name: "rustmq_consumer_group_lag",
    help: "High watermark minus committed offset, per consumer group and partition",
    labelNames: ["group", "topic", "partition"],
    registers: [registry],
    collect() {
      this.reset();
      for (const group of groups.offsets.groups()) {
        for (const o of groups.offsets.fetch(group, null)) {
          const p = partitions.get(o.topic, o.partition);
          if (p === undefined || o.offset < 0n) continue;
          const lag = Math.max(0, p.log.highWatermark - Number(o.offset));
          this.set({ group, topic: o.topic, partition: String(o.partition) }, lag);
        }
      }
    },
  });
}

function _startReplicationListener(
  cfg: BrokerConfig,
  handler: FrameHandler,
  log: Logger,
): TcpListener {
  const addr = parseHostPort(cfg.network.rpc_listen)!;
  // Followers speak the same Kafka frames (Fetch with a replica id, OffsetForLeaderEpoch); a
  // port of their own keeps replication traffic apart from clients' connection limits.
  return listenTcp(handler, {
    hostname: addr.host,
    port: addr.port,
    maxConnections: 1024,
    connectionTimeoutMs: cfg.network.connection_timeout_ms,
    maxRequestBytes: cfg.network.max_request_bytes,
    maxInFlightRequests: cfg.network.max_in_flight_requests,
    logger: log.child("replication"),
    listenerName: "replication listener",
  });
}

/**
 * Replication health of the partitions this broker hosts: ISR size and follower lag of those it
 * leads, and the count of under-replicated (ISR smaller than the replica set) and offline (no
 * leader) partitions among them.
 */
function _replicationGauges(registry: Registry, partitions: PartitionManager): void {
  const labels = (p: { topic: string; partition: number }) => ({
    topic: p.topic,
    partition: String(p.partition),
  });
  new Gauge({
    name: "rustmq_partition_isr_size",
    help: "In-sync replicas of each partition this broker leads",
    labelNames: ["topic", "partition"],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of partitions.partitions()) {
        if (p.leader !== null) this.set(labels(p), p.leader.tracker.isr.length);
      }
    },
  });
  new Gauge({
    name: "rustmq_replication_lag_messages",
    help: "Offsets a follower is behind the leader's log end, per partition this broker leads",
    labelNames: ["topic", "partition", "replica"],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of partitions.partitions()) {
        for (const [replica, lag] of p.leader?.tracker.followerLags() ?? []) {
          this.set({ ...labels(p), replica: String(replica) }, lag);
        }
      }
    },
  });
  new Gauge({
    name: "rustmq_under_replicated_partitions",
    help: "Partitions led here whose ISR is smaller than their replica set",
    registers: [registry],
    collect() {
      let n = 0;
      for (const p of partitions.partitions()) if (p.leader?.tracker.underReplicated) n++;
      this.set(n);
    },
  });
  new Gauge({
    name: "rustmq_offline_partitions",
    help: "Partitions hosted here that have no leader",
    registers: [registry],
    collect() {
      let n = 0;
      for (const p of partitions.partitions()) if (p.role === "offline") n++;
      this.set(n);
    },
  });
}

/** The partitions this broker leads, as the seed's replication gauges read them. */
function* _ledPartitions(partitions: PartitionManager) {
  for (const p of partitions.partitions()) {
    if (p.leader === null) continue;
    yield {
      topic: p.topic,
      partition: p.partition,
      isr: p.leader.tracker.isr.length,
      followerLags: p.leader.tracker.followerLags(),
    };
  }
}

function _resolvePath(path: string): string {
  return resolve(path).replace(/\/+$/, "");
}
