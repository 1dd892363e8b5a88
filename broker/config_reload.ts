/**
 * SIGHUP re-reads broker.toml: changed dynamic keys take effect at once, changed static keys
 * are named in a warning (they need a restart), and a file that no longer validates changes
 * nothing. The running broker keeps serving in every case.
 *
 * @module
 */

import { ConfigError, formatProblem } from "../config/load.ts";
import { ConfigUpdateError, type DynamicBrokerConfig } from "../config/dynamic_config.ts";
import type { BrokerConfig } from "../config/schema.ts";
import type { Logger } from "../ops/logger.ts";

/** Re-reads the configuration with `load` and hands it to `dynamic`; never throws. */
export function reloadConfig(
  load: () => BrokerConfig,
  dynamic: DynamicBrokerConfig,
  logger: Logger,
): void {
  try {
    const { changed, needRestart } = dynamic.reloadFile(load());
    logger.info("re-read the configuration file", { changed });
    if (needRestart.length > 0) {
      logger.warn(
        `Cannot apply ${needRestart.join(", ")} from the re-read file as ` +
          `${needRestart.length === 1 ? "it is" : "they are"} static: restart the broker`,
        { keys: needRestart },
      );
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      logger.error("kept the running configuration as the re-read file is invalid", {
        problems: err.problems.map(formatProblem),
      });
    } else if (err instanceof ConfigUpdateError) {
      logger.error(`kept the running configuration: ${err.message}`);
    } else {
      throw err;
    }
  }
}

/** Calls {@linkcode reloadConfig} on every SIGHUP until disposed. */
export function reloadOnSighup(
  load: () => BrokerConfig,
  dynamic: DynamicBrokerConfig,
  logger: Logger,
): Disposable {
  const handler = () => reloadConfig(load, dynamic, logger);
  Deno.addSignalListener("SIGHUP", handler);
  return { [Symbol.dispose]: () => Deno.removeSignalListener("SIGHUP", handler) };
}
