/**
 * `rustmq broker --config broker.toml [--check]`: a broker of a cluster. It registers with the
 * controllers in `[controller] endpoints`, keeps its metadata current from them, and commits its
 * uploads to their object manifest.
 *
 * @module
 */

import { type Command, EXIT_FAILURE, EXIT_OK, stringOpt, UsageError } from "../config/cli.ts";
import { loadOrReport } from "../config/check_cmd.ts";
import { loadBrokerConfig } from "../config/load.ts";
import { createLogger, type Logger, type LogLevel, logSummaryTimer } from "../ops/logger.ts";
import { WalCapacityError } from "./wal_capacity.ts";
import { reloadOnSighup } from "./config_reload.ts";
import { Broker, type BrokerSelf, type ClusterBinding } from "./broker.ts";
import { connectToControllers } from "../controller/session/connect.ts";
import { ensureDevCertificates } from "./net/dev_certs.ts";
import type { BrokerConfig } from "../config/schema.ts";

/** Binds a broker to a controller quorum over gRPC. */
export async function remoteClusterBinding(
  self: BrokerSelf,
  cfg: BrokerConfig,
  logger: Logger,
): Promise<ClusterBinding> {
  const conn = await connectToControllers({
    endpoints: cfg.controller.endpoints,
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
  return {
    metadata: conn.metadata,
    manifest: conn.manifest,
    close: () => Promise.resolve(conn.close()),
  };
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
    const tls = await ensureDevCertificates(`${dataDir}/tls`);
    let broker: Broker;
    try {
      broker = await Broker.start(cfg, {
        dataDir,
        logger,
        quicTls: { certPem: tls.certPem, keyPem: tls.keyPem },
        logLevel,
        cluster: (self) => remoteClusterBinding(self, cfg, logger),
      });
    } catch (err) {
      // A disk too small for the configured WAL is the operator's to fix: a message, no trace.
      if (!(err instanceof WalCapacityError)) throw err;
      io.err(`rustmq broker: ${err.message}\n`);
      return EXIT_FAILURE;
    }
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
    await broker.close();
    return EXIT_OK;
  },
};
