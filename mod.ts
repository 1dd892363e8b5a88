/**
 * RustMQ's public TypeScript API. Every export is named here explicitly, so each change to what
 * users see shows up in review.
 *
 * @module
 */

export { VERSION } from "./config/version.ts";
export {
  ConfigError,
  type ConfigProblem,
  loadBrokerConfig,
  loadControllerConfig,
} from "./config/load.ts";
export type { BrokerConfig, ControllerConfig } from "./config/schema.ts";
export { createLogger, type Logger, type LogLevel } from "./ops/logger.ts";
