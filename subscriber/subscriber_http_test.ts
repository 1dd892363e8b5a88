import assert from "node:assert/strict";
import { createSubscriberApp } from "./subscriber_http.ts";
import { healthOf, newCounters } from "./sink_metrics.ts";

Deno.test("http: /health follows the sink, /metrics as JSON and Prometheus text", async () => {
  const counters = newCounters();
  let now = 1000;
  let failures = 0;
  const app = createSubscriberApp({
    counters,
    health: () =>
      healthOf({
        nowMs: now,
        startedAtMs: 0,
        lastSuccessMs: 500,
        consecutiveFailures: failures,
        backlog: 3,
        batchesInFlight: 1,
        unhealthyAfterMs: 10_000,
      }),
  });
  let res = await app.request("/health");
  assert.equal(res.status, 200);
  const h = await res.json();
  assert.equal(h.status, "healthy");
  assert.equal(h.last_successful_insert, "1970-01-01T00:00:00.500Z");
  assert.equal(h.backlog, 3);
  failures = 2;
  assert.equal((await (await app.request("/health")).json()).status, "degraded");
  now = 20_000;
  res = await app.request("/health");
  assert.equal(res.status, 503);
  assert.equal((await res.json()).status, "unhealthy");

  counters.rows_inserted = 7;
  counters.insert_latency_ms_sum = 30;
  counters.insert_latency_ms_count = 3;
  const json = await (await app.request("/metrics")).json();
  assert.equal(json.rows_inserted, 7);
  assert.equal(json.insert_latency_ms_avg, 10);
  for (const url of ["/metrics?format=prometheus", "/metrics"]) {
    const r = await app.request(url, { headers: { accept: "text/plain" } });
    const text = await r.text();
    assert.match(text, /^rustmq_subscriber_rows_inserted_total 7$/m);
    assert.match(text, /^rustmq_subscriber_backlog 3$/m);
  }
});
