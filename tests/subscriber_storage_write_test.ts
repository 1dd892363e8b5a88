/**
 * End to end for `[write_method.storage_write]` on the default stream: kcat in, the subscriber
 * as a real process writing through the real `@google-cloud/bigquery-storage` client to the fake
 * Storage Write gRPC server (the REST fake only creates the table), SIGKILLed halfway and
 * restarted. The default stream has no offsets, so the promise is at least once: every good row
 * arrives, and any extra copy is a row that was appended before the kill and never committed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { adapt } from "@google-cloud/bigquery-storage";
import { startFakeBigQueryServer } from "./support/fake_bigquery_server.ts";
import { startFakeStorageWriteServer } from "./support/fake_storage_write_server.ts";
import { startStandalone } from "./support/standalone_process.ts";
import { tempDir } from "./support/temp_dir.ts";
import {
  kcat as _kcat,
  kcatMissing,
  startSubscriber as _startSubscriber,
  type Sub as _Sub,
  until as _until,
} from "./support/subscriber_process.ts";

const RECORDS = 2000;
const TABLE = "projects/proj/datasets/ds/tables/events";

Deno.test({
  name:
    "subscriber storage_write default stream: kcat in, SIGKILL halfway, restart: every row at least once",
  ignore: kcatMissing,
  async fn() {
    await using sa = await startStandalone({ config: "[broker]\nnum_partitions = 2\n" });
    await using dir = await tempDir("sub-storage-");
    const bq = startFakeBigQueryServer();
    const grpc = await startFakeStorageWriteServer((table) => {
      const resource = table === TABLE ? bq.table("proj.ds.events") : undefined;
      if (resource === undefined) return null;
      return adapt.convertBigQuerySchemaToStorageTableSchema(
        resource.schema as Parameters<typeof adapt.convertBigQuerySchemaToStorageTableSchema>[0],
      ) as { fields: { name: string; type: string }[] };
    });
    try {
      const input = Array.from({ length: RECORDS }, (_, i) =>
        `k${i}\u0001${JSON.stringify({ i, user: `u${i}`, pad: "x" })}`).join("\n") + "\n";
      const produced = await _kcat(
        ["-P", "-b", sa.bootstrap, "-t", "events", "-K", "\u0001"],
        input,
      );
      assert.equal(produced.code, 0, produced.out);
      const config = `${dir.path}/subscriber.toml`;
      await Deno.writeTextFile(config, '[write_method.storage_write]\nstream_type = "default"\n');
      const env = {
        CONFIG_FILE: config,
        GCP_PROJECT_ID: "proj",
        BIGQUERY_DATASET: "ds",
        BIGQUERY_TABLE: "events",
        RUSTMQ_TOPIC: "events",
        RUSTMQ_BROKERS: sa.bootstrap,
        AUTH_METHOD: "none",
        BIGQUERY_API_ENDPOINT: bq.apiEndpoint,
        BIGQUERY_STORAGE_ENDPOINT: `${grpc.host}:${grpc.port}`,
        AUTO_CREATE_TABLE: "true",
        MAX_ROWS_PER_BATCH: "50",
        MAX_BATCH_LATENCY_MS: "50",
        MAX_CONCURRENT_BATCHES: "4",
        HEALTH_LISTEN: "127.0.0.1:0",
        METADATA_COLUMNS: "_partition,_offset",
      };
      const stored = () =>
        grpc.visibleRows(TABLE);
      // Appends are held 20 ms each, so the kill lands with the table partly written.
      grpc.setAppendDelay(20);
      const first = _startSubscriber(env);
      await _until("some rows", () =>
        stored().length >= RECORDS / 4).catch((e) => {
          throw new Error(`${e.message}: ${stored().length}\n${first.stderr()}`);
        });
      first.child.kill("SIGKILL");
      assert.notEqual((await first.child.status).code, 0);
      const beforeRestart = stored().length;
      assert.ok(beforeRestart < RECORDS, "the kill came before the end");

      grpc.setAppendDelay(0);
      const second = _startSubscriber(env);
      await _until("every row", () =>
        new Set(stored().map((r) => r.i)).size >= RECORDS, 25_000)
        .catch((e) => {
          throw new Error(`${e.message}: ${stored().length}\n${second.stderr()}`);
        });
      second.child.kill("SIGTERM");
      assert.equal((await second.child.status).code, 0, second.stderr());

      const rows = stored();
      const distinct = [...new Set(rows.map((r) => Number(r.i)))].sort((a, b) => a - b);
      assert.deepEqual(distinct, Array.from({ length: RECORDS }, (_, i) => i));
      // Copies are whole, identical rows (same record, same Kafka position), never strays.
      const byI = new Map<string, string>();
      for (const r of rows) {
        const pos = `${r._partition}/${r._offset}`;
        assert.equal(byI.get(String(r.i)) ?? pos, pos);
        byI.set(String(r.i), pos);
        assert.equal(r.user, `u${r.i}`);
      }
      assert.deepEqual(bq.rows("proj.ds.events"), [], "insertAll was not used");
      console.log(`rows ${rows.length} for ${RECORDS} records, ${beforeRestart} before the kill`);
    } finally {
      await grpc.stop();
      await bq.stop();
    }
  },
});
