import assert from "node:assert/strict";
import { adapt } from "@google-cloud/bigquery-storage";
import { startFakeBigQueryServer } from "../tests/support/fake_bigquery_server.ts";
import { startFakeStorageWriteServer } from "../tests/support/fake_storage_write_server.ts";
import { InsertError, StreamingInsertWriter } from "./bigquery_writer.ts";
import { DefaultStreamWriter } from "./storage_write_writer.ts";
import { loadSubscriberConfig } from "./subscriber_config.ts";

const _TABLE = "projects/p/datasets/d/tables/t";

/** Both fakes share one table: REST creates it, the Storage Write fake reads its schema. */
async function _fakes() {
  const rest = startFakeBigQueryServer();
  const grpc = await startFakeStorageWriteServer((table) => {
    if (table !== _TABLE) return null;
    const resource = rest.table("p.d.t");
    if (resource === undefined) return null;
    return adapt.convertBigQuerySchemaToStorageTableSchema(
      resource.schema as Parameters<typeof adapt.convertBigQuerySchemaToStorageTableSchema>[0],
    ) as { fields: { name: string; type: string }[] };
  });
  const cfg = loadSubscriberConfig({
    env: {
      GCP_PROJECT_ID: "p",
      BIGQUERY_DATASET: "d",
      BIGQUERY_TABLE: "t",
      RUSTMQ_TOPIC: "x",
      AUTH_METHOD: "none",
      AUTO_CREATE_TABLE: "true",
      BIGQUERY_API_ENDPOINT: rest.apiEndpoint,
      BIGQUERY_STORAGE_ENDPOINT: `${grpc.host}:${grpc.port}`,
    },
    text: '[write_method.storage_write]\nstream_type = "default"\n',
  });
  const writer = new DefaultStreamWriter(cfg, new StreamingInsertWriter(cfg));
  return {
    rest,
    grpc,
    writer,
    async [Symbol.asyncDispose]() {
      writer.close();
      await grpc.stop();
      await rest.stop();
    },
  };
}

Deno.test("DefaultStreamWriter appends protobuf rows to the default stream through the real client", async () => {
  await using f = await _fakes();
  await f.writer.ensureTable(() => [
    { name: "n", type: "INTEGER" },
    { name: "user", type: "RECORD", fields: [{ name: "id", type: "STRING" }] },
  ]);
  const rows = [0, 1, 2].map((n) => ({ insertId: `x/0/${n}`, json: { n, user: { id: `u${n}` } } }));
  assert.deepEqual(await f.writer.insert(rows), { rejected: new Map(), stopped: [] });
  assert.deepEqual(await f.writer.insert([{ insertId: "x/0/3", json: { n: 3 } }]), {
    rejected: new Map(),
    stopped: [],
  });
  // Decoded by the fake with the writer schema the client derived from the table schema.
  assert.deepEqual(f.grpc.visibleRows(_TABLE), [
    { n: "0", user: { id: "u0" } },
    { n: "1", user: { id: "u1" } },
    { n: "2", user: { id: "u2" } },
    { n: "3" },
  ]);
  // insertAll was never used for the rows.
  assert.deepEqual(f.rest.rows("p.d.t"), []);
});

Deno.test("DefaultStreamWriter: a table the Storage Write API does not know is a non-retriable error", async () => {
  await using f = await _fakes();
  // No ensureTable: neither fake has the table.
  const err = await f.writer.insert([{ insertId: "x/0/0", json: { n: 0 } }]).then(
    () => null,
    (e) => e,
  );
  assert.ok(err instanceof InsertError, String(err));
  assert.equal(err.retriable, false);
  assert.equal(err.status, 5); // NOT_FOUND
});

Deno.test("DefaultStreamWriter refuses a row with a field the table lacks instead of dropping it", async () => {
  await using f = await _fakes();
  await f.writer.ensureTable(() => [{ name: "n", type: "INTEGER" }]);
  const out = await f.writer.insert([
    { insertId: "x/0/0", json: { n: 0 } },
    { insertId: "x/0/1", json: { n: 1, bogus: true } },
  ]);
  assert.deepEqual(out, { rejected: new Map([[1, "no such field: bogus"]]), stopped: [0] });
  assert.deepEqual(f.grpc.visibleRows(_TABLE), [], "nothing of the request was appended");
  assert.deepEqual(await f.writer.insert([{ insertId: "x/0/0", json: { n: 0 } }]), {
    rejected: new Map(),
    stopped: [],
  });
  assert.deepEqual(f.grpc.visibleRows(_TABLE), [{ n: "0" }]);
});

Deno.test("DefaultStreamWriter: BigQuery's row errors refuse those rows; the rest are sent again", async () => {
  await using f = await _fakes();
  await f.writer.ensureTable(() => [{ name: "n", type: "INTEGER" }]);
  f.grpc.rejectRowsWhere((r) => r.n === "1");
  const out = await f.writer.insert([0, 1, 2].map((n) => ({ insertId: `x/0/${n}`, json: { n } })));
  assert.deepEqual([...out.rejected.keys()], [1]);
  assert.deepEqual(out.stopped, [0, 2]);
  assert.deepEqual(f.grpc.visibleRows(_TABLE), [], "nothing of the request was appended");
});
