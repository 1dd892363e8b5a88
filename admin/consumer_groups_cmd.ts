/**
 * `rustmq admin consumer-groups`: list groups, describe one (members, assignments, committed
 * offsets and lag), and reset an inactive group's offsets. Unlike the rest of `rustmq admin`,
 * which talks to the controller's REST API, this speaks the Kafka protocol to a broker through
 * the SDK, so it works against any Kafka-compatible cluster.
 *
 * ```text
 * rustmq admin consumer-groups list [--bootstrap URL] [--json]
 * rustmq admin consumer-groups describe <group> [--bootstrap URL] [--json]
 * rustmq admin consumer-groups reset-offsets <group> --topic T
 *     (--to-earliest | --to-latest | --to-offset N) [--execute] [--bootstrap URL] [--json]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type CommandIo, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "../config/cli.ts";
import {
  type Admin,
  describeLag,
  type GroupDescription,
  type PartitionLag,
  RustMqClient,
} from "../client/mod.ts";
import { table } from "./format.ts";

/** Where the command connects without `--bootstrap`. */
export const DEFAULT_BOOTSTRAP = "tcp://127.0.0.1:9092";

const _USAGE = `usage: rustmq admin consumer-groups <command> [options]
  list                                   list every group with its state
  describe <group>                       members, assignments, committed offsets and lag
  reset-offsets <group> --topic T (--to-earliest | --to-latest | --to-offset N) [--execute]
                                         plan (and with --execute, commit) new offsets;
                                         the group must be inactive (Empty)
options: --bootstrap URL (default ${DEFAULT_BOOTSTRAP}), --json, --timeout-ms MS (default 10000)
`;

class _Usage extends Error {}

interface _Parsed {
  command: string;
  group: string | undefined;
  bootstrap: string;
  json: boolean;
  timeoutMs: number;
  topic: string | undefined;
  to: "earliest" | "latest" | number | undefined;
  execute: boolean;
}

function _parse(args: string[]): _Parsed {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      bootstrap: { type: "string" },
      json: { type: "boolean" },
      "timeout-ms": { type: "string" },
      topic: { type: "string" },
      "to-earliest": { type: "boolean" },
      "to-latest": { type: "boolean" },
      "to-offset": { type: "string" },
      execute: { type: "boolean" },
    },
  });
  const [command, group, ...extra] = positionals;
  if (command === undefined) throw new _Usage("a command is required");
  if (extra.length > 0) throw new _Usage(`unexpected arguments: ${extra.join(" ")}`);
  const timeoutMs = Number(values["timeout-ms"] ?? "10000");
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
    throw new _Usage(
      `--timeout-ms expects a positive integer: current value is '${values["timeout-ms"]}'`,
    );
  }
  const targets = [values["to-earliest"], values["to-latest"], values["to-offset"]]
    .filter((v) => v !== undefined && v !== false);
  if (targets.length > 1) {
    throw new _Usage("give only one of --to-earliest, --to-latest, --to-offset");
  }
  let to: _Parsed["to"];
  if (values["to-earliest"] === true) to = "earliest";
  else if (values["to-latest"] === true) to = "latest";
  else if (values["to-offset"] !== undefined) {
    to = Number(values["to-offset"]);
    if (!/^\d+$/.test(values["to-offset"]) || !Number.isSafeInteger(to)) {
      throw new _Usage(
        `--to-offset expects an offset >= 0: current value is '${values["to-offset"]}'`,
      );
    }
  }
  return {
    command,
    group,
    bootstrap: values.bootstrap ?? DEFAULT_BOOTSTRAP,
    json: values.json === true,
    timeoutMs,
    topic: values.topic,
    to,
    execute: values.execute === true,
  };
}

/**
 * Runs `rustmq admin consumer-groups <args...>` and returns the exit status: 0 on success, 1
 * when the cluster refused or failed, 2 for a usage error.
 *
 * @example
 * ```ts
 * import { runConsumerGroups } from "./consumer_groups_cmd.ts";
 * import assert from "node:assert/strict";
 * let err = "";
 * const io = { out: () => {}, err: (t: string) => (err += t), stopSignal: new Promise<void>(() => {}) };
 * assert.equal(await runConsumerGroups(["frobnicate"], io), 2);
 * assert.match(err, /unknown command/);
 * ```
 */
export async function runConsumerGroups(args: string[], io: CommandIo): Promise<number> {
  let p: _Parsed;
  try {
    p = _parse(args);
    _validate(p);
  } catch (error) {
    if (!(error instanceof _Usage) && !(error instanceof TypeError)) throw error;
    io.err(`rustmq admin consumer-groups: ${error.message}\n${_USAGE}`);
    return EXIT_USAGE;
  }
  let client: RustMqClient | null = null;
  try {
    client = await RustMqClient.connect({
      brokers: [p.bootstrap],
      clientId: "rustmq-admin",
      requestTimeoutMs: p.timeoutMs,
      connectTimeoutMs: p.timeoutMs,
      allowAutoTopicCreation: false,
    });
    return await _dispatch(client.admin(), p, io);
  } catch (error) {
    // Typed SDK and transport errors carry a code; anything else is a bug and propagates.
    if (!(error instanceof Error) || !(error instanceof RangeError || _codeOf(error) !== null)) {
      throw error;
    }
    const code = _codeOf(error);
    io.err(`rustmq admin consumer-groups: ${error.message}${code === null ? "" : ` (${code})`}\n`);
    return EXIT_FAILURE;
  } finally {
    await client?.close();
  }
}

function _codeOf(error: Error): string | null {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : null;
}

function _validate(p: _Parsed): void {
  if (!["list", "describe", "reset-offsets"].includes(p.command)) {
    throw new _Usage(`unknown command '${p.command}'`);
  }
  if (p.command === "list" && p.group !== undefined) throw new _Usage("list takes no group");
  if (p.command !== "list" && (p.group === undefined || p.group === "")) {
    throw new _Usage(`${p.command} needs a group id`);
  }
  if (p.command === "reset-offsets") {
    if (p.topic === undefined) throw new _Usage("reset-offsets needs --topic");
    if (p.to === undefined) {
      throw new _Usage("reset-offsets needs --to-earliest, --to-latest or --to-offset N");
    }
  }
}

async function _dispatch(admin: Admin, p: _Parsed, io: CommandIo): Promise<number> {
  const print = (value: unknown, human: () => string) =>
    io.out(p.json ? JSON.stringify(value, null, 2) + "\n" : human());
  if (p.command === "list") {
    const groups = await admin.listGroups();
    print(
      groups,
      () =>
        table(
          ["GROUP", "STATE", "PROTOCOL TYPE"],
          groups.map((g) => [g.groupId, g.state, g.protocolType]),
        ),
    );
    return EXIT_OK;
  }
  if (p.command === "describe") {
    const group = await admin.describeGroup(p.group!);
    const partitions = await describeLag(admin, group);
    print({ ...group, partitions }, () => _describeText(group, partitions));
    return EXIT_OK;
  }
  const plan = await admin.resetOffsets(p.group!, {
    topic: p.topic!,
    to: p.to!,
    execute: p.execute,
  });
  print({ group: p.group, executed: p.execute, offsets: plan }, () =>
    table(
      ["TOPIC", "PARTITION", "PREVIOUS", "NEW"],
      plan.map((o) => [o.topic, o.partition, o.previous < 0 ? null : o.previous, o.offset]),
    ) + (p.execute ? "Offsets committed.\n" : "Dry run: add --execute to commit these offsets.\n"));
  return EXIT_OK;
}

function _describeText(group: GroupDescription, partitions: PartitionLag[]): string {
  const head = `Group ${group.groupId}: state ${group.state}` +
    (group.protocol === "" ? "" : `, assignor ${group.protocol}`) +
    `, ${group.members.length} member(s)\n\n`;
  const members = group.members.length === 0 ? "" : table(
    ["MEMBER", "CLIENT ID", "HOST", "ASSIGNMENT"],
    group.members.map((m) => [
      m.memberId,
      m.clientId,
      m.clientHost,
      m.assignment.map((tp) => `${tp.topic}/${tp.partition}`).join(","),
    ]),
  ) + "\n";
  const lag = table(
    ["TOPIC", "PARTITION", "COMMITTED", "LOG END", "LAG", "CLIENT ID", "HOST"],
    partitions.map((x) => [x.topic, x.partition, x.committed, x.logEnd, x.lag, x.clientId, x.host]),
  );
  return head + members + lag;
}
