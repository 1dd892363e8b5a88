/**
 * The command-line framework shared by every `rustmq` subcommand: option specs for
 * `node:util` `parseArgs`, generated `--help` text, and one rule for usage errors (print the
 * usage, exit 2). Commands return an exit code instead of calling `Deno.exit`, so tests run them
 * in-process.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";

/** Exit status of a successful command. */
export const EXIT_OK = 0;
/** Exit status of a command that failed while running. */
export const EXIT_FAILURE = 1;
/** Exit status of a usage or configuration error. */
export const EXIT_USAGE = 2;

/** One option of a subcommand. */
export interface OptionSpec {
  readonly type: "string" | "boolean";
  readonly short?: string;
  readonly multiple?: boolean;
  readonly default?: string | boolean;
  /** Value placeholder in help text, such as `FILE`. */
  readonly arg?: string;
  readonly help: string;
}

/** Parsed option values. */
export type OptionValues = Record<string, string | boolean | string[] | boolean[] | undefined>;

/** Where a command writes. */
export interface CommandIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM). */
  readonly stopSignal: Promise<void>;
}

/** A subcommand of `rustmq`. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  /** The positional arguments, as shown in usage, e.g. `<name> <partitions>`. */
  readonly positionals?: string;
  /** Extra lines of help after the options. */
  readonly details?: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Whether unknown positionals are allowed (for commands with sub-subcommands). */
  readonly allowPositionals?: boolean;
  run(values: OptionValues, positionals: string[], io: CommandIo): Promise<number>;
}

/** Thrown by a command when its arguments are wrong; the runner prints usage and exits 2. */
export class UsageError extends Error {
  readonly code = "USAGE";
  readonly retriable = false;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}

/** Thrown by a command for a failure the user can fix; the runner prints the message, no stack, and exits 1. */
export class CommandFailure extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CommandFailure";
  }
}

/** Renders the `--help` text of one command. */
export function commandUsage(program: string, cmd: Command): string {
  const lines = [
    `Usage: ${program} ${cmd.name} [options]${cmd.positionals ? " " + cmd.positionals : ""}`,
    "",
    cmd.summary,
    "",
    "Options:",
  ];
  const entries = Object.entries({ ...cmd.options, help: _HELP });
  const left = entries.map(([name, o]) =>
    `  ${o.short ? `-${o.short}, ` : "    "}--${name}${o.arg ? ` ${o.arg}` : ""}`
  );
  const width = Math.max(...left.map((l) => l.length)) + 2;
  entries.forEach(([, o], i) => {
    const def = o.default !== undefined && o.default !== false ? ` (default: ${o.default})` : "";
    lines.push(left[i]!.padEnd(width) + o.help + def);
  });
  if (cmd.details) lines.push("", cmd.details);
  return lines.join("\n") + "\n";
}

const _HELP: OptionSpec = { type: "boolean", short: "h", help: "Show this help" };

/** Renders the top-level usage. */
export function programUsage(
  program: string,
  version: string,
  commands: readonly Command[],
): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 4;
  return [
    `${program} ${version}: a Kafka-compatible message queue on object storage`,
    "",
    `Usage: ${program} <command> [options]`,
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "Options:",
    "  -h, --help       Show this help (or a command's, after the command)",
    "  -V, --version    Print the version",
    "",
    `Run '${program} <command> --help' for a command's options.`,
    "",
  ].join("\n");
}

/**
 * Parses `argv` and runs the matching command. Returns the exit code.
 *
 * @example
 * ```ts
 * import { runCli, EXIT_USAGE } from "./cli.ts";
 * import assert from "node:assert/strict";
 * let err = "";
 * const io = { out: () => {}, err: (t: string) => { err += t; }, stopSignal: new Promise<void>(() => {}) };
 * assert.equal(await runCli(["bogus"], { program: "rustmq", version: "0", commands: [] }, io), EXIT_USAGE);
 * assert.match(err, /unknown command 'bogus'/);
 * ```
 */
export async function runCli(
  argv: readonly string[],
  app: { program: string; version: string; commands: readonly Command[] },
  io: CommandIo,
): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "-h" || first === "--help" || first === "help") {
    (first === undefined ? io.err : io.out)(programUsage(app.program, app.version, app.commands));
    return first === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (first === "-V" || first === "--version" || first === "version") {
    io.out(`${app.program} ${app.version}\n`);
    return EXIT_OK;
  }
  const cmd = app.commands.find((c) => c.name === first);
  if (cmd === undefined) {
    io.err(
      `error: unknown command '${first}'\n\n${
        programUsage(app.program, app.version, app.commands)
      }`,
    );
    return EXIT_USAGE;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: [...rest],
      options: _toParseArgs({ ...cmd.options, help: _HELP }),
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    io.err(`error: ${(err as Error).message}\n\n${commandUsage(app.program, cmd)}`);
    return EXIT_USAGE;
  }
  if ((parsed.values as OptionValues).help === true) {
    io.out(commandUsage(app.program, cmd));
    return EXIT_OK;
  }
  try {
    return await cmd.run(parsed.values as OptionValues, parsed.positionals, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}\n\n${commandUsage(app.program, cmd)}`);
      return EXIT_USAGE;
    }
    if (err instanceof CommandFailure) {
      io.err(`${app.program} ${cmd.name}: ${err.message}\n`);
      return EXIT_FAILURE;
    }
    throw err;
  }
}

function _toParseArgs(options: Readonly<Record<string, OptionSpec>>): ParseArgsConfig["options"] {
  const out: NonNullable<ParseArgsConfig["options"]> = {};
  for (const [name, o] of Object.entries(options)) {
    out[name] = {
      type: o.type,
      ...(o.short ? { short: o.short } : {}),
      ...(o.multiple ? { multiple: true } : {}),
      ...(o.default !== undefined ? { default: o.default } : {}),
    } as NonNullable<ParseArgsConfig["options"]>[string];
  }
  return out;
}

/** Reads a string option, or throws a UsageError when it is required and missing. */
export function stringOpt(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new UsageError(`--${name} expects a value`);
  return v;
}

/** Reads an integer option within bounds, or throws a UsageError naming the option. */
export function intOpt(
  values: OptionValues,
  name: string,
  bounds: { min?: number; max?: number } = {},
): number | undefined {
  const raw = stringOpt(values, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) {
    throw new UsageError(`--${name} expects an integer: current value is '${raw}'`);
  }
  if (bounds.min !== undefined && n < bounds.min) {
    throw new UsageError(`--${name} must be at least ${bounds.min}: current value is ${n}`);
  }
  if (bounds.max !== undefined && n > bounds.max) {
    throw new UsageError(`--${name} must be at most ${bounds.max}: current value is ${n}`);
  }
  return n;
}
