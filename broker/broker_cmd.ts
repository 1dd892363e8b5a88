/**
 * `rustmq broker --config broker.toml [--check]`: a broker of a cluster. It registers with the
 * controllers in `[controller] endpoints`, keeps its metadata current from them, and commits its
 * uploads to their object manifest.
 *
 * @module
 */

import process from "node:process";
import { LoadSampler } from "./load_sampler.ts";
import { partitionsHealth } from "./partition_health.ts";
import type { BrokerLoad } from "../model/broker_load.ts";
import { type Command, EXIT_FAILURE, EXIT_OK, stringOpt, UsageError } from "../config/cli.ts";
import { loadOrReport } from "../config/check_cmd.ts";
import { loadBrokerConfig } from "../config/load.ts";
import { createLogger, type Logger, type LogLevel, logSummaryTimer } from "../ops/logger.ts";
import { WalCapacityError } from "./wal_capacity.ts";
import { reloadOnSighup } from "./config_reload.ts";
import type { Broker, BrokerSelf, ClusterBinding } from "./broker.ts";
import type { ControllerConnection } from "../controller/session/connect.ts";
import type { BrokerConfig } from "../config/schema.ts";
import { ClusterSecretError, loadClusterSecret } from "../ops/cluster_secret.ts";
import { loadInternalTls } from "../ops/internal_tls.ts";
import { MetadataError } from "../controller/metadata/errors.ts";
import { remoteSecurity } from "../controller/session/remote_security.ts";

/** Binds a broker to a controller quorum over gRPC; `onConnect` receives the connection. */
export async function remoteClusterBinding(
  self: BrokerSelf,
  cfg: BrokerConfig,
  logger: Logger,
  onConnect?: (conn: ControllerConnection) => void,
): Promise<ClusterBinding> {
  const { connectToControllers } = await import("../controller/session/connect.ts");
  const conn = await connectToControllers({
    endpoints: cfg.controller.endpoints,
    // Broker.start read and checked the file already; this reads the same file.
    clusterSecret: await loadClusterSecret(cfg.security.cluster_secret_file),
    tls: await loadInternalTls(cfg.security),
    broker: {
      nodeId: self.nodeId,
      host: self.host,
      port: self.port,
      rack: self.rack,
      endpoints: self.replication ? { replication: self.replication } : {},
    },
    logger: logger.child("controller-client"),
    heartbeatIntervalMs: cfg.controller.heartbeat_interval_ms,
    // Raft elects a new leader within one or two election timeouts; three leave it time to
    // answer too, so a request rides out a controller failover instead of failing.
    requestTimeoutMs: 3 * cfg.controller.election_timeout_ms,
  });
  onConnect?.(conn);
  return {
    metadata: conn.metadata,
    manifest: conn.manifest,
    security: remoteSecurity(conn.session),
    close: () => Promise.resolve(conn.close()),
  };
}

function _isClusterAuthFailure(err: unknown): boolean {
  return err instanceof ClusterSecretError ||
    (err instanceof MetadataError && err.code === "UNAUTHENTICATED");
}

/**
 * Before stopping, hands this broker's leaderships to other in-sync replicas (KIP-500's
 * controlled shutdown) so that producers at acks=all move on at once instead of waiting for the
 * broker's lease to expire; `operations.graceful_shutdown_timeout_ms` bounds it (0 skips it).
 */
export async function controlledShutdown(
  conn: ControllerConnection,
  timeoutMs: number,
  logger: Logger,
): Promise<void> {
  if (timeoutMs <= 0) return;
  logger.info("controlled shutdown: moving leaderships away", { timeoutMs });
  const r = await conn.controlledShutdown(timeoutMs);
  if (r.error !== undefined) {
    logger.warn("controlled shutdown incomplete; stopping anyway", { ...r });
  } else logger.info("controlled shutdown: leaderships moved", { leaders: r.leaders, ms: r.ms });
}

/** The `broker` subcommand. */
export const brokerCommand: Command = {
  name: "broker",
  summary: "Run a broker (Kafka protocol over TCP and QUIC, WAL, uploader)",
  options: {
    config: { type: "string", short: "c", arg: "FILE", help: "Broker configuration (TOML)" },
    check: { type: "boolean", help: "Validate the configuration and exit: 0 valid, 2 invalid" },
    "data-dir": {
      type: "string",
      arg: "DIR",
      help:
        "Broker-local state (stream registry, leader epochs, TLS) (default: the WAL path's parent)",
    },
  },
  details: "Environment overrides: RUSTMQ_BROKER_ID, RUSTMQ_RACK_ID, RUSTMQ_LOG_LEVEL, " +
    "RUSTMQ_WAL_PATH,\nRUSTMQ_STORAGE_BUCKET, RUSTMQ_STORAGE_REGION, RUSTMQ_CACHE_SIZE, " +
    "RUSTMQ_MAX_CONNECTIONS, RUSTMQ_BATCH_SIZE.",
  async run(values, _positionals, io) {
    const file = stringOpt(values, "config");
    if (file === undefined) throw new UsageError("--config is required");
    const cfg = loadOrReport(() => loadBrokerConfig(file), file, values.check === true, io);
    if ("exit" in cfg) return cfg.exit;
    const logLevel = { level: cfg.broker.log_level as LogLevel };
    const logger = createLogger("broker", { levelRef: logLevel });
    using _logSummaries = logSummaryTimer(logger);
    const walPath = cfg.wal.path.replace(/\/+$/, "");
    const dataDir = stringOpt(values, "data-dir") ??
      `${walPath.slice(0, Math.max(0, walPath.lastIndexOf("/"))) || "."}/broker`;
    // Imported when run, so the client commands start without loading the broker.
    const { quicCertificate } = await import("./net/dev_certs.ts");
    const { Broker } = await import("./broker.ts");
    const quicTls = await quicCertificate(cfg.network, `${dataDir}/tls`, logger);
    let broker: Broker;
    let conn: ControllerConnection | null = null;
    try {
      broker = await Broker.start(cfg, {
        dataDir,
        logger,
        quicTls,
        logLevel,
        cluster: (self) => remoteClusterBinding(self, cfg, logger, (c) => conn = c),
      });
    } catch (err) {
      // A disk too small for the configured WAL, or cluster credentials the controllers refuse,
      // are the operator's to fix: a message, no trace.
      if (!(err instanceof WalCapacityError) && !_isClusterAuthFailure(err)) throw err;
      io.err(`rustmq broker: ${(err as Error).message}\n`);
      return EXIT_FAILURE;
    }
    if (conn !== null) (conn as ControllerConnection).session.setLoadSource(_loadSource(broker));
    const a = broker.addrs;
    io.out(
      `RustMQ broker ${cfg.broker.id} is ready: kafka tcp://${a.kafka.hostname}:${a.kafka.port}` +
        (a.quic ? `, quic://${a.quic.hostname}:${a.quic.port}` : "") +
        (a.replication
          ? `, replication tcp://${a.replication.hostname}:${a.replication.port}`
          : "") +
        (a.http ? `, http://${a.http.hostname}:${a.http.port}` : "") + "\n",
    );
    {
      // SIGHUP re-reads the file; dynamic keys change, static ones are named as needing a restart.
      using _reload = reloadOnSighup(
        () => loadBrokerConfig(file),
        broker.dynamicConfig,
        logger.child("config"),
      );
      await io.stopSignal;
    }
    if (conn !== null) {
      await controlledShutdown(conn, cfg.operations.graceful_shutdown_timeout_ms, logger);
    }
    await broker.close();
    return EXIT_OK;
  },
};

/** The broker's load, sampled at each controller heartbeat, from the process's real counters. */
function _loadSource(broker: Broker): () => BrokerLoad {
  const partitions = partitionsHealth(broker.partitions);
  const sampler = new LoadSampler({
    monotonicMs: () => performance.now(),
    cpuMicros: () => {
      const u = process.cpuUsage();
      return u.user + u.system;
    },
    cores: navigator.hardwareConcurrency,
    memoryFraction: () => Deno.memoryUsage().rss / Deno.systemMemoryInfo().total,
    networkBytes: () => {
      const { tcp, quic } = broker.network;
      return {
        in: tcp.bytesIn + (quic?.bytesIn ?? 0),
        out: tcp.bytesOut + (quic?.bytesOut ?? 0),
      };
    },
    partitions,
  });
  return () => sampler.sample();
}
