/**
 * `rustmq broker --config broker.toml [--check]`.
 *
 * @module
 */

import { type Command, EXIT_FAILURE, stringOpt, UsageError } from "../config/cli.ts";
import { loadOrReport } from "../config/check_cmd.ts";
import { loadBrokerConfig } from "../config/load.ts";

/** The `broker` subcommand. */
export const brokerCommand: Command = {
  name: "broker",
  summary: "Run a broker (Kafka protocol over TCP and QUIC, WAL, uploader)",
  options: {
    config: { type: "string", short: "c", arg: "FILE", help: "Broker configuration (TOML)" },
    check: { type: "boolean", help: "Validate the configuration and exit: 0 valid, 2 invalid" },
  },
  details: "Environment overrides: RUSTMQ_BROKER_ID, RUSTMQ_RACK_ID, RUSTMQ_LOG_LEVEL, " +
    "RUSTMQ_WAL_PATH,\nRUSTMQ_STORAGE_BUCKET, RUSTMQ_STORAGE_REGION, RUSTMQ_CACHE_SIZE, " +
    "RUSTMQ_MAX_CONNECTIONS, RUSTMQ_BATCH_SIZE.",
  async run(values, _positionals, io) {
    const file = stringOpt(values, "config");
    if (file === undefined) throw new UsageError("--config is required");
    const cfg = loadOrReport(() => loadBrokerConfig(file), file, values.check === true, io);
    if ("exit" in cfg) return cfg.exit;
    await Promise.resolve();
    io.err("rustmq broker: the broker data plane is not implemented yet\n");
    return EXIT_FAILURE;
  },
};
