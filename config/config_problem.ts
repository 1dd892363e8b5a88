/**
 * A problem found in a configuration, and the error that lists every problem at once. Kept apart
 * from `load.ts` so that the rule checks (`rules.ts`) and the loader do not import each other.
 *
 * @module
 */

/** One problem in a configuration file. */
export interface ConfigProblem {
  /** The file (or `<env>` for an environment override). */
  readonly file: string;
  /** Dotted key, such as `wal.fsync_on_write`. */
  readonly key: string;
  /** The offending value, rendered for humans. */
  readonly value: string;
  /** Why it was rejected. */
  readonly reason: string;
}

/** Thrown when a configuration has one or more problems; `problems` lists all of them. */
export class ConfigError extends Error {
  readonly code = "INVALID_CONFIG";
  readonly retriable = false;
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[], options?: ErrorOptions) {
    super(
      `Cannot load the configuration as it has ${problems.length} problem(s):\n` +
        problems.map(formatProblem).join("\n"),
      options,
    );
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** Renders a problem as one line: `file: key = value: reason`. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}: ${p.key} = ${p.value}: ${p.reason}`;
}
