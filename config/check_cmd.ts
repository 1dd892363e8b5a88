/**
 * `--check` support shared by `rustmq broker` and `rustmq controller`: load a configuration,
 * print every problem, and map the outcome to an exit code.
 *
 * @module
 */

import { EXIT_OK, EXIT_USAGE } from "./cli.ts";
import { ConfigError, formatProblem } from "./load.ts";

/**
 * Runs `load` and reports the outcome. Returns the config, or an exit code when loading failed
 * (or when `checkOnly` is set and it succeeded).
 */
export function loadOrReport<T>(
  load: () => T,
  file: string,
  checkOnly: boolean,
  io: { out: (t: string) => void; err: (t: string) => void },
): T | { exit: number } {
  try {
    const cfg = load();
    if (checkOnly) {
      io.out(`${file}: configuration is valid\n`);
      return { exit: EXIT_OK };
    }
    return cfg;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`${file}: ${err.problems.length} configuration problem(s):\n`);
    for (const p of err.problems) io.err(`  ${formatProblem(p)}\n`);
    return { exit: EXIT_USAGE };
  }
}
