/**
 * `rustmq standalone`: a controller and a broker in one process, with a local WAL and a local
 * object store under `--data`. This is what `deno task start` runs.
 *
 * @module
 */

import { type Command, EXIT_FAILURE } from "../config/cli.ts";

/** The `standalone` subcommand. */
export const standaloneCommand: Command = {
  name: "standalone",
  summary: "Run a single-node RustMQ (controller + broker, local WAL and object store)",
  options: {
    data: { type: "string", short: "d", arg: "DIR", default: "./data", help: "Data directory" },
    config: {
      type: "string",
      short: "c",
      arg: "FILE",
      help: "Broker configuration overriding the embedded defaults",
    },
  },
  async run(_values, _positionals, io) {
    await Promise.resolve();
    io.err("rustmq standalone: not implemented yet\n");
    return EXIT_FAILURE;
  },
};
