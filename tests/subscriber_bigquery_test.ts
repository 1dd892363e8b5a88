/**
 * End to end: JSON records produced with kcat into a real `rustmq standalone`, the BigQuery
 * subscriber as a real child process (`deno run main.ts subscriber bigquery`) writing to the
 * fake BigQuery server through the real client, SIGKILLed halfway and restarted. Every good
 * row arrives, copies only ever carry the same insertId (and BigQuery drops them), and the bad
 * records land in the dead-letter topic with headers naming the error.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startFakeBigQueryServer } from "./support/fake_bigquery_server.ts";
import { startStandalone } from "./support/standalone_process.ts";
import {
  kcat as _kcat,
  kcatMissing,
  startSubscriber as _startSubscriber,
  type Sub as _Sub,
  until as _until,
} from "./support/subscriber_process.ts";

const RECORDS = 3000;
const _isBad = (i: number) => i % 97 === 13;

Deno.test({
  name: "subscriber bigquery: kcat in, SIGKILL halfway, restart: every good row once, bad to DLQ",
  ignore: kcatMissing,
  async fn() {
    await using sa = await startStandalone({ config: "[broker]\nnum_partitions = 2\n" });
    const bq = startFakeBigQueryServer();
    try {
      const input = Array.from({ length: RECORDS }, (_, i) =>
        `k${i}\u0001${
          _isBad(i) ? `not json ${i}` : JSON.stringify({ i, user: { id: `u${i}` }, pad: "x" })
        }`).join("\n") + "\n";
      const produced = await _kcat(
        ["-P", "-b", sa.bootstrap, "-t", "events", "-K", "\u0001", "-H", "trace=t1"],
        input,
      );
      assert.equal(produced.code, 0, produced.out);

      const env = {
        GCP_PROJECT_ID: "proj",
        BIGQUERY_DATASET: "ds",
        BIGQUERY_TABLE: "events",
        RUSTMQ_TOPIC: "events",
        RUSTMQ_BROKERS: sa.bootstrap,
        AUTH_METHOD: "none",
        BIGQUERY_API_ENDPOINT: bq.apiEndpoint,
        AUTO_CREATE_TABLE: "true",
        MAX_ROWS_PER_BATCH: "50",
        MAX_BATCH_LATENCY_MS: "50",
        MAX_CONCURRENT_BATCHES: "4",
        DEAD_LETTER_ACTION: "dead_letter_queue",
        HEALTH_LISTEN: "127.0.0.1:0",
        METADATA_COLUMNS: "_partition,_offset",
      };
      const goodCount = Array.from({ length: RECORDS }, (_, i) =>
        i).filter((i) =>
          !_isBad(i)
        )
        .length;
      // Every insert is held 40 ms, so the kill lands with batches in flight: rows that BigQuery
      // stores after the kill but whose offsets were never committed.
      bq.delayNext(100_000, 40);
      const first = _startSubscriber(env);
      await _until("half the rows", () =>
        bq.rows("proj.ds.events").length >= goodCount / 2);
      await _until("an insert held in flight", () => bq.held() > 0);
      first.child.kill("SIGKILL");
      assert.notEqual((await first.child.status).code, 0);
      bq.clearDelays();
      await new Promise((r) => setTimeout(r, 100)); // the held inserts land
      const beforeRestart = bq.rows("proj.ds.events").length;
      assert.ok(beforeRestart < goodCount, "the kill came before the end");

      const second = _startSubscriber(env);
      await _until(
        "every good row",
        () => bq.rows("proj.ds.events").length >= goodCount,
        25_000,
      ).catch((e) => {
        throw new Error(`${e.message}: ${bq.rows("proj.ds.events").length}\n${second.stderr()}`);
      });
      const port = Number(second.stderr().match(/"health_port":(\d+)/)?.[1]);
      const health = await (await fetch(`http://127.0.0.1:${port}/health`)).json();
      assert.equal(health.status, "healthy");
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).json();
      assert.ok(metrics.rows_inserted > 0);

      const rows = bq.rows("proj.ds.events");
      const values = rows.map((r) => r.json.i as number).sort((a, b) => a - b);
      assert.deepEqual(
        values,
        Array.from({ length: RECORDS }, (_, i) => i).filter((i) => !_isBad(i)),
      );
      const byId = new Map(rows.map((r) => [r.insertId, r.json.i]));
      assert.equal(byId.size, rows.length, "stored insertIds are unique");
      for (const r of rows) {
        assert.equal(r.insertId, `events/${r.json._partition}/${r.json._offset}`);
      }
      assert.ok(bq.deduplicated() > 0, "the restart redelivered rows the kill left uncommitted");
      for (const d of bq.duplicates()) {
        assert.equal(byId.get(d.insertId), d.json.i, "a copy carries its original's insertId");
      }

      // SIGTERM: flush, commit, exit 0.
      second.child.kill("SIGTERM");
      assert.equal((await second.child.status).code, 0, second.stderr());
      assert.match(second.stderr(), /"msg":"subscriber stopped"/);

      const dlq = await _kcat([
        "-C",
        "-b",
        sa.bootstrap,
        "-t",
        "events-dlq",
        "-e",
        "-f",
        "%k|%s|%h\\n",
      ]);
      assert.equal(dlq.code, 0, dlq.out);
      const dead = dlq.out.split("\n").filter((l) => l.includes("rustmq.dlq.reason"));
      const deadKeys = new Set(dead.map((l) => l.split("|")[0]));
      const badKeys = new Set(
        Array.from({ length: RECORDS }, (_, i) => i).filter(_isBad).map((i) => `k${i}`),
      );
      assert.deepEqual(deadKeys, badKeys);
      assert.match(dead[0]!, /\|not json \d+\|trace=t1,rustmq\.dlq\.reason=the value is not JSON/);
      console.log(
        `rows ${rows.length}, before kill ${beforeRestart}, duplicates dropped ${bq.deduplicated()}, dlq ${dead.length}`,
      );
    } finally {
      await bq.stop();
    }
  },
});
