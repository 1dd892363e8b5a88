/**
 * `rustmq subscriber bigquery --config F`: the BigQuery sink sidecar.
 *
 * @module
 */

import { type Command, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, stringOpt } from "../config/cli.ts";
import { ConfigError, formatProblem } from "../config/load.ts";
import { loadSubscriberConfig, type SubscriberConfig } from "./subscriber_config.ts";

/** The `subscriber` subcommand. */
export const subscriberCommand: Command = {
  name: "subscriber",
  summary: "Run a sink sidecar (bigquery)",
  positionals: "bigquery",
  allowPositionals: true,
  options: {
    config: { type: "string", short: "c", arg: "FILE", help: "Subscriber configuration (TOML)" },
    check: { type: "boolean", help: "Validate the configuration and exit" },
  },
  details: "Settings come from the TOML file (--config or CONFIG_FILE) and the environment\n" +
    "(GCP_PROJECT_ID, BIGQUERY_DATASET, BIGQUERY_TABLE, RUSTMQ_TOPIC, RUSTMQ_BROKERS, ...),\n" +
    "which overrides the file. See the README section 'BigQuery subscriber'.",
  async run(values, positionals, io) {
    if (positionals.length !== 1 || positionals[0] !== "bigquery") {
      io.err(
        `error: rustmq subscriber expects one sink name, 'bigquery': got '${
          positionals.join(" ")
        }'\n`,
      );
      return EXIT_USAGE;
    }
    const configPath = stringOpt(values, "config");
    let cfg: SubscriberConfig;
    try {
      cfg = loadSubscriberConfig({
        ...(configPath !== undefined ? { configPath } : {}),
        env: Deno.env.toObject(),
      });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      io.err(
        `error: the subscriber configuration has ${err.problems.length} problem(s):\n` +
          err.problems.map((p) => `  ${formatProblem(p)}\n`).join(""),
      );
      return EXIT_USAGE;
    }
    if (values.check === true) {
      io.out(
        `configuration OK: topic ${cfg.topic} -> ${cfg.projectId}.${cfg.dataset}.${cfg.table}\n`,
      );
      return EXIT_OK;
    }
    try {
      // Imported when run (after --check), so no other command loads the Google Cloud clients.
      const { runSubscriber } = await import("./subscriber_run.ts");
      await runSubscriber(cfg, io.stopSignal);
      return EXIT_OK;
    } catch (err) {
      io.err(`error: rustmq subscriber bigquery stopped: ${(err as Error).message}\n`);
      return EXIT_FAILURE;
    }
  },
};
