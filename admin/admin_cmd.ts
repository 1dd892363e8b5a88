/**
 * `rustmq admin`: the admin CLI, a client of the controller's REST API.
 *
 * @module
 */

import {
  type Command,
  type CommandIo,
  EXIT_FAILURE,
  EXIT_OK,
  type OptionValues,
  stringOpt,
  UsageError,
} from "../config/cli.ts";
import { AdminApiError, AdminClient } from "./admin_client.ts";
import { table } from "./format.ts";
import { runConsumerGroups } from "./consumer_groups_cmd.ts";
import { runModuleCommand } from "./wasm_modules_cmd.ts";
import { runScalingCommand, SCALING_COMMANDS } from "./scaling_cmd.ts";
import { runRollingRestart } from "./rolling_restart_cmd.ts";
import { runAclsCommand, runUsersCommand } from "./security_cmd.ts";

const DEFAULT_URL = "http://127.0.0.1:9642";

type _Json = Record<string, unknown>;

/** The `admin` subcommand. */
export const adminCommand: Command = {
  name: "admin",
  summary: "Administer a cluster through the controller REST API",
  positionals: "<command> [args...]",
  options: {
    controller: {
      type: "string",
      arg: "URL",
      multiple: true,
      help:
        "Controller REST URL; repeat, or separate with commas, to list several (default: http://127.0.0.1:9642)",
    },
    json: { type: "boolean", help: "Print JSON instead of a table" },
    config: {
      type: "string",
      arg: "K=V",
      multiple: true,
      help: "A topic config for create-topic or alter-topic; repeat for several",
    },
    partitions: { type: "string", arg: "N", help: "alter-topic: grow the topic to N partitions" },
    etl: {
      type: "string",
      arg: "A,B",
      help: "create-topic, alter-topic: the topic's ETL module chain in order ('' clears it)",
    },
    token: {
      type: "string",
      arg: "TOKEN",
      help: "Bearer token for writes (default: $RUSTMQ_ADMIN_TOKEN)",
    },
    "ca-cert": {
      type: "string",
      arg: "FILE",
      help: "PEM CA that signed an https:// controller's certificate " +
        "(security.admin_tls_cert_path; default: $RUSTMQ_ADMIN_CA_CERT)",
    },
    "timeout-ms": {
      type: "string",
      arg: "MS",
      help: "Deadline of one request (default: 5000; consumer-groups: 10000)",
    },
    // The options of `consumer-groups`, which talks to a broker rather than a controller.
    bootstrap: { type: "string", arg: "URL", help: "consumer-groups: broker to connect to" },
    topic: {
      type: "string",
      arg: "T",
      help: "consumer-groups reset-offsets: the topic; acls: a Topic resource",
    },
    "to-earliest": { type: "boolean", help: "consumer-groups reset-offsets: to the log start" },
    "to-latest": { type: "boolean", help: "consumer-groups reset-offsets: to the log end" },
    "to-offset": { type: "string", arg: "N", help: "consumer-groups reset-offsets: to offset N" },
    execute: { type: "boolean", help: "consumer-groups reset-offsets: commit, not just plan" },
    // The options of the scaling commands (scaling_cmd.ts).
    wait: { type: "boolean", help: "decommission-broker, rebalance: wait, printing progress" },
    "wait-timeout-ms": {
      type: "string",
      arg: "MS",
      help: "--wait gives up after MS (default: 3600000)",
    },
    topics: { type: "string", arg: "A,B", help: "rebalance: only these topics" },
    "dry-run": { type: "boolean", help: "rebalance: show the plan, change nothing" },
    exec: { type: "string", arg: "CMD", help: "rolling-restart: command restarting broker {id}" },
    velocity: {
      type: "string",
      arg: "N",
      help: "rolling-restart: brokers per minute (default: 3)",
    },
    "broker-config": {
      type: "string",
      arg: "FILE",
      help: "rolling-restart: read operations.upgrade_velocity from this broker.toml",
    },
    brokers: { type: "string", arg: "A,B", help: "rolling-restart: only these broker ids" },
    // The options of `users` and `acls` (security_cmd.ts).
    mechanism: {
      type: "string",
      arg: "M",
      help: "users: SCRAM-SHA-256 or SCRAM-SHA-512 (create's default: SCRAM-SHA-512)",
    },
    iterations: { type: "string", arg: "N", help: "users create: 4096 to 16384 (default: 8192)" },
    "password-env": {
      type: "string",
      arg: "VAR",
      help: "users create: read the password from $VAR (default: $RUSTMQ_USER_PASSWORD)",
    },
    "password-stdin": {
      type: "boolean",
      help: "users create: read the password from the first line of stdin",
    },
    principal: { type: "string", arg: "User:NAME", help: "acls: the principal" },
    operation: { type: "string", arg: "OP", help: "acls: Read, Write, Create, ..., All" },
    group: { type: "string", arg: "G", help: "acls: a Group resource" },
    cluster: { type: "boolean", help: "acls: the Cluster resource" },
    "transactional-id": { type: "string", arg: "X", help: "acls: a TransactionalId resource" },
    pattern: {
      type: "string",
      arg: "P",
      help: "acls: LITERAL or PREFIXED (add's default: LITERAL); filters may say MATCH",
    },
    permission: { type: "string", arg: "P", help: "acls: Allow or Deny (add's default: Allow)" },
    host: { type: "string", arg: "H", help: "acls: a client address (add's default: *)" },
    "max-concurrent-moves": {
      type: "string",
      arg: "N",
      help: "rebalance: replica moves at once (default: 4)",
    },
  },
  details:
    "Commands: create-topic <name> <partitions> <replication_factor> [--config k=v ...] [--etl a,b],\n" +
    "alter-topic <name> [--config k=v ...] [--partitions N] [--etl a,b],\n" +
    "list-topics, describe-topic <name>, delete-topic <name>, cluster-health, brokers,\n" +
    "elect-preferred-leaders [topic], reassign-partition <topic> <partition> <id,id,...>,\n" +
    "consumer-groups (list | describe <group> | reset-offsets <group> ...; see its help),\n" +
    "deploy-module <name> <file.wasm>, list-modules, describe-module <name>, delete-module <name>,\n" +
    "decommission-broker <id> [--wait], cancel-decommission <id>,\n" +
    "rebalance [--topics a,b] [--dry-run] [--max-concurrent-moves N] [--wait], rebalance-status, cancel-rebalance,\n" +
    "rolling-restart --exec 'CMD {id}' [--velocity N | --broker-config FILE] [--brokers 1,2],\n" +
    "users create <name> [--mechanism M] [--iterations N] [--password-stdin | --password-env VAR],\n" +
    "users delete <name> [--mechanism M], users list,\n" +
    "acls add --principal User:N --operation OP (--topic T | --group G | --cluster | --transactional-id X)\n" +
    "  [--pattern PREFIXED] [--permission Deny] [--host H], acls remove [filters], acls list [filters]\n" +
    "Every --controller URL is tried in turn until one answers.",
  async run(values, positionals, io) {
    const [command, ...args] = positionals;
    if (command === undefined) throw new UsageError("a command is required");
    if (command === "consumer-groups") return await runConsumerGroups(_groupArgs(values, args), io);
    const client = _client(values);
    const json = values.json === true;
    try {
      return await _dispatch(client, command, args, values, json, io);
    } catch (err) {
      if (!(err instanceof AdminApiError)) throw err;
      io.err(`rustmq admin: ${err.message} (${err.code})\n`);
      return EXIT_FAILURE;
    }
  },
};

/** Rebuilds the argument list `consumer-groups` parses itself. */
function _groupArgs(values: OptionValues, args: string[]): string[] {
  const out = [...args];
  for (const name of ["bootstrap", "timeout-ms", "topic", "to-offset"]) {
    const v = stringOpt(values, name);
    if (v !== undefined) out.push(`--${name}`, v);
  }
  for (const name of ["json", "to-earliest", "to-latest", "execute"]) {
    if (values[name] === true) out.push(`--${name}`);
  }
  return out;
}

function _client(values: OptionValues): AdminClient {
  const urls = controllerUrls(values.controller as string[] | undefined);
  const token = stringOpt(values, "token") ?? Deno.env.get("RUSTMQ_ADMIN_TOKEN") ?? "";
  const timeout = stringOpt(values, "timeout-ms");
  const attemptTimeoutMs = timeout === undefined ? 5000 : Number(timeout);
  if (!Number.isInteger(attemptTimeoutMs) || attemptTimeoutMs < 1) {
    throw new UsageError(`--timeout-ms expects a positive integer: current value is '${timeout}'`);
  }
  const caFile = stringOpt(values, "ca-cert") ?? Deno.env.get("RUSTMQ_ADMIN_CA_CERT");
  return new AdminClient({
    urls,
    token,
    attemptTimeoutMs,
    ...(caFile === undefined || caFile === "" ? {} : { fetch: _trustingFetch(caFile) }),
  });
}

/** A fetch that also trusts the CA in `caFile`, for controllers serving HTTPS. */
function _trustingFetch(caFile: string): typeof fetch {
  let ca: string;
  try {
    ca = Deno.readTextFileSync(caFile);
  } catch (err) {
    throw new UsageError(`Cannot read --ca-cert ${caFile}: ${(err as Error).message}`);
  }
  const client = Deno.createHttpClient({ caCerts: [ca] });
  return (input, init) => fetch(input, { ...init, client });
}

/**
 * The controller URLs of repeated `--controller` options, each of which may also hold a
 * comma-separated list.
 *
 * @example
 * ```ts
 * import { controllerUrls } from "./admin_cmd.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(controllerUrls(["http://a:9642, http://b:9642", "http://c:9642"]), [
 *   "http://a:9642", "http://b:9642", "http://c:9642",
 * ]);
 * ```
 */
export function controllerUrls(values: readonly string[] | undefined): string[] {
  const urls = (values ?? []).flatMap((v) => v.split(",")).map((u) => u.trim()).filter((u) =>
    u !== ""
  );
  return urls.length > 0 ? urls : [DEFAULT_URL];
}

function _args(args: string[], n: number, usage: string): string[] {
  if (args.length !== n) throw new UsageError(`usage: rustmq admin ${usage}`);
  return args;
}

async function _dispatch(
  client: AdminClient,
  command: string,
  args: string[],
  values: OptionValues,
  json: boolean,
  io: CommandIo,
): Promise<number> {
  const print = (value: unknown, human: () => string) =>
    io.out(json ? JSON.stringify(value, null, 2) + "\n" : human());
  switch (command) {
    case "create-topic": {
      const [name, p, rf] = _args(args, 3, "create-topic <name> <partitions> <replication_factor>");
      const body = {
        name,
        partitions: _positiveInt(p!, "partitions"),
        replication_factor: _positiveInt(rf!, "replication_factor"),
        configs: _configs(values),
        ..._etlField(values),
      };
      const t = await client.request("POST", "/api/v1/topics", body) as _Json;
      print(
        t,
        () =>
          `Created topic ${t.name}: ${t.partitions} partitions, replication factor ${t.replication_factor}\n`,
      );
      return EXIT_OK;
    }
    case "alter-topic": {
      const [name] = _args(args, 1, "alter-topic <name> [--config k=v ...] [--partitions N]");
      const configs = _configs(values);
      const partitions = values.partitions as string | undefined;
      const etl = _etlField(values);
      if (
        Object.keys(configs).length === 0 && partitions === undefined && !("etl_modules" in etl)
      ) {
        throw new UsageError("alter-topic needs --config k=v, --partitions N or --etl a,b");
      }
      const body = {
        ...(Object.keys(configs).length > 0 ? { configs } : {}),
        ...etl,
        ...(partitions !== undefined ? { partitions: _positiveInt(partitions, "partitions") } : {}),
      };
      const t = await client.request(
        "PUT",
        `/api/v1/topics/${encodeURIComponent(name!)}`,
        body,
      ) as _Json;
      print(t, () => `Altered topic ${name}\n` + _describe(t));
      return EXIT_OK;
    }
    case "list-topics": {
      _args(args, 0, "list-topics");
      const r = await client.request("GET", "/api/v1/topics") as { topics: _Json[] };
      print(r, () =>
        table(
          ["NAME", "PARTITIONS", "REPLICATION"],
          r.topics.map((t) => [t.name, t.partitions, t.replication_factor]),
        ));
      return EXIT_OK;
    }
    case "describe-topic": {
      const [name] = _args(args, 1, "describe-topic <name>");
      const t = await client.request("GET", `/api/v1/topics/${encodeURIComponent(name!)}`) as _Json;
      print(t, () => _describe(t));
      return EXIT_OK;
    }
    case "delete-topic": {
      const [name] = _args(args, 1, "delete-topic <name>");
      const r = await client.request("DELETE", `/api/v1/topics/${encodeURIComponent(name!)}`);
      print(r, () => `Deleted topic ${name}\n`);
      return EXIT_OK;
    }
    case "cluster-health": {
      _args(args, 0, "cluster-health");
      const h = await client.request("GET", "/api/v1/cluster/health") as _Json;
      print(h, () => _health(h));
      return EXIT_OK;
    }
    case "reassign-partition": {
      const [topic, partition, list] = _args(
        args,
        3,
        "reassign-partition <topic> <partition> <id,id,...>",
      );
      const replicas = list!.split(",").map((x) => Number(x.trim()));
      const r = await client.request(
        "POST",
        `/api/v1/topics/${encodeURIComponent(topic!)}/partitions/${Number(partition)}/reassign`,
        { replicas },
      ) as { replicas?: number[]; targetReplicas?: number[] };
      print(
        r,
        () =>
          r.targetReplicas
            ? `Reassigning ${topic}-${partition} to [${r.targetReplicas}]: replicas now [${r.replicas}]\n`
            : `Partition ${topic}-${partition} now has replicas [${r.replicas}]\n`,
      );
      return EXIT_OK;
    }
    case "elect-preferred-leaders": {
      const topic = args[0];
      const r = await client.request(
        "POST",
        "/api/v1/cluster/preferred-leader-election",
        topic === undefined ? {} : { topic },
      ) as { moved?: number };
      print(
        r,
        () => `Moved leadership of ${r.moved ?? 0} partition(s) to their preferred replicas\n`,
      );
      return EXIT_OK;
    }
    case "deploy-module":
    case "list-modules":
    case "describe-module":
    case "delete-module":
      return await runModuleCommand(client, command, args, print);
    case "brokers": {
      _args(args, 0, "brokers");
      const r = await client.request("GET", "/api/v1/brokers") as { brokers: _Json[] };
      print(r, () =>
        table(
          ["ID", "HOST", "PORT", "RACK", "STATUS", "STATE", "REPLICAS", "LEADERS"],
          r.brokers.map((b) => [
            b.node_id,
            b.host,
            b.port,
            b.rack,
            b.status,
            b.state,
            b.replicas,
            b.leaders,
          ]),
        ));
      return EXIT_OK;
    }
    case "rolling-restart":
      return await runRollingRestart(client, values, io);
    case "users":
      return await runUsersCommand(args, { client, values, print });
    case "acls":
      return await runAclsCommand(args, { client, values, print });
    default:
      if (SCALING_COMMANDS.has(command)) {
        return await runScalingCommand(command, args, { client, values, io, print });
      }
      throw new UsageError(`unknown admin command '${command}'`);
  }
}

function _positiveInt(raw: string, name: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`<${name}> must be a positive integer: current value is '${raw}'`);
  }
  return n;
}

function _configs(values: OptionValues): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of (values.config as string[] | undefined) ?? []) {
    const at = kv.indexOf("=");
    if (at <= 0) throw new UsageError(`--config expects key=value: current value is '${kv}'`);
    out[kv.slice(0, at)] = kv.slice(at + 1);
  }
  return out;
}

/** `--etl a,b` as the body's `etl_modules` (null clears the chain). */
function _etlField(values: OptionValues): { etl_modules?: string[] | null } {
  const raw = values.etl as string | undefined;
  if (raw === undefined) return {};
  const names = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
  return { etl_modules: names.length === 0 ? null : names };
}

function _chainLine(t: _Json): string {
  const chain = (t.etl_modules as { name: string; version: number | null }[] | undefined) ?? [];
  if (chain.length === 0) return "";
  const stages = chain.map((m) =>
    `${m.name} (${m.version === null ? "missing" : `v${m.version}`})`
  );
  return `ETL chain: ${stages.join(" -> ")}\n`;
}

function _describe(t: _Json): string {
  const parts = (t.partition_details as _Json[] | undefined) ?? [];
  const configs = Object.entries((t.configs as Record<string, string> | undefined) ?? {});
  return `Topic: ${t.name}  id: ${t.topic_id}  partitions: ${t.partitions}  replication: ${t.replication_factor}\n` +
    table(
      ["PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR"],
      parts.map((p) => [p.partition, p.leader, p.leader_epoch, p.replicas, p.isr]),
    ) +
    _chainLine(t) + "Configs:\n" + configs.map(([k, v]) => `  ${k}=${v}\n`).join("");
}

function _health(h: _Json): string {
  const voters = (h.voters as _Json[] | undefined) ?? [];
  const b = (h.brokers ?? {}) as _Json;
  const p = (h.partitions ?? {}) as _Json;
  return `Status: ${h.status}\nCluster: ${h.cluster_id}\nLeader: ${
    h.leader ?? "none"
  } (term ${h.term})\n` +
    table(
      ["VOTER", "ROLE", "REACHABLE"],
      voters.map((v) => [v.node_id, v.role, v.reachable ? "yes" : "no"]),
    ) +
    `Brokers: ${b.up} up, ${b.down} down\n` +
    `Partitions: ${p.total} total, ${p.offline} offline, ${p.under_replicated} under-replicated\n`;
}
