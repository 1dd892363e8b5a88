/**
 * `[admin]` in controller.toml applied to a running controller's REST API, over a real socket:
 * rate limiting answers 429 with Retry-After, CORS headers are sent, requests are logged, and
 * the probes stay unlimited.
 */

import assert from "node:assert/strict";
import { loadControllerConfig } from "../config/load.ts";
import { createLogger } from "../ops/logger.ts";
import { Controller } from "../controller/controller.ts";
import { tempDir } from "./support/temp_dir.ts";

async function _start(dir: string, extra: string[], sink: (line: string) => void) {
  const text = [
    "[controller]",
    'node_id = "c1"',
    'raft_listen = "127.0.0.1:0"',
    'rpc_listen = "127.0.0.1:0"',
    'http_listen = "127.0.0.1:0"',
    `data_dir = "${dir}"`,
    "[raft]",
    'peers = ["c1@127.0.0.1:1"]',
    "election_timeout_ms = 200",
    "heartbeat_interval_ms = 50",
    ...extra,
  ].join("\n");
  const cfg = loadControllerConfig("t.toml", { text, env: {} });
  const logger = createLogger("controller", { level: "info", sink });
  return await Controller.start(cfg, { logger });
}

Deno.test("admin API: the per-IP limit answers 429 with Retry-After, probes stay open", async () => {
  await using dir = await tempDir("rustmq-ratelimit-");
  const controller = await _start(dir.path, [
    "[admin]",
    "log_requests = false",
    "[admin.rate_limiting]",
    "per_ip_burst_size = 3",
    "per_ip_refill_rate = 6",
  ], () => {});
  try {
    const url = `http://127.0.0.1:${controller.addrs.httpPort}`;
    const statuses: number[] = [];
    let refused: Response | null = null;
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${url}/api/v1/cluster/health`);
      statuses.push(res.status);
      if (res.status === 429) refused ??= res;
      else await res.body?.cancel();
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    // 6 per minute is one token per 10 s.
    const retry = Number(refused!.headers.get("retry-after"));
    assert.ok(retry >= 9 && retry <= 10, `Retry-After: ${retry}`);
    const body = await refused!.json();
    assert.equal(body.error.code, "RATE_LIMITED");
    assert.match(body.error.message, /per_ip rate limit/);
    for (const probe of ["/health", "/ready", "/metrics"]) {
      const res = await fetch(`${url}${probe}`);
      await res.body?.cancel();
      assert.notEqual(res.status, 429, probe);
    }
  } finally {
    await controller.close();
  }
});

Deno.test("admin API: an endpoint limit applies to its path only", async () => {
  await using dir = await tempDir("rustmq-ratelimit-");
  const controller = await _start(dir.path, [
    "[admin]",
    "log_requests = false",
    "[admin.rate_limiting]",
    'endpoints = { "/api/v1/brokers" = { burst_size = 1, refill_rate = 1 } }',
  ], () => {});
  try {
    const url = `http://127.0.0.1:${controller.addrs.httpPort}`;
    const get = async (path: string) => {
      const res = await fetch(`${url}${path}`);
      await res.body?.cancel();
      return res.status;
    };
    assert.equal(await get("/api/v1/brokers"), 200);
    assert.equal(await get("/api/v1/brokers"), 429);
    assert.equal(await get("/api/v1/cluster/health"), 200);
  } finally {
    await controller.close();
  }
});

Deno.test("admin API: CORS headers and request log lines follow [admin]", async () => {
  await using dir = await tempDir("rustmq-ratelimit-");
  const lines: string[] = [];
  const on = await _start(dir.path, [], (l) => lines.push(l));
  try {
    const res = await fetch(`http://127.0.0.1:${on.addrs.httpPort}/api/v1/cluster/health`, {
      headers: { origin: "http://dashboard.example" },
    });
    await res.body?.cancel();
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    assert.ok(
      lines.some((l) => l.includes("admin request") && l.includes("/api/v1/cluster/health")),
      lines.join("\n"),
    );
  } finally {
    await on.close();
  }
  await using dir2 = await tempDir("rustmq-ratelimit-");
  const quiet: string[] = [];
  const off = await _start(
    dir2.path,
    ["[admin]", "enable_cors = false", "log_requests = false"],
    (l) => quiet.push(l),
  );
  try {
    const res = await fetch(`http://127.0.0.1:${off.addrs.httpPort}/api/v1/cluster/health`, {
      headers: { origin: "http://dashboard.example" },
    });
    await res.body?.cancel();
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.ok(!quiet.some((l) => l.includes("admin request")));
  } finally {
    await off.close();
  }
});

Deno.test("admin API: a malformed endpoints table is refused at load, naming the entry", () => {
  const text = '[admin.rate_limiting]\nendpoints = { "/api/v1/topics" = { burst_size = 0 } }\n';
  assert.throws(
    () => loadControllerConfig("t.toml", { text, env: {} }),
    /admin\.rate_limiting\.endpoints.*"\/api\/v1\/topics": expected \{ burst_size = N, refill_rate = N \}/,
  );
});
