/**
 * The scaling commands of `rustmq admin`:
 *
 * - `decommission-broker <id> [--wait]`: drain a broker; with `--wait`, print a progress line
 *   whenever it changes until the broker holds nothing;
 * - `cancel-decommission <id>`: stop draining (moves under way finish), or return a
 *   decommissioned broker to service;
 * - `rebalance [--topics a,b] [--dry-run] [--max-concurrent-moves N] [--wait]`: show the plan
 *   (`BALANCE_PARTITIONS`), then, unless `--dry-run`, run it;
 * - `rebalance-status`, `cancel-rebalance`.
 *
 * @module
 */

import {
  type CommandIo,
  EXIT_FAILURE,
  EXIT_OK,
  type OptionValues,
  stringOpt,
  UsageError,
} from "../config/cli.ts";
import type { AdminClient } from "./admin_client.ts";
import { table } from "./format.ts";

type _Json = Record<string, unknown>;

/** The commands this file serves. */
export const SCALING_COMMANDS: ReadonlySet<string> = new Set([
  "decommission-broker",
  "cancel-decommission",
  "rebalance",
  "rebalance-status",
  "cancel-rebalance",
]);

/** Poll interval of `--wait`. */
const _POLL_MS = 500;

interface _Ctx {
  client: AdminClient;
  values: OptionValues;
  io: CommandIo;
  print: (value: unknown, human: () => string) => void;
}

/** Runs one of {@linkcode SCALING_COMMANDS}. */
export async function runScalingCommand(
  command: string,
  args: string[],
  ctx: _Ctx,
): Promise<number> {
  switch (command) {
    case "decommission-broker":
      return await _decommission(_brokerId(args, "decommission-broker <id> [--wait]"), ctx);
    case "cancel-decommission": {
      const id = _brokerId(args, "cancel-decommission <id>");
      const r = await ctx.client.request("DELETE", `/api/v1/brokers/${id}/decommission`) as _Json;
      ctx.print(
        r,
        () => `Broker ${id} is ${r.state} (${r.replicas} replica(s), ${r.leaders} leader(s))\n`,
      );
      return EXIT_OK;
    }
    case "rebalance":
      return await _rebalance(args, ctx);
    case "rebalance-status": {
      const r = await ctx.client.request("GET", "/api/v1/rebalance") as _Json;
      ctx.print(r, () => _jobLine(r) + "\n");
      return EXIT_OK;
    }
    case "cancel-rebalance": {
      const r = await ctx.client.request("DELETE", "/api/v1/rebalance") as _Json;
      ctx.print(r, () => _jobLine(r) + "\n");
      return EXIT_OK;
    }
    default:
      throw new UsageError(`unknown admin command '${command}'`);
  }
}

function _brokerId(args: string[], usage: string): number {
  if (args.length !== 1 || !/^\d+$/.test(args[0]!)) {
    throw new UsageError(`usage: rustmq admin ${usage}`);
  }
  return Number(args[0]);
}

function _waitDeadline(values: OptionValues): number {
  const raw = stringOpt(values, "wait-timeout-ms") ?? "3600000";
  const ms = Number(raw);
  if (!/^\d+$/.test(raw) || ms < 1) {
    throw new UsageError(`--wait-timeout-ms expects a positive integer: current value is '${raw}'`);
  }
  return Date.now() + ms;
}

function _drainLine(r: _Json): string {
  const moving = (r.moving as string[] | undefined) ?? [];
  const blocked = (r.blocked as _Json[] | undefined) ?? [];
  return `broker ${r.node_id}: ${r.state}, ${r.replicas} replica(s) and ${r.leaders} leadership(s) left` +
    `, ${moving.length} moving` +
    (blocked.length > 0 ? `, ${blocked.length} blocked: ${blocked[0]!.reason}` : "");
}

async function _decommission(id: number, ctx: _Ctx): Promise<number> {
  const { client, values, io } = ctx;
  let r = await client.request("POST", `/api/v1/brokers/${id}/decommission`) as _Json;
  if (values.wait !== true) {
    ctx.print(r, () => `Decommissioning broker ${id}: ${_drainLine(r)}\n`);
    return EXIT_OK;
  }
  const deadline = _waitDeadline(values);
  let last = "";
  while (true) {
    const line = _drainLine(r);
    if (line !== last) io.out(line + "\n");
    last = line;
    if (r.state === "decommissioned") return EXIT_OK;
    if (r.state === "active") {
      io.err(`rustmq admin: the decommission of broker ${id} was cancelled\n`);
      return EXIT_FAILURE;
    }
    if (Date.now() > deadline) {
      io.err(`rustmq admin: broker ${id} is still draining; it continues in the background\n`);
      return EXIT_FAILURE;
    }
    await new Promise((res) => setTimeout(res, _POLL_MS));
    r = await client.request("GET", `/api/v1/brokers/${id}/decommission`) as _Json;
  }
}

function _planText(r: _Json): string {
  const brokers = (r.brokers as _Json[] | undefined) ?? [];
  const moves = (r.moves as _Json[] | undefined) ?? [];
  const blocked = (r.blocked as _Json[] | undefined) ?? [];
  return table(
    ["BROKER", "REPLICAS", "LEADERS"],
    brokers.map((b) => [
      b.node_id,
      `${b.replicas_before} -> ${b.replicas_after}`,
      `${b.leaders_before} -> ${b.leaders_after}`,
    ]),
  ) +
    (moves.length === 0 ? "No moves: the cluster is balanced\n" : table(
      ["TOPIC", "PARTITION", "FROM", "TO", "KIND"],
      moves.map((m) => [m.topic, m.partition, m.from, m.to, m.kind]),
    )) + blocked.map((b) => `blocked ${b.topic}-${b.partition}: ${b.reason}\n`).join("");
}

function _jobLine(j: _Json): string {
  return `rebalance ${j.id}: ${j.state}, ${j.moves_done}/${j.moves_total} done, ${j.moves_pending} pending, ` +
    `${j.moves_timed_out} timed out, ${j.moves_skipped} skipped`;
}

async function _rebalance(args: string[], ctx: _Ctx): Promise<number> {
  const { client, values, io } = ctx;
  if (args.length !== 0) {
    throw new UsageError(
      "usage: rustmq admin rebalance [--topics a,b] [--dry-run] [--max-concurrent-moves N] [--wait]",
    );
  }
  const topics = stringOpt(values, "topics");
  const maxRaw = stringOpt(values, "max-concurrent-moves");
  if (maxRaw !== undefined && !/^\d+$/.test(maxRaw)) {
    throw new UsageError(
      `--max-concurrent-moves expects a positive integer: current value is '${maxRaw}'`,
    );
  }
  const body = {
    strategy: "BALANCE_PARTITIONS",
    dry_run: values["dry-run"] === true,
    ...(topics === undefined
      ? {}
      : { topic_names: topics.split(",").map((t) => t.trim()).filter((t) => t) }),
    ...(maxRaw === undefined ? {} : { max_concurrent_moves: Number(maxRaw) }),
  };
  const r = await client.request("POST", "/api/v1/rebalance", body) as _Json;
  if (body.dry_run || values.wait !== true) {
    ctx.print(r, () =>
      (body.dry_run ? "Plan (dry run):\n" : "Plan (started):\n") + _planText(r) +
      (r.job ? _jobLine(r.job as _Json) + "\n" : ""));
    return EXIT_OK;
  }
  io.out("Plan:\n" + _planText(r));
  const deadline = _waitDeadline(values);
  let last = "";
  while (true) {
    const j = await client.request("GET", "/api/v1/rebalance") as _Json;
    const line = _jobLine(j);
    if (line !== last) io.out(line + "\n");
    last = line;
    if (j.state !== "running") return j.state === "finished" ? EXIT_OK : EXIT_FAILURE;
    if (Date.now() > deadline) {
      io.err("rustmq admin: the rebalance is still running; it continues in the background\n");
      return EXIT_FAILURE;
    }
    await new Promise((res) => setTimeout(res, _POLL_MS));
  }
}
