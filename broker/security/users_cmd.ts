/**
 * `rustmq users add|delete|list`: manages SCRAM users in a stopped broker's data directory, to
 * create the first (super) user before SASL is switched on, as Kafka's
 * `kafka-storage format --add-scram` does. A running broker holds the directory's lock, so this
 * refuses to run beside it; a running broker is managed over the Kafka protocol instead
 * (AlterUserScramCredentials / DescribeUserScramCredentials).
 *
 * @module
 */

import {
  type Command,
  CommandFailure,
  EXIT_OK,
  type OptionValues,
  stringOpt,
  UsageError,
} from "../../config/cli.ts";
import { lockDirectory } from "../../ops/dir_lock.ts";
import { fileMetadataPersistence } from "../metadata/local_metadata.ts";
import { securityFilePath } from "./broker_security.ts";
import {
  createCredential,
  SCRAM_ITERATIONS_MAX,
  SCRAM_ITERATIONS_MIN,
  type ScramMechanism,
} from "./scram.ts";
import { SecurityStore } from "./security_store.ts";

const _MECHANISMS: readonly ScramMechanism[] = ["SCRAM-SHA-256", "SCRAM-SHA-512"];

async function _readPassword(values: OptionValues): Promise<string> {
  const given = stringOpt(values, "password");
  if (given !== undefined) return given;
  // One line from stdin, so the password stays out of the shell history and `ps`.
  const text = await new Response(Deno.stdin.readable).text();
  const line = text.split("\n")[0]!.replace(/\r$/, "");
  if (line === "") throw new UsageError("Give the password with --password or on stdin");
  return line;
}

function _mechanisms(values: OptionValues): ScramMechanism[] {
  const m = stringOpt(values, "mechanism");
  if (m === undefined) return [..._MECHANISMS];
  if (!_MECHANISMS.includes(m as ScramMechanism)) {
    throw new UsageError(`--mechanism must be ${_MECHANISMS.join(" or ")}, not ${m}`);
  }
  return [m as ScramMechanism];
}

async function _withStore<T>(dir: string, fn: (s: SecurityStore) => Promise<T>): Promise<T> {
  let lock;
  try {
    lock = await lockDirectory(dir, "broker data");
  } catch (err) {
    throw new CommandFailure(
      `Cannot change users in ${dir} as a broker is using it; stop it, or use the Kafka ` +
        `AlterUserScramCredentials API (${err instanceof Error ? err.message : err})`,
    );
  }
  try {
    return await fn(await SecurityStore.open(fileMetadataPersistence(securityFilePath(dir))));
  } finally {
    lock.release();
  }
}

/** The `users` subcommand. */
export const usersCommand: Command = {
  name: "users",
  summary: "Add, delete or list SCRAM users in a stopped broker's data directory",
  positionals: "add|delete|list [NAME]",
  allowPositionals: true,
  options: {
    data: { type: "string", short: "d", arg: "DIR", default: "./data", help: "Data directory" },
    mechanism: {
      type: "string",
      arg: "M",
      help: "SCRAM-SHA-256 or SCRAM-SHA-512 (default: both)",
    },
    iterations: { type: "string", arg: "N", default: "8192", help: "PBKDF2 iterations" },
    password: { type: "string", arg: "PASS", help: "Password (default: first line of stdin)" },
  },
  details: "Passwords are stored only as salted SCRAM keys (RFC 5802); PLAIN logins are checked\n" +
    "against the same keys.",
  async run(values, positionals, io) {
    const [verb, name] = positionals;
    const dir = stringOpt(values, "data") ?? "./data";
    if (verb === "list") {
      const users = await _withStore(dir, (s) => Promise.resolve(s.users()));
      for (const u of users) {
        const creds = u.credentials.map((c) => `${c.mechanism}(${c.iterations})`).join(" ");
        io.out(`${u.user}\t${creds}\n`);
      }
      return EXIT_OK;
    }
    if ((verb !== "add" && verb !== "delete") || name === undefined || name === "") {
      throw new UsageError("Expected: users add NAME | users delete NAME | users list");
    }
    const mechanisms = _mechanisms(values);
    if (verb === "delete") {
      const removed = await _withStore(dir, async (s) => {
        let n = 0;
        for (const m of mechanisms) if (await s.deleteCredential(name, m)) n++;
        return n;
      });
      if (removed === 0) throw new CommandFailure(`Cannot delete ${name} as it has no credential`);
      io.out(`deleted ${removed} credential(s) of ${name}\n`);
      return EXIT_OK;
    }
    const iterations = Number(stringOpt(values, "iterations") ?? "8192");
    if (
      !Number.isInteger(iterations) || iterations < SCRAM_ITERATIONS_MIN ||
      iterations > SCRAM_ITERATIONS_MAX
    ) {
      throw new UsageError(
        `--iterations must be an integer ${SCRAM_ITERATIONS_MIN}-${SCRAM_ITERATIONS_MAX}`,
      );
    }
    const password = await _readPassword(values);
    await _withStore(dir, async (s) => {
      for (const m of mechanisms) {
        const salt = crypto.getRandomValues(new Uint8Array(32));
        await s.upsertCredential(name, m, await createCredential(m, password, salt, iterations));
      }
    });
    io.out(`added ${name} (${mechanisms.join(", ")}, ${iterations} iterations)\n`);
    return EXIT_OK;
  },
};
