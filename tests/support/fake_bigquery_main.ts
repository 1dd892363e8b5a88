/**
 * Runs the fake BigQuery server as its own process (for the benchmark and for trying the
 * subscriber by hand): prints `{"apiEndpoint": ...}` on stdout, serves until killed. With
 * `FAKE_STORAGE_WRITE=1` it also serves the fake Storage Write API (its tables are the REST
 * fake's), adds `"storageEndpoint": "host:port"`, and prints `{"storageRows": N}` (rows visible
 * over all tables) on SIGTERM.
 *
 * ```sh
 * deno run -A tests/support/fake_bigquery_main.ts [PORT]
 * ```
 *
 * @module
 */

import { adapt } from "@google-cloud/bigquery-storage";
import { startFakeBigQueryServer } from "./fake_bigquery_server.ts";
import { startFakeStorageWriteServer } from "./fake_storage_write_server.ts";

if (import.meta.main) {
  const port = Deno.args[0] === undefined ? 0 : Number(Deno.args[0]);
  const bq = startFakeBigQueryServer({ port, keepRows: Deno.env.get("FAKE_BQ_KEEP_ROWS") !== "0" });
  const storage = Deno.env.get("FAKE_STORAGE_WRITE") !== "1"
    ? null
    : await startFakeStorageWriteServer((table) => {
      const m = table.match(/^projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/]+)$/);
      const resource = m === null ? undefined : bq.table(`${m[1]}.${m[2]}.${m[3]}`);
      if (resource === undefined) return null;
      return adapt.convertBigQuerySchemaToStorageTableSchema(
        resource.schema as Parameters<typeof adapt.convertBigQuerySchemaToStorageTableSchema>[0],
      ) as { fields: { name: string; type: string }[] };
    });
  console.log(JSON.stringify({
    apiEndpoint: bq.apiEndpoint,
    ...(storage === null ? {} : { storageEndpoint: `${storage.host}:${storage.port}` }),
  }));
  Deno.addSignalListener("SIGTERM", async () => {
    if (storage !== null) {
      const rows = [...storage.streams.values()].filter((s) => s.committed)
        .reduce((n, s) => n + s.rows.length, 0);
      console.log(JSON.stringify({ storageRows: rows }));
      await storage.stop();
    }
    await bq.stop();
    Deno.exit(0);
  });
}
