/**
 * `rustmq admin rolling-restart --exec 'CMD {id}' [--velocity N | --broker-config FILE]
 * [--brokers 1,2,3]`: restarts the brokers one at a time. For each broker it runs the
 * operator's command through `sh -c` with `{id}` replaced by the broker id (for example
 * `kubectl delete pod rustmq-broker-{id}` or `systemctl restart rustmq@{id}`), waits until
 * the broker has registered again (a new broker epoch) and every partition's ISR is whole, and
 * starts the next one no sooner than `operations.upgrade_velocity` allows (brokers per minute).
 * A broker stopped with SIGTERM hands its leaderships away first (controlled shutdown), so
 * producers at acks=all only pause for the leadership move. At the end, leaders go back to
 * their preferred replicas.
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
import { BROKER_SCHEMA } from "../config/schema.ts";
import { loadBrokerConfig } from "../config/load.ts";
import type { AdminClient } from "./admin_client.ts";

type _Json = Record<string, unknown>;

const _POLL_MS = 250;

/** Brokers per minute from `--velocity`, else `--broker-config`'s `operations.upgrade_velocity`. */
export function velocityOf(values: OptionValues): number {
  const raw = stringOpt(values, "velocity");
  if (raw !== undefined) {
    const spec = BROKER_SCHEMA.operations.upgrade_velocity;
    const [min, max] = [spec.min ?? 1, spec.max ?? 1000];
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      throw new UsageError(
        `--velocity must be an integer within ${min}..${max}: current value is '${raw}'`,
      );
    }
    return n;
  }
  const file = stringOpt(values, "broker-config");
  if (file !== undefined) return loadBrokerConfig(file).operations.upgrade_velocity;
  return BROKER_SCHEMA.operations.upgrade_velocity.default;
}

async function _brokers(client: AdminClient): Promise<_Json[]> {
  return ((await client.request("GET", "/api/v1/brokers")) as { brokers: _Json[] }).brokers;
}

async function _until<T>(
  what: string,
  deadline: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  while (true) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new UsageError(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, _POLL_MS));
  }
}

async function _restartOne(
  client: AdminClient,
  exec: string,
  id: number,
  deadline: number,
  io: CommandIo,
) {
  const before = (await _brokers(client)).find((b) => b.node_id === id)!;
  const t0 = Date.now();
  const cmd = exec.replaceAll("{id}", String(id));
  const run = await new Deno.Command("sh", {
    args: ["-c", cmd],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (run.code !== 0) {
    throw new UsageError(`'${cmd}' exited with ${run.code}; stopping the rolling restart`);
  }
  await _until(`broker ${id} to register again`, deadline, async () => {
    const b = (await _brokers(client)).find((x) => x.node_id === id);
    return b !== undefined && (b.epoch as number) > (before.epoch as number) && b.status === "up"
      ? b
      : undefined;
  });
  const backMs = Date.now() - t0;
  await _until("every ISR to be whole", deadline, async () => {
    const h = await client.request("GET", "/api/v1/cluster/health") as { partitions: _Json };
    return h.partitions.under_replicated === 0 && h.partitions.offline === 0 ? true : undefined;
  });
  io.out(`broker ${id}: back after ${backMs} ms, ISR whole after ${Date.now() - t0} ms\n`);
}

/** Runs `rolling-restart`. */
export async function runRollingRestart(
  client: AdminClient,
  values: OptionValues,
  io: CommandIo,
): Promise<number> {
  const exec = stringOpt(values, "exec");
  if (exec === undefined || !exec.includes("{id}")) {
    throw new UsageError(
      "usage: rustmq admin rolling-restart --exec 'CMD {id}' [--velocity N] [--brokers 1,2]",
    );
  }
  const velocity = velocityOf(values);
  const listed = stringOpt(values, "brokers");
  const all = (await _brokers(client)).filter((b) => b.state !== "decommissioned").map((b) =>
    b.node_id as number
  );
  const ids = listed === undefined ? all : listed.split(",").map((x) => Number(x.trim()));
  const unknown = ids.filter((id) => !all.includes(id));
  if (unknown.length > 0) {
    throw new UsageError(`unknown or decommissioned broker(s): ${unknown.join(",")}`);
  }
  const waitMs = Number(stringOpt(values, "wait-timeout-ms") ?? "600000");
  const paceMs = 60_000 / velocity;
  io.out(`rolling restart of brokers ${ids.join(",")}, at most ${velocity} per minute\n`);
  for (const [i, id] of ids.entries()) {
    const started = Date.now();
    try {
      await _restartOne(client, exec, id, started + waitMs, io);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      io.err(`rustmq admin: broker ${id}: ${err.message}\n`);
      return EXIT_FAILURE;
    }
    const rest = started + paceMs - Date.now();
    if (i < ids.length - 1 && rest > 0) await new Promise((r) => setTimeout(r, rest));
  }
  const r = await client.request("POST", "/api/v1/cluster/preferred-leader-election", {}) as _Json;
  io.out(`rolling restart done; ${r.moved ?? 0} leadership(s) returned to preferred replicas\n`);
  return EXIT_OK;
}
