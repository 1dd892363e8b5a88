import assert from "node:assert/strict";
import { startFakeBigQueryServer } from "../tests/support/fake_bigquery_server.ts";
import { InsertError, StreamingInsertWriter } from "./bigquery_writer.ts";
import { loadSubscriberConfig } from "./subscriber_config.ts";

function _cfg(endpoint: string, env: Record<string, string> = {}) {
  return loadSubscriberConfig({
    env: {
      GCP_PROJECT_ID: "p",
      BIGQUERY_DATASET: "d",
      BIGQUERY_TABLE: "t",
      RUSTMQ_TOPIC: "x",
      AUTH_METHOD: "none",
      BIGQUERY_API_ENDPOINT: endpoint,
      ...env,
    },
  });
}
const _rows = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ insertId: `x/0/${from + i}`, json: { n: from + i } }));

Deno.test("writer: auto-creates the table and inserts; a repeated insertId is dropped", async () => {
  const bq = startFakeBigQueryServer();
  try {
    const w = new StreamingInsertWriter(_cfg(bq.apiEndpoint, { AUTO_CREATE_TABLE: "true" }));
    await w.ensureTable(() => [{ name: "n", type: "INTEGER" }]);
    assert.deepEqual((bq.table("p.d.t")?.schema as { fields: unknown[] }).fields, [
      { name: "n", type: "INTEGER" },
    ]);
    assert.deepEqual(await w.insert(_rows(3)), { rejected: new Map(), stopped: [] });
    await w.insert(_rows(3, 1));
    assert.deepEqual(bq.rows("p.d.t").map((r) => r.insertId), ["x/0/0", "x/0/1", "x/0/2", "x/0/3"]);
    assert.equal(bq.deduplicated(), 2);
  } finally {
    await bq.stop();
  }
});

Deno.test("writer: a missing table without auto-create is a non-retriable error", async () => {
  const bq = startFakeBigQueryServer();
  try {
    const w = new StreamingInsertWriter(_cfg(bq.apiEndpoint));
    const err = await w.ensureTable(() => []).then(() => null, (e) => e);
    assert.ok(err instanceof InsertError);
    assert.equal(err.retriable, false);
    assert.equal(err.status, 404);
  } finally {
    await bq.stop();
  }
});

Deno.test("writer: 503, 429 and timeouts are retriable errors", async () => {
  const bq = startFakeBigQueryServer();
  try {
    bq.createTable("p.d.t");
    const w = new StreamingInsertWriter(_cfg(bq.apiEndpoint), { timeoutMs: 200 });
    for (const status of [503, 429]) {
      bq.failNext(1, status);
      const err = await w.insert(_rows(1)).then(() => null, (e) => e);
      assert.ok(err instanceof InsertError, String(err));
      assert.equal(err.retriable, true);
      assert.equal(err.status, status);
    }
    bq.delayNext(1, 600);
    const err = await w.insert(_rows(1)).then(() => null, (e) => e);
    assert.ok(err instanceof InsertError);
    assert.match(err.message, /timed out/);
    assert.equal(err.retriable, true);
    await new Promise((r) => setTimeout(r, 500)); // let the late answer land before stopping
  } finally {
    await bq.stop();
  }
});

Deno.test("writer: per-row errors name the rows; siblings are 'stopped' without skipInvalidRows", async () => {
  const bq = startFakeBigQueryServer();
  try {
    bq.createTable("p.d.t");
    bq.rejectRowsWhere((j) => j.n === 1 ? "bad n" : undefined);
    const strict = new StreamingInsertWriter(_cfg(bq.apiEndpoint));
    const out = await strict.insert(_rows(3));
    assert.deepEqual([...out.rejected], [[1, "invalid: bad n"]]);
    assert.deepEqual(out.stopped, [0, 2]);
    assert.equal(bq.rows("p.d.t").length, 0);

    const lax = new StreamingInsertWriter(_cfgSkip(bq.apiEndpoint));
    const out2 = await lax.insert(_rows(3));
    assert.deepEqual([...out2.rejected.keys()], [1]);
    assert.deepEqual(out2.stopped, []);
    assert.deepEqual(bq.rows("p.d.t").map((r) => r.json.n), [0, 2]);
  } finally {
    await bq.stop();
  }
});

function _cfgSkip(endpoint: string) {
  return loadSubscriberConfig({
    env: {
      GCP_PROJECT_ID: "p",
      BIGQUERY_DATASET: "d",
      BIGQUERY_TABLE: "t",
      RUSTMQ_TOPIC: "x",
      AUTH_METHOD: "none",
      BIGQUERY_API_ENDPOINT: endpoint,
    },
    text: "[write_method.streaming_inserts]\nskip_invalid_rows = true\n",
  });
}

Deno.test("writer: each auth method builds its own client options", async () => {
  const { bigQueryClientOptions } = await import("./bigquery_writer.ts");
  const { Compute } = await import("google-auth-library");
  const base = {
    GCP_PROJECT_ID: "p",
    BIGQUERY_DATASET: "d",
    BIGQUERY_TABLE: "t",
    RUSTMQ_TOPIC: "x",
  };
  const none = bigQueryClientOptions(_cfg("http://e"));
  assert.equal(none.apiEndpoint, "http://e");
  assert.equal(none.useAuthWithCustomEndpoint, undefined);
  const sa = bigQueryClientOptions(loadSubscriberConfig({
    env: { ...base, AUTH_METHOD: "service_account", GOOGLE_APPLICATION_CREDENTIALS: "/k.json" },
  }));
  assert.equal(sa.keyFilename, "/k.json");
  const md = bigQueryClientOptions(loadSubscriberConfig({
    env: { ...base, AUTH_METHOD: "metadata_server", BIGQUERY_API_ENDPOINT: "http://e" },
  }));
  assert.ok(md.authClient instanceof Compute);
  assert.equal(md.useAuthWithCustomEndpoint, true);
  const adc = bigQueryClientOptions(loadSubscriberConfig({ env: base }));
  assert.deepEqual(adc, { projectId: "p", autoRetry: false });
});
