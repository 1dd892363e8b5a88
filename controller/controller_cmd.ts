/**
 * `rustmq controller --config controller.toml [--check]`.
 *
 * @module
 */

import { type Command, EXIT_FAILURE, stringOpt, UsageError } from "../config/cli.ts";
import { loadOrReport } from "../config/check_cmd.ts";
import { loadControllerConfig } from "../config/load.ts";

/** The `controller` subcommand. */
export const controllerCommand: Command = {
  name: "controller",
  summary: "Run a controller, one member of the Raft quorum, with the admin REST API",
  options: {
    config: { type: "string", short: "c", arg: "FILE", help: "Controller configuration (TOML)" },
    check: { type: "boolean", help: "Validate the configuration and exit: 0 valid, 2 invalid" },
  },
  async run(values, _positionals, io) {
    const file = stringOpt(values, "config");
    if (file === undefined) throw new UsageError("--config is required");
    const cfg = loadOrReport(() => loadControllerConfig(file), file, values.check === true, io);
    if ("exit" in cfg) return cfg.exit;
    await Promise.resolve();
    io.err("rustmq controller: the controller is not implemented yet\n");
    return EXIT_FAILURE;
  },
};
