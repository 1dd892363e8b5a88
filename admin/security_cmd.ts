/**
 * `rustmq admin users create|delete|list` and `rustmq admin acls add|remove|list`, over the
 * controller's `/api/v1/users` and `/api/v1/acls`.
 *
 * The password never appears on the command line (where `ps` and shell history would show
 * it): it is read from an environment variable (`RUSTMQ_USER_PASSWORD`, or the one
 * `--password-env` names) or, with `--password-stdin`, from the first line of standard input.
 * It is never printed.
 *
 * @module
 */

import { EXIT_OK, type OptionValues, stringOpt, UsageError } from "../config/cli.ts";
import type { AdminClient } from "./admin_client.ts";
import { table } from "./format.ts";

type _Print = (value: unknown, human: () => string) => void;

/** What the security commands need from `rustmq admin`. */
export interface SecurityCommandContext {
  readonly client: AdminClient;
  readonly values: OptionValues;
  readonly print: _Print;
  /** Reads standard input (replaced in tests). */
  readonly readStdin?: () => Promise<string>;
  /** Reads an environment variable (replaced in tests). */
  readonly env?: (name: string) => string | undefined;
}

/** The default environment variable holding a new user's password. */
export const PASSWORD_ENV_DEFAULT = "RUSTMQ_USER_PASSWORD";

type _User = { name: string; mechanisms: { mechanism: string; iterations: number }[] };
type _Acl = Record<string, string>;

/** Runs `users <create|delete|list>`. */
export async function runUsersCommand(args: string[], ctx: SecurityCommandContext) {
  const [sub, ...rest] = args;
  const { client, values, print } = ctx;
  switch (sub) {
    case "create": {
      const [name] = _args(rest, 1, "users create <name> [--mechanism M] [--iterations N]");
      const password = await _password(ctx);
      const iterations = stringOpt(values, "iterations");
      const body = {
        name,
        mechanism: stringOpt(values, "mechanism") ?? "SCRAM-SHA-512",
        password,
        ...(iterations === undefined ? {} : { iterations: _int(iterations, "--iterations") }),
      };
      const r = await client.request("POST", "/api/v1/users", body) as _Json;
      print(
        r,
        () => `Created ${r.mechanism} credential for user ${r.name} (${r.iterations} iterations)\n`,
      );
      return EXIT_OK;
    }
    case "delete": {
      const [name] = _args(rest, 1, "users delete <name> [--mechanism M]");
      const m = stringOpt(values, "mechanism");
      const q = m === undefined ? "" : `?mechanism=${encodeURIComponent(m)}`;
      const r = await client.request(
        "DELETE",
        `/api/v1/users/${encodeURIComponent(name!)}${q}`,
      ) as {
        removed: string[];
      };
      print(r, () => `Deleted user ${name}: ${r.removed.join(", ")}\n`);
      return EXIT_OK;
    }
    case "list": {
      _args(rest, 0, "users list");
      const r = await client.request("GET", "/api/v1/users") as { users: _User[] };
      print(r, () =>
        table(
          ["NAME", "MECHANISMS"],
          r.users.map((u) => [u.name, u.mechanisms.map((m) => `${m.mechanism}(${m.iterations})`)]),
        ));
      return EXIT_OK;
    }
    default:
      throw new UsageError("usage: rustmq admin users create|delete|list");
  }
}

/** Runs `acls <add|remove|list>`. */
export async function runAclsCommand(args: string[], ctx: SecurityCommandContext) {
  const [sub, ...rest] = args;
  const { client, values, print } = ctx;
  switch (sub) {
    case "add": {
      _args(
        rest,
        0,
        "acls add --principal User:NAME --operation OP (--topic T | --group G | --cluster | --transactional-id X)",
      );
      const body = _aclBody(values);
      const r = await client.request("POST", "/api/v1/acls", body) as { created: number };
      print(r, () => r.created === 0 ? "The ACL already exists\n" : `Added ${r.created} ACL\n`);
      return EXIT_OK;
    }
    case "remove": {
      _args(rest, 0, "acls remove [filter options]");
      const q = _aclQuery(values);
      if (q === "") {
        throw new UsageError(
          "acls remove needs at least one filter option (--principal, --topic, ...)",
        );
      }
      const r = await client.request("DELETE", `/api/v1/acls?${q}`) as { removed: _Acl[] };
      print(
        r,
        () =>
          `Removed ${r.removed.length} ACL(s)\n` + (r.removed.length ? _aclTable(r.removed) : ""),
      );
      return EXIT_OK;
    }
    case "list": {
      _args(rest, 0, "acls list [filter options]");
      const q = _aclQuery(values);
      const r = await client.request("GET", `/api/v1/acls${q === "" ? "" : `?${q}`}`) as {
        acls: _Acl[];
      };
      print(r, () => _aclTable(r.acls));
      return EXIT_OK;
    }
    default:
      throw new UsageError("usage: rustmq admin acls add|remove|list");
  }
}

type _Json = Record<string, unknown>;

async function _password(ctx: SecurityCommandContext): Promise<string> {
  if (ctx.values["password-stdin"] === true) {
    const text = await (ctx.readStdin ?? _readStdin)();
    const line = text.split(/\r?\n/)[0] ?? "";
    if (line === "") throw new UsageError("--password-stdin read an empty password");
    return line;
  }
  const name = stringOpt(ctx.values, "password-env") ?? PASSWORD_ENV_DEFAULT;
  const value = (ctx.env ?? ((n: string) => Deno.env.get(n)))(name);
  if (value === undefined || value === "") {
    throw new UsageError(
      `users create reads the password from $${name} (or the first line of stdin with --password-stdin); it is not set`,
    );
  }
  return value;
}

async function _readStdin(): Promise<string> {
  return await new Response(Deno.stdin.readable).text();
}

/** The resource an ACL command names: exactly one of --topic, --group, --cluster, --transactional-id. */
function _resource(values: OptionValues, required: boolean): { type: string; name: string } | null {
  const found: { type: string; name: string }[] = [];
  const topic = stringOpt(values, "topic");
  const group = stringOpt(values, "group");
  const txn = stringOpt(values, "transactional-id");
  if (topic !== undefined) found.push({ type: "Topic", name: topic });
  if (group !== undefined) found.push({ type: "Group", name: group });
  if (values.cluster === true) found.push({ type: "Cluster", name: "kafka-cluster" });
  if (txn !== undefined) found.push({ type: "TransactionalId", name: txn });
  if (found.length > 1) {
    throw new UsageError("name one resource: --topic, --group, --cluster or --transactional-id");
  }
  if (found.length === 0 && required) {
    throw new UsageError(
      "acls add needs a resource: --topic T, --group G, --cluster or --transactional-id X",
    );
  }
  return found[0] ?? null;
}

function _aclBody(values: OptionValues): Record<string, string> {
  const r = _resource(values, true)!;
  const principal = stringOpt(values, "principal");
  const operation = stringOpt(values, "operation");
  if (principal === undefined) throw new UsageError("acls add needs --principal User:NAME");
  if (operation === undefined) {
    throw new UsageError("acls add needs --operation (Read, Write, ..., All)");
  }
  return {
    resource_type: r.type,
    resource_name: r.name,
    pattern_type: stringOpt(values, "pattern") ?? "LITERAL",
    principal,
    host: stringOpt(values, "host") ?? "*",
    operation,
    permission: stringOpt(values, "permission") ?? "Allow",
  };
}

function _aclQuery(values: OptionValues): string {
  const q = new URLSearchParams();
  const r = _resource(values, false);
  if (r !== null) {
    q.set("resource_type", r.type);
    q.set("resource_name", r.name);
  }
  for (
    const [opt, key] of [
      ["pattern", "pattern_type"],
      ["principal", "principal"],
      ["host", "host"],
      ["operation", "operation"],
      ["permission", "permission"],
    ]
  ) {
    const v = stringOpt(values, opt!);
    if (v !== undefined) q.set(key!, v);
  }
  return q.toString();
}

function _aclTable(acls: readonly _Acl[]): string {
  return table(
    ["PRINCIPAL", "PERMISSION", "OPERATION", "RESOURCE", "NAME", "PATTERN", "HOST"],
    acls.map((a) => [
      a.principal,
      a.permission,
      a.operation,
      a.resource_type,
      a.resource_name,
      a.pattern_type,
      a.host,
    ]),
  );
}

function _args(args: string[], n: number, usage: string): string[] {
  if (args.length !== n) throw new UsageError(`usage: rustmq admin ${usage}`);
  return args;
}

function _int(raw: string, name: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n)) {
    throw new UsageError(`${name} must be an integer: current value is '${raw}'`);
  }
  return n;
}
