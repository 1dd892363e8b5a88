/**
 * The `rustmq` executable: parses the command line and starts a role. Each role lives in its
 * own folder; this file only dispatches.
 *
 * @module
 */

import { type Command, type CommandIo, EXIT_FAILURE, runCli } from "./config/cli.ts";
import { VERSION } from "./config/version.ts";
import { standaloneCommand } from "./broker/standalone_cmd.ts";
import { brokerCommand } from "./broker/broker_cmd.ts";
import { controllerCommand } from "./controller/controller_cmd.ts";
import { adminCommand } from "./admin/admin_cmd.ts";
import { produceCommand } from "./client/cli/produce_cmd.ts";
import { consumeCommand } from "./client/cli/consume_cmd.ts";
import { benchCommand } from "./client/cli/bench_cmd.ts";
import { subscriberCommand } from "./subscriber/subscriber_cmd.ts";
import { usersCommand } from "./broker/security/users_cmd.ts";

/** Every subcommand, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [
  standaloneCommand,
  brokerCommand,
  controllerCommand,
  adminCommand,
  produceCommand,
  consumeCommand,
  benchCommand,
  subscriberCommand,
  usersCommand,
];

/**
 * What the user reads when a command fails with an error no command turned into a message:
 * the message and its causes, one per line, without a stack trace unless `debug` (set
 * `RUSTMQ_DEBUG=1`) asks for one.
 *
 * @example
 * ```ts
 * import { describeFailure } from "./main.ts";
 * const text = describeFailure(new Error("Cannot bind", { cause: new Error("in use") }), false);
 * if (text !== "rustmq: Cannot bind\n  caused by: in use\n") throw new Error(text);
 * ```
 */
export function describeFailure(err: unknown, debug: boolean): string {
  if (!(err instanceof Error)) return `rustmq: ${String(err)}\n`;
  if (debug) return `rustmq: ${err.stack ?? err.message}\n`;
  let text = `rustmq: ${err.message}\n`;
  for (let c = err.cause, depth = 0; c !== undefined && depth < 5; depth++) {
    text += `  caused by: ${c instanceof Error ? c.message : String(c)}\n`;
    c = c instanceof Error ? c.cause : undefined;
  }
  return text;
}

function _stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => resolve();
    Deno.addSignalListener("SIGINT", stop);
    if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", stop);
  });
}

if (import.meta.main) {
  const enc = new TextEncoder();
  const io: CommandIo = {
    out: (t) => Deno.stdout.writeSync(enc.encode(t)),
    err: (t) => Deno.stderr.writeSync(enc.encode(t)),
    stopSignal: _stopSignal(),
  };
  let code: number;
  try {
    code = await runCli(Deno.args, { program: "rustmq", version: VERSION, commands: COMMANDS }, io);
  } catch (err) {
    io.err(describeFailure(err, Deno.env.get("RUSTMQ_DEBUG") === "1"));
    code = EXIT_FAILURE;
  }
  Deno.exit(code);
}
