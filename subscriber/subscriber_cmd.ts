/**
 * `rustmq subscriber bigquery --config F`: the BigQuery sink sidecar.
 *
 * @module
 */

import { type Command, EXIT_FAILURE } from "../config/cli.ts";

/** The `subscriber` subcommand. */
export const subscriberCommand: Command = {
  name: "subscriber",
  summary: "Run a sink sidecar (bigquery)",
  positionals: "bigquery",
  options: {
    config: { type: "string", short: "c", arg: "FILE", help: "Subscriber configuration (TOML)" },
  },
  async run(_values, _positionals, io) {
    await Promise.resolve();
    io.err("rustmq subscriber: not implemented yet\n");
    return EXIT_FAILURE;
  },
};
