/**
 * Keys of `broker.toml` and `controller.toml` that nothing applies, and why. No key may be
 * accepted and then ignored: a key is either read by the role that loads it (the inert-key test,
 * `tests/inert_keys_test.ts`, starts each role with a read tracker and checks), or listed here.
 *
 * - {@linkcode REFUSED_KEYS}: validation refuses any value but the default, with the reason given
 *   here, so setting one can never silently do nothing.
 * - {@linkcode DEFERRED_KEYS}: keys another piece of work in progress will apply, named with it.
 *   The inert-key test checks that nothing reads them yet, so the list cannot go stale quietly.
 *
 * Keys are written `file:section.key`, with `file` `broker` or `controller`.
 *
 * @module
 */

import type { ConfigProblem } from "./config_problem.ts";
import type { FileSchema } from "./schema.ts";

const _K8S = "the broker does not deploy itself: set it in the k8s/ manifests (broker StatefulSet)";

const _ON_CONTROLLER =
  "the controller plans and paces partition moves: set it under [scaling] in controller.toml";
const _NO_ADDITIONS =
  "a joining broker gets partitions through `rustmq admin rebalance`; no add-broker workflow reads this yet";

/** Keys that accept only their default, each with the reason a user sees. */
export const REFUSED_KEYS: Readonly<Record<string, string>> = {
  "broker:network.quic_config.max_stream_data":
    "Deno's QUIC API (2.9) has no flow-control window option, so only the default is accepted",
  "broker:network.quic_config.max_connection_data":
    "Deno's QUIC API (2.9) has no flow-control window option, so only the default is accepted",
  "broker:replication.unclean_leader_election":
    "leaders are elected by the controllers: set controller.unclean_leader_election in controller.toml",
  "broker:operations.kubernetes.use_stateful_sets": _K8S,
  "broker:operations.kubernetes.pvc_storage_class": _K8S,
  "broker:operations.kubernetes.wal_volume_size": _K8S,
  "broker:operations.kubernetes.enable_pod_affinity": _K8S,
  "controller:admin.port":
    "the admin REST API is served on controller.http_listen: set the port there",
  "controller:admin.health_check_interval_ms":
    "the controllers track broker liveness by heartbeat leases: set controller.broker_lease_ms",
  "broker:scaling.max_concurrent_additions": _NO_ADDITIONS,
  "broker:scaling.max_concurrent_decommissions": _ON_CONTROLLER,
  "broker:scaling.rebalance_timeout_ms": _ON_CONTROLLER,
  "broker:scaling.traffic_migration_rate": _ON_CONTROLLER,
  "broker:scaling.health_check_timeout_ms": _NO_ADDITIONS,
  "controller:admin.health_timeout_ms":
    "the controllers track broker liveness by heartbeat leases: set controller.broker_lease_ms",
};

/** Keys another change in progress applies; each names that work. None remain. */
export const DEFERRED_KEYS: Readonly<Record<string, string>> = {};

/**
 * One problem per refused key of `file` set to anything but its default.
 *
 * @example
 * ```ts
 * import { refusedKeyProblems } from "./key_use.ts";
 * import { BROKER_SCHEMA } from "./schema.ts";
 * import assert from "node:assert/strict";
 * const cfg = { "network.quic_config": { max_stream_data: 1 } };
 * const [p] = refusedKeyProblems("broker", BROKER_SCHEMA, cfg, "b.toml");
 * assert.equal(p?.key, "network.quic_config.max_stream_data");
 * ```
 */
export function refusedKeyProblems(
  role: "broker" | "controller",
  schema: FileSchema,
  cfg: Readonly<Record<string, Readonly<Record<string, unknown>>>>,
  file: string,
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const [name, reason] of Object.entries(REFUSED_KEYS)) {
    const [r, path] = name.split(":") as [string, string];
    if (r !== role) continue;
    const dot = path.lastIndexOf(".");
    const [section, key] = [path.slice(0, dot), path.slice(dot + 1)];
    const value = cfg[section]?.[key];
    if (value === undefined) continue;
    if (JSON.stringify(value) === JSON.stringify(schema[section]![key]!.default)) continue;
    out.push({
      file,
      key: path,
      value: JSON.stringify(value),
      reason: `is not applied: ${reason}`,
    });
  }
  return out;
}
