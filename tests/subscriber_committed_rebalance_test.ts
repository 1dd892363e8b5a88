/**
 * End to end for the committed stream across a rebalance: two subscriber processes share a
 * topic's partitions in one group; one is SIGKILLed with appends in flight. The survivor is
 * revoked (it drains and commits its checkpoints), takes every partition, finalizes the streams
 * of both members and skips what they had written. The table holds every record exactly once.
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
    "subscriber committed stream: two members, one SIGKILLed mid-stream, the survivor takes over: exactly once",
  ignore: kcatMissing,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using sa = await startStandalone({ config: "[broker]\nnum_partitions = 4\n" });
    await using dir = await tempDir("sub-committed-rb-");
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
        `k${i}\u0001${JSON.stringify({ i, user: `u${i}` })}`).join("\n") + "\n";
      const produced = await _kcat(
        ["-P", "-b", sa.bootstrap, "-t", "events", "-K", "\u0001"],
        input,
      );
      assert.equal(produced.code, 0, produced.out);
      const config = `${dir.path}/subscriber.toml`;
      await Deno.writeTextFile(config, '[write_method.storage_write]\nstream_type = "committed"\n');
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
        MAX_ROWS_PER_BATCH: "20",
        MAX_BATCH_LATENCY_MS: "50",
        MAX_CONCURRENT_BATCHES: "4",
        HEALTH_LISTEN: "127.0.0.1:0",
      };
      const stored = () =>
        grpc.visibleRows(TABLE);
      grpc.setAppendDelay(30);
      const a = _startSubscriber(env);
      const b = _startSubscriber(env);
      // Both members own partitions (each resumed some) before the kill.
      await _until("both members writing", () =>
        a.stderr().includes("resuming partition") && b.stderr().includes("resuming partition") &&
        stored().length >= RECORDS / 5, 25_000).catch((e) => {
          throw new Error(`${e.message}: ${stored().length}\n${a.stderr()}\n${b.stderr()}`);
        });
      a.child.kill("SIGKILL");
      assert.notEqual((await a.child.status).code, 0);
      const atKill = stored().length;
      assert.ok(atKill < RECORDS, "the kill came before the end");
      grpc.setAppendDelay(0);
      await _until("every row", () =>
        stored().length >= RECORDS, 30_000).catch((e) => {
          throw new Error(`${e.message}: ${stored().length}\n${b.stderr()}`);
        });
      await new Promise((r) =>
        setTimeout(r, 300)
      ); // a stray duplicate would show by now
      b.child.kill("SIGTERM");
      assert.equal((await b.child.status).code, 0, b.stderr());
      const seen = stored().map((r) =>
        Number(r.i)
      ).sort((x, y) =>
        x - y
      );
      assert.deepEqual(seen, Array.from({ length: RECORDS }, (_, i) => i), "exactly once");
      const parse = (text: string) =>
        text.split("\n").filter((l) => l.includes("resuming partition"))
          .map((l) => JSON.parse(l) as Record<string, unknown>);
      const resumes = parse(b.stderr());
      // (The survivor's own partitions are resumed again only if records remain after the kill.)
      // Every partition the killed member wrote was resumed by the survivor from its checkpoint.
      const fromA = new Set(parse(a.stderr()).map((r) => r.partition));
      assert.ok(fromA.size > 0);
      for (const p of fromA) {
        assert.ok(
          resumes.some((r) => r.partition === p && r.old_stream !== ""),
          `partition ${p}: ${JSON.stringify(resumes)}`,
        );
      }
      const finalized = [...grpc.streams.values()].filter((s) =>
        s.type === "COMMITTED" && s.finalized
      );
      assert.ok(finalized.length >= 2, `finalized streams: ${finalized.length}`);
      console.log(
        `rows ${seen.length} for ${RECORDS}; ${atKill} at the kill; ${resumes.length} resumes by ` +
          `the survivor, ${resumes.reduce((n, r) => n + Number(r.skip_rows ?? 0), 0)} rows skipped`,
      );
    } finally {
      await grpc.stop();
      await bq.stop();
    }
  },
});
