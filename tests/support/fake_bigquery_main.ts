/**
 * Runs the fake BigQuery server as its own process (for the benchmark and for trying the
 * subscriber by hand): prints `{"apiEndpoint": ...}` on stdout, serves until killed.
 *
 * ```sh
 * deno run -A tests/support/fake_bigquery_main.ts [PORT]
 * ```
 *
 * @module
 */

import { startFakeBigQueryServer } from "./fake_bigquery_server.ts";

if (import.meta.main) {
  const port = Deno.args[0] === undefined ? 0 : Number(Deno.args[0]);
  const bq = startFakeBigQueryServer({ port, keepRows: Deno.env.get("FAKE_BQ_KEEP_ROWS") !== "0" });
  console.log(JSON.stringify({ apiEndpoint: bq.apiEndpoint }));
  Deno.addSignalListener("SIGTERM", async () => {
    await bq.stop();
    Deno.exit(0);
  });
}
