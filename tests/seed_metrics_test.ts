/**
 * The seed's metric names on a running broker's /metrics, with values that follow real traffic
 * (kafkajs produce and consume), and ops/prometheus/alerts.yaml and the Grafana dashboard
 * (ops/grafana/rustmq-dashboard.json) naming only exported metrics.
 */

import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { Kafka, logLevel } from "kafkajs";
import { startTestBroker } from "./support/in_process_broker.ts";

const SEED = [
  "messages_produced_total",
  "messages_consumed_total",
  "produce_latency_seconds",
  "consume_latency_seconds",
  "wal_size_bytes",
  "cache_hit_ratio",
  "object_storage_upload_rate",
  "replication_lag",
  "in_sync_replicas_count",
];

/** Sample values by metric name (labels dropped, values summed). */
function _samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)/.exec(line);
    if (m) out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[3]));
  }
  return out;
}

/** Metric names a PromQL expression uses (identifiers not followed by `(`, minus keywords). */
function _metricNames(expr: string): string[] {
  // Label matchers, ranges and grouping clauses name labels, not metrics.
  const noLabels = expr.replace(/\{[^}]*\}/g, "").replace(/\[[^\]]*\]/g, "")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "");
  const keywords = new Set(["bool", "offset", "and", "or", "unless"]);
  return [...noLabels.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)]
    .filter((m) => m[2] === undefined && !keywords.has(m[1]!))
    .map((m) => m[1]!);
}

Deno.test({
  name: "seed metrics follow produce and consume, and the alerts name only exported metrics",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using tb = await startTestBroker();
    const kafka = new Kafka({
      brokers: [`127.0.0.1:${tb.port}`],
      clientId: "seed-metrics",
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: "seed",
      messages: Array.from({ length: 7 }, (_, i) => ({ value: `m${i}` })),
    });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: "seed-g" });
    await consumer.connect();
    await consumer.subscribe({ topic: "seed", fromBeginning: true });
    let seen = 0;
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: () => {
          if (++seen === 7) resolve();
          return Promise.resolve();
        },
      });
    });
    await consumer.disconnect();
    const http = tb.broker.addrs.http!;
    const text = await (await fetch(`http://127.0.0.1:${http.port}/metrics`)).text();
    const s = _samples(text);
    for (const name of SEED) {
      assert.ok(text.includes(`# TYPE ${name} `), `${name} is exported`);
    }
    assert.equal(s.get("messages_produced_total"), 7);
    assert.ok(s.get("messages_consumed_total")! >= 7, `${s.get("messages_consumed_total")}`);
    assert.ok(s.get("produce_latency_seconds_count")! >= 1);
    assert.ok(s.get("consume_latency_seconds_count")! >= 1);
    assert.ok(s.get("wal_size_bytes")! > 0);
    // Every partition led here has an ISR of at least the leader itself.
    assert.ok(s.get("in_sync_replicas_count")! >= 1);

    const exported = new Set<string>();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)/gm)) {
      exported.add(m[1]!);
      if (m[2] === "histogram") {
        for (const suffix of ["_bucket", "_sum", "_count"]) exported.add(`${m[1]}${suffix}`);
      }
    }
    const alertsText = await Deno.readTextFile(
      new URL("../ops/prometheus/alerts.yaml", import.meta.url),
    );
    const doc = parseYaml(alertsText) as {
      groups: { rules: { alert: string; expr: string }[] }[];
    };
    const rules = doc.groups.flatMap((g) => g.rules);
    assert.equal(rules.length, 3);
    for (const r of rules) {
      const names = _metricNames(r.expr);
      assert.ok(names.length > 0, `${r.alert} names a metric`);
      for (const n of names) assert.ok(exported.has(n), `${r.alert}: ${n} is not exported`);
    }
    // The Grafana dashboard's queries obey the same rule.
    const dashboard = JSON.parse(
      await Deno.readTextFile(new URL("../ops/grafana/rustmq-dashboard.json", import.meta.url)),
    ) as { panels: { title: string; targets: { expr: string }[] }[] };
    assert.ok(dashboard.panels.length >= SEED.length);
    for (const p of dashboard.panels) {
      for (const target of p.targets) {
        const names = _metricNames(target.expr);
        assert.ok(names.length > 0, `${p.title} names a metric`);
        for (const n of names) assert.ok(exported.has(n), `${p.title}: ${n} is not exported`);
      }
    }
    for (const name of SEED) {
      assert.ok(
        dashboard.panels.some((p) =>
          p.targets.some((t) => _metricNames(t.expr).some((n) => n.startsWith(name)))
        ),
        `the dashboard shows ${name}`,
      );
    }
  },
});
