import assert from "node:assert/strict";
import { Counter } from "prom-client";
import { createOpsApp, serveOps } from "./ops_server.ts";
import { silentLogger } from "./logger.ts";

Deno.test("serveOps answers /health, /ready and /metrics over real HTTP", async () => {
  const { app, registry } = createOpsApp({ role: "broker", version: "9.9.9" });
  const counter = new Counter({ name: "rustmq_test_total", help: "test", registers: [registry] });
  counter.inc(3);
  await using server = serveOps(app, { hostname: "127.0.0.1", port: 0 }, silentLogger);
  const base = `http://127.0.0.1:${server.port}`;

  const health = await fetch(`${base}/health`);
  assert.equal(health.status, 200);
  assert.match(health.headers.get("content-type") ?? "", /application\/json/);
  const body = await health.json();
  assert.equal(body.status, "ok");
  assert.equal(body.role, "broker");
  assert.equal(body.version, "9.9.9");

  const ready = await fetch(`${base}/ready`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { ready: true, failing: {} });

  const metrics = await fetch(`${base}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get("content-type") ?? "", /text\/plain/);
  const text = await metrics.text();
  assert.match(text, /^rustmq_test_total 3$/m);
  assert.match(text, /^rustmq_process_cpu_seconds_total /m);
  assert.match(text, /^rustmq_nodejs_heap_size_total_bytes /m);
});

Deno.test("createOpsApp /ready is 503 and names the failing check", async () => {
  let walReady = false;
  const { app } = createOpsApp({
    role: "broker",
    version: "0",
    readiness: { wal: () => (walReady ? null : "recovering") },
  });
  const res = await app.request("/ready");
  assert.equal(res.status, 503);
  assert.deepEqual(await res.json(), { ready: false, failing: { wal: "recovering" } });
  walReady = true;
  assert.equal((await app.request("/ready")).status, 200);
});
