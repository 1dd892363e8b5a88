/**
 * `rustmq controller --config controller.toml [--check]`.
 *
 * @module
 */

import { type Command, EXIT_FAILURE, EXIT_OK, stringOpt, UsageError } from "../config/cli.ts";
import { loadOrReport } from "../config/check_cmd.ts";
import { loadControllerConfig } from "../config/load.ts";
import { createLogger, type LogLevel, logSummaryTimer } from "../ops/logger.ts";
import type { Controller } from "./controller.ts";

/** The `controller` subcommand. */
export const controllerCommand: Command = {
  name: "controller",
  summary: "Run a controller, one member of the Raft quorum, with the admin REST API",
  options: {
    config: { type: "string", short: "c", arg: "FILE", help: "Controller configuration (TOML)" },
    check: { type: "boolean", help: "Validate the configuration and exit: 0 valid, 2 invalid" },
  },
  details: "Listens on raft_listen (9095, Raft), rpc_listen (9094, brokers) and http_listen\n" +
    "(9642, /health, /ready, /metrics and the /api/v1 admin REST API).",
  async run(values, _positionals, io) {
    const file = stringOpt(values, "config");
    if (file === undefined) throw new UsageError("--config is required");
    const cfg = loadOrReport(() => loadControllerConfig(file), file, values.check === true, io);
    if ("exit" in cfg) return cfg.exit;
    const logger = createLogger("controller", { level: cfg.controller.log_level as LogLevel });
    using _logSummaries = logSummaryTimer(logger);
    // Imported when run, so the client commands start without loading the controller.
    const { Controller } = await import("./controller.ts");
    let controller: Controller;
    try {
      controller = await Controller.start(cfg, { logger });
    } catch (err) {
      io.err(`rustmq controller: cannot start: ${(err as Error).message}\n`);
      return EXIT_FAILURE;
    }
    const a = controller.addrs;
    io.out(
      `RustMQ controller ${cfg.controller.node_id} is running: raft :${a.raftPort}, rpc :${a.rpcPort}, http :${a.httpPort}\n`,
    );
    // A controller that cannot persist must not keep voting: exit and let the supervisor act.
    const fatal = await Promise.race([
      io.stopSignal.then(() => null),
      controller.node.failed(),
    ]);
    // Exit drops the gRPC connections: a shutdown's GOAWAY can abort a peer (CloseOptions).
    await controller.close({ processExit: true });
    if (fatal !== null) {
      io.err(`rustmq controller: stopped on an unrecoverable error: ${fatal.message}\n`);
      return EXIT_FAILURE;
    }
    return EXIT_OK;
  },
};
