import assert from "node:assert/strict";
import { adapt } from "@google-cloud/bigquery-storage";
import { systemClock } from "../ops/clock.ts";
import { silentLogger } from "../ops/logger.ts";
import { fixedRandom } from "../ops/random.ts";
import { startFakeBigQueryServer } from "../tests/support/fake_bigquery_server.ts";
import { startFakeStorageWriteServer } from "../tests/support/fake_storage_write_server.ts";
import { StreamingInsertWriter } from "./bigquery_writer.ts";
import { type CommittedAt, CommittedStreamWriter } from "./committed_stream_writer.ts";
import { decodeCheckpoint } from "./committed_checkpoint.ts";
import { loadSubscriberConfig } from "./subscriber_config.ts";

const _TABLE = "projects/p/datasets/d/tables/t";

/** Both fakes, and a stand-in for the group's committed offsets (topic x, partition 0). */
async function _fakes(env: Record<string, string> = {}) {
  const rest = startFakeBigQueryServer();
  const grpc = await startFakeStorageWriteServer((table) => {
    const resource = table === _TABLE ? rest.table("p.d.t") : undefined;
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
      RETRY_BASE_MS: "10",
      BIGQUERY_API_ENDPOINT: rest.apiEndpoint,
      BIGQUERY_STORAGE_ENDPOINT: `${grpc.host}:${grpc.port}`,
      ...env,
    },
    text: '[write_method.storage_write]\nstream_type = "committed"\n',
  });
  const group = { at: { offset: -1, metadata: "" } as CommittedAt, commits: 0, retries: 0 };
  const writers: CommittedStreamWriter[] = [];
  /** A writer as one subscriber process would have it; `settled` plays the sink's tracker. */
  const writer = (settled: () => number) => {
    const w = new CommittedStreamWriter({
      cfg,
      tables: new StreamingInsertWriter(cfg),
      committed: () => Promise.resolve(group.at),
      clock: systemClock,
      random: fixedRandom(0.5),
      logger: silentLogger,
    });
    w.bindSink({
      commit: (topic, partition) => {
        group.at = w.checkpoint(topic, partition, settled())!;
        group.commits++;
        return Promise.resolve();
      },
      retried: () => group.retries++,
    });
    writers.push(w);
    return w;
  };
  return {
    rest,
    grpc,
    group,
    writer,
    async [Symbol.asyncDispose]() {
      for (const w of writers) w.close();
      await grpc.stop();
      await rest.stop();
    },
  };
}

const _rows = (from: number, to: number, extra: Record<string, unknown> = {}) =>
  Array.from({ length: to - from }, (_, i) => ({
    insertId: `x/0/${from + i}`,
    json: { n: from + i, ...extra },
  }));

const _ok = { rejected: new Map(), stopped: [] };

Deno.test("CommittedStreamWriter resumes after a crash: old stream finalized, replay skipped, zombie fenced", async () => {
  await using f = await _fakes();
  const first = f.writer(() => 0);
  first.open("x", 0, 0);
  assert.deepEqual(await first.insert(_rows(0, 10)), _ok);
  // Records 0..4 are settled and committed with their checkpoint; 5..9 landed, not committed.
  const c = first.checkpoint("x", 0, 5)!;
  f.group.at = c;
  const cp = decodeCheckpoint(c.metadata)!;
  assert.equal(cp.x, 5);
  assert.deepEqual(c.offset, 5);

  // The restart replays from 5: 5..9 are skipped, 10..14 go to a new stream from offset 0.
  const second = f.writer(() => 5);
  second.open("x", 0, 5);
  assert.deepEqual(await second.insert(_rows(5, 15)), _ok);
  const ns = f.grpc.visibleRows(_TABLE).map((r) => Number(r.n));
  assert.deepEqual(ns, Array.from({ length: 15 }, (_, i) => i), "each row exactly once");
  assert.equal(f.grpc.streams.get(cp.s)!.finalized, true);
  const now = decodeCheckpoint(f.group.at.metadata)!;
  assert.notEqual(now.s, cp.s, "the new stream was checkpointed before its first append");
  // The first process, still alive (a zombie), cannot add to its finalized stream.
  assert.deepEqual(await first.insert(_rows(10, 12)), { rejected: new Map(), stopped: [0, 1] });
  assert.equal(f.grpc.visibleRows(_TABLE).length, 15);
});

Deno.test("CommittedStreamWriter: a refused row is a gap, checkpointed before the next append", async () => {
  await using f = await _fakes();
  const w = f.writer(() => 0);
  w.open("x", 0, 0);
  assert.deepEqual(await w.insert(_rows(0, 2)), _ok); // creates the table {n}
  const commitsBefore = f.group.commits;
  const out = await w.insert([..._rows(2, 3, { bogus: 1 }), ..._rows(3, 5)]);
  assert.deepEqual(out, { rejected: new Map([[0, "no such field in the table"]]), stopped: [] });
  assert.equal(f.group.commits, commitsBefore + 1, "one checkpoint between the gap and row 3");
  assert.deepEqual(decodeCheckpoint(f.group.at.metadata)!.gaps, ["2"]);
  assert.deepEqual(f.grpc.visibleRows(_TABLE).map((r) => Number(r.n)), [0, 1, 3, 4]);

  // A restart from 0 skips the four rows in the table and the gap, and appends only row 5.
  const again = f.writer(() => 0);
  again.open("x", 0, 0);
  const replay = await again.insert([..._rows(0, 2), ..._rows(2, 3, { bogus: 1 }), ..._rows(3, 6)]);
  assert.equal(replay.rejected.size, 1, "the gap is refused again, so it is dead-lettered again");
  assert.deepEqual(f.grpc.visibleRows(_TABLE).map((r) => Number(r.n)), [0, 1, 3, 4, 5]);
});

const _UNAVAILABLE = 14;

Deno.test("CommittedStreamWriter: an append that landed but lost its answer is not written twice", async () => {
  await using f = await _fakes();
  const w = f.writer(() => 0);
  assert.deepEqual(await w.insert(_rows(0, 2)), _ok);
  f.grpc.failAppends(1, _UNAVAILABLE, true); // stored, then answered UNAVAILABLE
  assert.deepEqual(await w.insert(_rows(2, 5)), _ok);
  // The retry at the same offset was answered ALREADY_EXISTS: the rows are there once.
  assert.deepEqual(f.grpc.visibleRows(_TABLE).map((r) => Number(r.n)), [0, 1, 2, 3, 4]);
  assert.equal(f.group.retries, 1, "the sink heard of the retry");
  assert.deepEqual(await w.insert(_rows(5, 6)), _ok);
  assert.equal(f.grpc.visibleRows(_TABLE).length, 6);
});

Deno.test("CommittedStreamWriter: when retries run out, finalizing tells whether the rows landed", async () => {
  await using f = await _fakes({ MAX_RETRIES: "1" });
  const w = f.writer(() => 0);
  assert.deepEqual(await w.insert(_rows(0, 2)), _ok);
  const first = decodeCheckpoint(f.group.at.metadata)!.s;
  // Landed but answered UNAVAILABLE, then the retry failed too: finalizing shows the rows
  // landed, so they are done, and the partition leaves the stream.
  f.grpc.failAppends(1, _UNAVAILABLE, true);
  f.grpc.failAppends(1, _UNAVAILABLE, false);
  assert.deepEqual(await w.insert(_rows(2, 4)), _ok);
  assert.equal(f.grpc.streams.get(first)!.finalized, true);
  // Never landed: refused (dead-lettered) and recorded as gaps.
  f.grpc.failAppends(2, _UNAVAILABLE, false);
  const out = await w.insert(_rows(4, 6));
  assert.equal(out.rejected.size, 2);
  assert.match(out.rejected.get(0)!, /gave up/);
  // The next rows go to a new stream, checkpointed (with the gaps) before its first append.
  assert.deepEqual(await w.insert(_rows(6, 7)), _ok);
  const now = decodeCheckpoint(f.group.at.metadata)!;
  assert.notEqual(now.s, first);
  assert.deepEqual([...now.gaps].sort(), ["4", "5"]);
  assert.deepEqual(f.grpc.visibleRows(_TABLE).map((r) => Number(r.n)).sort((a, b) => a - b), [
    0,
    1,
    2,
    3,
    6,
  ]);
});

Deno.test("CommittedStreamWriter: BigQuery's row errors refuse those rows and append the rest", async () => {
  await using f = await _fakes();
  const w = f.writer(() => 0);
  assert.deepEqual(await w.insert(_rows(0, 1)), _ok);
  f.grpc.rejectRowsWhere((r) => r.n === "3");
  const out = await w.insert(_rows(1, 5));
  assert.deepEqual([...out.rejected.keys()], [2]);
  assert.match(out.rejected.get(2)!, /BigQuery refused the row: .*row 2 is invalid/);
  assert.deepEqual(out.stopped, []);
  assert.deepEqual(decodeCheckpoint(f.group.at.metadata)!.gaps, ["3"]);
  assert.deepEqual(f.grpc.visibleRows(_TABLE).map((r) => Number(r.n)), [0, 1, 2, 4]);
});
