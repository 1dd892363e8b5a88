/**
 * Starts a single-voter {@linkcode Controller} in the test process on free loopback ports.
 *
 * @module
 */

import { loadControllerConfig } from "../../config/load.ts";
import { createLogger } from "../../ops/logger.ts";
import { Controller } from "../../controller/controller.ts";

/** Options of {@linkcode startTestController}. */
export interface TestControllerOptions {
  brokerLeaseMs?: number;
  heartbeatIntervalMs?: number;
  electionTimeoutMs?: number;
  adminToken?: string;
  /** Further controller.toml lines, appended (each in a `[section]` of its own). */
  extraLines?: readonly string[];
}

/** A started controller and its temporary data directory. */
export interface TestController extends AsyncDisposable {
  controller: Controller;
  rpcEndpoint: string;
  httpUrl: string;
}

/** Starts a one-node controller with its data in a temporary directory. */
export async function startTestController(
  options: TestControllerOptions = {},
): Promise<TestController> {
  const dir = await Deno.makeTempDir({ prefix: "rustmq-ctl-" });
  const text = [
    "[controller]",
    'node_id = "c1"',
    'raft_listen = "127.0.0.1:0"',
    'rpc_listen = "127.0.0.1:0"',
    'http_listen = "127.0.0.1:0"',
    `data_dir = "${dir}"`,
    `broker_lease_ms = ${options.brokerLeaseMs ?? 9000}`,
    `admin_token = "${options.adminToken ?? ""}"`,
    "[raft]",
    `peers = ["c1@127.0.0.1:1"]`,
    `election_timeout_ms = ${options.electionTimeoutMs ?? 200}`,
    `heartbeat_interval_ms = ${options.heartbeatIntervalMs ?? 50}`,
    // Tests poll the REST API far faster than the default per-IP budget (30/min).
    "[admin.rate_limiting]",
    "enabled = false",
    ...(options.extraLines ?? []),
  ].join("\n");
  const cfg = loadControllerConfig("test.toml", { text, env: {} });
  const logger = createLogger("controller", { level: "error" });
  const controller = await Controller.start(cfg, { logger });
  const close = async () => {
    await controller.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return {
    controller,
    rpcEndpoint: `127.0.0.1:${controller.addrs.rpcPort}`,
    httpUrl: `http://127.0.0.1:${controller.addrs.httpPort}`,
    [Symbol.asyncDispose]: close,
  };
}
