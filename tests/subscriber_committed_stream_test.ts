/**
 * End to end for `[write_method.storage_write] stream_type = "committed"`: kcat in, the
 * subscriber as a real process writing through the real `@google-cloud/bigquery-storage` client
 * to the fake Storage Write gRPC server, SIGKILLed twice with appends in flight and restarted.
 * Exactly once: the table holds every good record once and only once; records that are not
 * JSON, and rows with a column the table lacks (gaps in the checkpoint), are dead-lettered and
 * are not in the table.
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

const RECORDS = 3000;
const TABLE = "projects/proj/datasets/ds/tables/events";

/** Records whose value is not JSON (no row), and rows the table refuses (a gap each). */
const notJson = (i: number) => i % 97 === 13;
const bogus = (i: number) => i % 89 === 7;

const SCHEMA = [
  { name: "i", type: "INTEGER" },
  { name: "user", type: "STRING" },
  { name: "pad", type: "STRING" },
  { name: "_partition", type: "INTEGER" },
  { name: "_offset", type: "INTEGER" },
];

Deno.test({
  name:
    "subscriber storage_write committed stream: kcat in, two SIGKILLs mid-stream, restarts: every row exactly once",
  ignore: kcatMissing,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using sa = await startStandalone({ config: "[broker]\nnum_partitions = 2\n" });
    await using dir = await tempDir("sub-committed-");
    const bq = startFakeBigQueryServer();
    const grpc = await startFakeStorageWriteServer((table) => {
      const resource = table === TABLE ? bq.table("proj.ds.events") : undefined;
      if (resource === undefined) return null;
      return adapt.convertBigQuerySchemaToStorageTableSchema(
        resource.schema as Parameters<typeof adapt.convertBigQuerySchemaToStorageTableSchema>[0],
      ) as { fields: { name: string; type: string }[] };
    });
    try {
      const value = (i: number) =>
        notJson(i)
          ? `not json ${i}`
          : JSON.stringify({ i, user: `u${i}`, pad: "x", ...(bogus(i) ? { bogus: 1 } : {}) });
      const input = Array.from({ length: RECORDS }, (_, i) => `k${i}\u0001${value(i)}`).join("\n") +
        "\n";
      const produced = await _kcat(
        ["-P", "-b", sa.bootstrap, "-t", "events", "-K", "\u0001"],
        input,
      );
      assert.equal(produced.code, 0, produced.out);
      const config = `${dir.path}/subscriber.toml`;
      await Deno.writeTextFile(config, '[write_method.storage_write]\nstream_type = "committed"\n');
      await Deno.writeTextFile(`${dir.path}/schema.json`, JSON.stringify(SCHEMA));
      const dlq = `${dir.path}/dead.jsonl`;
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
        BIGQUERY_SCHEMA_FILE: `${dir.path}/schema.json`,
        DEAD_LETTER_ACTION: "file",
        DEAD_LETTER_FILE: dlq,
        MAX_ROWS_PER_BATCH: "50",
        MAX_BATCH_LATENCY_MS: "50",
        MAX_CONCURRENT_BATCHES: "4",
        HEALTH_LISTEN: "127.0.0.1:0",
        METADATA_COLUMNS: "_partition,_offset",
      };
      const stored = () => grpc.visibleRows(TABLE);
      const good = Array.from({ length: RECORDS }, (_, i) => i).filter((i) =>
        !notJson(i) && !bogus(i)
      );
      const logs: string[] = [];
      // Appends are held 20 ms each, so each kill lands with appends in flight.
      grpc.setAppendDelay(20);
      for (const share of [0.25, 0.6]) {
        const sub = _startSubscriber(env);
        await _until(`${share} of the rows`, () => stored().length >= good.length * share, 25_000)
          .catch((e) => {
            throw new Error(`${e.message}: ${stored().length}\n${sub.stderr()}`);
          });
        sub.child.kill("SIGKILL");
        assert.notEqual((await sub.child.status).code, 0);
        logs.push(sub.stderr());
      }
      const beforeLast = stored().length;
      assert.ok(beforeLast < good.length, "the kills came before the end");
      grpc.setAppendDelay(0);
      const last = _startSubscriber(env);
      await _until("every row", () => stored().length >= good.length, 25_000).catch((e) => {
        throw new Error(`${e.message}: ${stored().length}\n${last.stderr()}`);
      });
      // Give a stray duplicate the chance to show up before counting.
      await new Promise((r) => setTimeout(r, 300));
      last.child.kill("SIGTERM");
      assert.equal((await last.child.status).code, 0, last.stderr());
      logs.push(last.stderr());

      const rows = stored();
      const seen = rows.map((r) => Number(r.i)).sort((a, b) => a - b);
      assert.deepEqual(seen, good, "every good record exactly once, nothing else");
      for (const r of rows) {
        assert.equal(r.user, `u${r.i}`);
        assert.equal(Number(r._offset) >= 0, true);
      }
      assert.deepEqual(bq.rows("proj.ds.events"), [], "insertAll was not used");
      // The restarts found checkpoints, finalized streams that had rows past them, and skipped.
      const resumes = logs.join("\n").split("\n").filter((l) => l.includes("resuming partition"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const skipped = resumes.reduce((n, r) => n + Number(r.skip_rows ?? 0), 0);
      assert.ok(resumes.some((r) => r.old_stream !== ""), JSON.stringify(resumes));
      // Every stream but the last run's is finalized.
      const finalized = [...grpc.streams.values()].filter((s) =>
        s.type === "COMMITTED" && s.finalized
      );
      assert.ok(finalized.length >= 2, `finalized streams: ${finalized.length}`);
      // Bad records are dead-lettered (at least once: a gap replayed after a kill is sent again).
      const dead = new Set(
        (await Deno.readTextFile(dlq)).trim().split("\n").map((l) =>
          Number(atob((JSON.parse(l) as { key_base64: string }).key_base64).slice(1))
        ),
      );
      const bad = Array.from({ length: RECORDS }, (_, i) => i).filter((i) =>
        notJson(i) || bogus(i)
      );
      assert.deepEqual([...dead].sort((a, b) => a - b), bad);
      console.log(
        `rows ${rows.length} for ${good.length} good records; ${beforeLast} before the last start; ` +
          `${skipped} replayed rows skipped over ${resumes.length} partition resumes`,
      );
    } finally {
      await grpc.stop();
      await bq.stop();
    }
  },
});
