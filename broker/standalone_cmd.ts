/**
 * `rustmq standalone`: a single-node RustMQ in one process, with a local WAL and local metadata
 * under `--data`. This is what `deno task start` runs. `--config broker.toml` overrides any
 * embedded default, such as ports or cache sizes.
 *
 * @module
 */

import { type Command, EXIT_FAILURE, EXIT_OK, stringOpt } from "../config/cli.ts";
import { loadOrReport } from "../config/check_cmd.ts";
import { loadBrokerConfig } from "../config/load.ts";
import { createLogger, type LogLevel, logSummaryTimer } from "../ops/logger.ts";
import { WalCapacityError } from "./wal_capacity.ts";
import { reloadOnSighup } from "./config_reload.ts";
import type { Broker, BrokerSelf, ClusterBinding } from "./broker.ts";
import type { Logger } from "../ops/logger.ts";

/**
 * Standalone's metadata: a single-voter controller in this process, with the admin REST API on
 * the operations port. Metadata and a manifest written by older versions of standalone (JSON
 * files) are imported once.
 */
export async function embeddedClusterBinding(
  self: BrokerSelf,
  dataDir: string,
  logger: Logger,
): Promise<ClusterBinding> {
  // Imported here, not at the top, so the client commands start without loading the controller.
  const { fileMetadataPersistence } = await import("./metadata/local_metadata.ts");
  const { EmbeddedController } = await import("../controller/embedded_controller.ts");
  const { mountAdminApi } = await import("../controller/admin_api.ts");
  // Through the same persistence as their writer, so the checksum header is checked and removed.
  const read = (name: string) => fileMetadataPersistence(`${dataDir}/${name}`).load();
  const controller = await EmbeddedController.start({
    dataDir: `${dataDir}/controller`,
    broker: { nodeId: self.nodeId, host: self.host, port: self.port, rack: self.rack },
    logger: logger.child("controller"),
    importLocal: { metadata: await read("metadata.json"), manifest: await read("manifest.json") },
  });
  return {
    metadata: controller,
    manifest: controller,
    mountRoutes: (app) =>
      mountAdminApi(app, controller.node, {
        securityRefusal:
          "Cannot manage users or ACLs over REST on standalone, which keeps them in DATA/security.json: use `rustmq users` or the Kafka APIs (kafkajs admin, AlterUserScramCredentials)",
      }),
    close: () => controller.close(),
  };
}

const MIB = 1024 * 1024;

/**
 * The embedded defaults of standalone, applied over the schema defaults and under the user's
 * file: local storage under `dataDir`, one replica, and sizes that suit a laptop.
 */
export function standaloneDefaults(dataDir: string): Record<string, Record<string, unknown>> {
  return {
    broker: { id: "broker-1", rack_id: "" },
    wal: { path: `${dataDir}/wal`, segment_size_bytes: 64 * MIB, capacity_bytes: 2048 * MIB },
    cache: { write_cache_size_bytes: 512 * MIB, read_cache_size_bytes: 256 * MIB },
    object_storage: { storage_type: "Local", local_path: `${dataDir}/objects`, endpoint: "" },
    replication: { min_in_sync_replicas: 1, default_replication_factor: 1 },
    controller: { endpoints: [] },
  };
}

/** The `standalone` subcommand. */
export const standaloneCommand: Command = {
  name: "standalone",
  summary: "Run a single-node RustMQ (broker with local WAL and metadata)",
  options: {
    data: { type: "string", short: "d", arg: "DIR", default: "./data", help: "Data directory" },
    config: {
      type: "string",
      short: "c",
      arg: "FILE",
      help: "Broker configuration overriding the embedded defaults",
    },
    check: { type: "boolean", help: "Validate the configuration and exit" },
  },
  details: "Listens on 9092/tcp (Kafka), 9092/udp (QUIC) and 9642 (HTTP) by default.\n" +
    "A development CA for QUIC clients is written to DIR/tls/ca.pem on first start.",
  async run(values, _positionals, io) {
    const dataDir = stringOpt(values, "data") ?? "./data";
    const file = stringOpt(values, "config");
    const base = standaloneDefaults(dataDir);
    const cfg = loadOrReport(
      () =>
        loadBrokerConfig(file ?? "<standalone defaults>", { ...(file ? {} : { text: "" }), base }),
      file ?? "<standalone defaults>",
      values.check === true,
      io,
    );
    if ("exit" in cfg) return cfg.exit;
    const logLevel = { level: cfg.broker.log_level as LogLevel };
    const logger = createLogger("standalone", { levelRef: logLevel });
    using _logSummaries = logSummaryTimer(logger);
    // Imported when run, so `rustmq produce`, `consume` and the other client commands start
    // without loading the broker and the X.509 library (about 0.3 s of the CLI's startup).
    const { quicCertificate } = await import("./net/dev_certs.ts");
    const { Broker } = await import("./broker.ts");
    const quicTls = await quicCertificate(cfg.network, `${dataDir}/tls`, logger);
    let broker: Broker;
    try {
      broker = await Broker.start(cfg, {
        dataDir,
        logger,
        quicTls,
        logLevel,
        replicationListener: false,
        cluster: (self) => embeddedClusterBinding(self, dataDir, logger),
      });
    } catch (err) {
      // A disk too small for the configured WAL is the operator's to fix: a message, no trace.
      if (!(err instanceof WalCapacityError)) throw err;
      io.err(`rustmq standalone: ${err.message}\n`);
      return EXIT_FAILURE;
    }
    io.out(
      `RustMQ standalone is ready: kafka tcp://${broker.addrs.kafka.hostname}:${broker.addrs.kafka.port}` +
        (broker.addrs.quic
          ? `, quic://${broker.addrs.quic.hostname}:${broker.addrs.quic.port}`
          : "") +
        (broker.addrs.http
          ? `, http://${broker.addrs.http.hostname}:${broker.addrs.http.port}`
          : "") +
        "\n",
    );
    {
      // SIGHUP re-reads the file; dynamic keys change, static ones are named as needing a restart.
      using _reload = reloadOnSighup(
        () =>
          loadBrokerConfig(file ?? "<standalone defaults>", {
            ...(file ? {} : { text: "" }),
            base,
          }),
        broker.dynamicConfig,
        logger.child("config"),
      );
      await io.stopSignal;
    }
    await broker.close();
    return EXIT_OK;
  },
};
