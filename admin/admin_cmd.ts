/**
 * `rustmq admin`: the admin CLI, a client of the controller's REST API.
 *
 * @module
 */

import { type Command, EXIT_FAILURE } from "../config/cli.ts";

/** The `admin` subcommand. */
export const adminCommand: Command = {
  name: "admin",
  summary: "Administer a cluster through the controller REST API",
  positionals: "<command> [args...]",
  options: {
    controller: {
      type: "string",
      arg: "URL",
      multiple: true,
      help: "Controller REST URL; repeat to list several (default: http://127.0.0.1:9642)",
    },
    json: { type: "boolean", help: "Print JSON instead of a table" },
  },
  details: "Commands: create-topic <name> <partitions> <replication_factor> [--config k=v ...],\n" +
    "list-topics, describe-topic <name>, delete-topic <name>, cluster-health, brokers",
  async run(_values, _positionals, io) {
    await Promise.resolve();
    io.err("rustmq admin: not implemented yet\n");
    return EXIT_FAILURE;
  },
};
