import assert from "node:assert/strict";
import { ConfigError } from "../config/load.ts";
import { loadSubscriberConfig } from "./subscriber_config.ts";

const _ENV = {
  GCP_PROJECT_ID: "proj",
  BIGQUERY_DATASET: "ds",
  BIGQUERY_TABLE: "events",
  RUSTMQ_TOPIC: "clicks",
  RUSTMQ_BROKERS: "b1:9092, b2:9092",
  AUTH_METHOD: "none",
  BIGQUERY_API_ENDPOINT: "http://127.0.0.1:9050",
};

function _problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems.map((p) => `${p.key}: ${p.reason}`);
  }
  assert.fail("expected a ConfigError");
}

Deno.test("subscriber config: defaults are the seed's", () => {
  const cfg = loadSubscriberConfig({ env: _ENV });
  assert.deepEqual(cfg.brokers, ["b1:9092", "b2:9092"]);
  assert.equal(cfg.maxRowsPerBatch, 1000);
  assert.equal(cfg.maxBatchSizeBytes, 10_000_000);
  assert.equal(cfg.maxBatchLatencyMs, 1000);
  assert.equal(cfg.maxConcurrentBatches, 10);
  assert.equal(cfg.maxRetries, 3);
  assert.equal(cfg.retryBaseMs, 1000);
  assert.equal(cfg.retryMaxMs, 30000);
  assert.equal(cfg.deadLetterAction, "log");
  assert.equal(cfg.deadLetterTopic, "clicks-dlq");
  assert.equal(cfg.healthListen, "0.0.0.0:8080");
  assert.equal(cfg.schemaMapping, "direct");
});

Deno.test("subscriber config: the seed's TOML file is read, and the environment overrides it", () => {
  const text = `
project_id = "file-proj"
dataset = "file-ds"
table = "file-table"
[write_method.streaming_inserts]
skip_invalid_rows = true
ignore_unknown_values = true
[subscription]
topic = "file-topic"
broker_endpoints = ["f1:9092"]
[schema]
mapping = "custom"
[schema.column_mappings]
user_id = "user.id"
amount = "payment.amount"
[schema.default_values]
ingested_at = "CURRENT_TIMESTAMP()"
source = "web"
`;
  const cfg = loadSubscriberConfig({
    text,
    env: { AUTH_METHOD: "none", BIGQUERY_API_ENDPOINT: "http://x", BIGQUERY_TABLE: "env-table" },
  });
  assert.equal(cfg.projectId, "file-proj");
  assert.equal(cfg.table, "env-table");
  assert.equal(cfg.topic, "file-topic");
  assert.deepEqual(cfg.brokers, ["f1:9092"]);
  assert.equal(cfg.skipInvalidRows, true);
  assert.equal(cfg.ignoreUnknownValues, true);
  assert.equal(cfg.schemaMapping, "custom");
  assert.deepEqual(cfg.columnMappings, { user_id: "user.id", amount: "payment.amount" });
  assert.deepEqual(cfg.defaultValues, { ingested_at: "CURRENT_TIMESTAMP()", source: "web" });
});

Deno.test("subscriber config: CONFIG_FILE names the file", () => {
  const path = Deno.makeTempFileSync({ suffix: ".toml" });
  try {
    Deno.writeTextFileSync(path, `project_id = "from-file"\n`);
    const cfg = loadSubscriberConfig({ env: { ..._ENV, GCP_PROJECT_ID: "", CONFIG_FILE: path } });
    assert.equal(cfg.projectId, "from-file");
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("subscriber config: every problem is reported at once", () => {
  const problems = _problems(() =>
    loadSubscriberConfig({
      text: `tabel = "x"\n[schema]\nmapping = "flat"\n`,
      env: {
        MAX_ROWS_PER_BATCH: "lots",
        MAX_CONCURRENT_BATCHES: "0",
        DEAD_LETTER_ACTION: "email",
        AUTH_METHOD: "none",
      },
    })
  );
  const keys = problems.map((p) => p.split(":")[0]);
  for (
    const k of [
      "tabel",
      "GCP_PROJECT_ID",
      "BIGQUERY_DATASET",
      "BIGQUERY_TABLE",
      "RUSTMQ_TOPIC",
      "MAX_ROWS_PER_BATCH",
      "MAX_CONCURRENT_BATCHES",
      "DEAD_LETTER_ACTION",
      "schema.mapping",
    ]
  ) assert.ok(keys.includes(k), `${k} missing from ${problems.join("; ")}`);
});

Deno.test("subscriber config: cross-key rules", () => {
  assert.deepEqual(
    _problems(() => loadSubscriberConfig({ env: { ..._ENV, BIGQUERY_API_ENDPOINT: "" } })),
    ["AUTH_METHOD: is allowed only with BIGQUERY_API_ENDPOINT (an emulator or test server)"],
  );
  assert.deepEqual(
    _problems(() => loadSubscriberConfig({ env: { ..._ENV, DEAD_LETTER_ACTION: "file" } })),
    ["DEAD_LETTER_FILE: is required when DEAD_LETTER_ACTION is file"],
  );
  assert.deepEqual(
    _problems(() => loadSubscriberConfig({ env: { ..._ENV, SCHEMA_MAPPING: "custom" } })),
    ["schema.column_mappings: needs at least one column when schema.mapping is custom"],
  );
  assert.deepEqual(
    _problems(() =>
      loadSubscriberConfig({
        env: _ENV,
        text: '[write_method.storage_write]\nstream_type = "buffered"\n',
      })
    ).map((p) => p.split(":")[0]),
    ["write_method.storage_write.stream_type"],
  );
  assert.deepEqual(
    _problems(() =>
      loadSubscriberConfig({
        env: { ..._ENV, BIGQUERY_STORAGE_ENDPOINT: "127.0.0.1:9060" },
        text: "[write_method.storage_write]\n[write_method.streaming_inserts]\n",
      })
    ).map((p) => p.split(":")[0]),
    ["write_method"],
  );
  assert.deepEqual(
    _problems(() => loadSubscriberConfig({ env: { ..._ENV, HEALTH_LISTEN: "8080" } })),
    ["HEALTH_LISTEN: must be host:port, such as 0.0.0.0:8080"],
  );
  assert.deepEqual(
    _problems(() => loadSubscriberConfig({ env: { ..._ENV, METADATA_COLUMNS: "_topic,_bogus" } }))
      .map((p) => p.split(":")[0]),
    ["METADATA_COLUMNS"],
  );
});

Deno.test("subscriber config: a broken TOML file is a problem, not a crash", () => {
  const problems = _problems(() => loadSubscriberConfig({ env: _ENV, text: "project_id = " }));
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /^\(file\): cannot be read or parsed/);
});

Deno.test("subscriber config: broker addresses, transport and CA certificate are checked", async () => {
  const { brokerUrl } = await import("./subscriber_run.ts");
  const cfg = loadSubscriberConfig({
    env: { ..._ENV, RUSTMQ_BROKERS: "quic://b1:9092,b2:9093", RUSTMQ_TRANSPORT: "tls" },
  });
  assert.deepEqual(cfg.brokers.map((b) => brokerUrl(b, cfg.transport)), [
    "tls://b1:9092",
    "tls://b2:9093",
  ]);
  assert.equal(brokerUrl("localhost:9092"), "tcp://localhost:9092");
  assert.deepEqual(
    _problems(() =>
      loadSubscriberConfig({
        env: {
          ..._ENV,
          RUSTMQ_BROKERS: "http://b1:80,nohost",
          RUSTMQ_TRANSPORT: "udp",
          RUSTMQ_CA_CERT: "/nonexistent/ca.pem",
        },
      })
    ).map((p) => p.split(":")[0]),
    ["RUSTMQ_TRANSPORT"],
  );
  assert.deepEqual(
    _problems(() =>
      loadSubscriberConfig({
        env: {
          ..._ENV,
          RUSTMQ_BROKERS: "http://b1:80,nohost",
          RUSTMQ_CA_CERT: "/nonexistent/ca.pem",
        },
      })
    ).map((p) => p.split(":")[0]),
    ["RUSTMQ_BROKERS", "RUSTMQ_BROKERS", "RUSTMQ_CA_CERT"],
  );
});

Deno.test("loadSubscriberConfig selects storage_write with [write_method.storage_write]", () => {
  const plain = loadSubscriberConfig({ env: _ENV });
  assert.equal(plain.writeMethod, "streaming_inserts");
  const cfg = loadSubscriberConfig({
    env: { ..._ENV, BIGQUERY_STORAGE_ENDPOINT: "127.0.0.1:9060" },
    text: '[write_method.storage_write]\nstream_type = "default"\n',
  });
  assert.equal(cfg.writeMethod, "storage_write");
  assert.equal(cfg.storageStreamType, "default");
  assert.equal(cfg.storageEndpoint, "127.0.0.1:9060");
  const committed = loadSubscriberConfig({
    env: { ..._ENV, BIGQUERY_STORAGE_ENDPOINT: "127.0.0.1:9060" },
    text: '[write_method.storage_write]\nstream_type = "committed"\n',
  });
  assert.equal(committed.storageStreamType, "committed");
});
