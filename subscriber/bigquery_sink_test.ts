import assert from "node:assert/strict";
import { systemClock } from "../ops/clock.ts";
import { fixedRandom } from "../ops/random.ts";
import type { ConsumerRecord, TopicPartitionOffset } from "../client/mod.ts";
import { silentLogger } from "../ops/logger.ts";
import { startFakeBigQueryServer } from "../tests/support/fake_bigquery_server.ts";
import { BigQuerySink, type SinkConsumer } from "./bigquery_sink.ts";
import { StreamingInsertWriter } from "./bigquery_writer.ts";
import { createDeadLetter } from "./dead_letter.ts";
import { loadSubscriberConfig } from "./subscriber_config.ts";

const _enc = new TextEncoder();

/** A consumer that hands out scripted records, a few per poll, and keeps the commits. */
class _ScriptedConsumer implements SinkConsumer {
  commits: TopicPartitionOffset[][] = [];
  polls = 0;
  constructor(private records: ConsumerRecord[], private perPoll = 7) {}
  async poll(o: { timeoutMs: number }): Promise<ConsumerRecord[]> {
    this.polls++;
    if (this.records.length === 0) {
      await new Promise((r) => setTimeout(r, Math.min(o.timeoutMs, 5)));
    }
    return this.records.splice(0, this.perPoll);
  }
  commitOffsets(offsets: Iterable<TopicPartitionOffset>): Promise<void> {
    this.commits.push([...offsets]);
    return Promise.resolve();
  }
  committed(): Map<string, number> {
    const m = new Map<string, number>();
    for (const c of this.commits) for (const o of c) m.set(`${o.topic}/${o.partition}`, o.offset);
    return m;
  }
}

function _records(n: number, partitions = 2, bad: (i: number) => boolean = () => false) {
  return Array.from({ length: n }, (_, i): ConsumerRecord => ({
    topic: "ev",
    partition: i % partitions,
    offset: Math.floor(i / partitions),
    key: _enc.encode(`k${i}`),
    value: _enc.encode(bad(i) ? `not json ${i}` : JSON.stringify({ i, user: { id: `u${i}` } })),
    headers: [{ key: "h", value: _enc.encode("v") }],
    timestamp: 1_700_000_000_000 + i,
  }));
}

function _setup(endpoint: string, env: Record<string, string> = {}) {
  return loadSubscriberConfig({
    env: {
      GCP_PROJECT_ID: "p",
      BIGQUERY_DATASET: "d",
      BIGQUERY_TABLE: "t",
      RUSTMQ_TOPIC: "ev",
      AUTH_METHOD: "none",
      BIGQUERY_API_ENDPOINT: endpoint,
      AUTO_CREATE_TABLE: "true",
      MAX_BATCH_LATENCY_MS: "20",
      RETRY_BASE_MS: "5",
      RETRY_MAX_MS: "20",
      ...env,
    },
  });
}

async function _runUntil(sink: BigQuerySink, done: () => boolean, limitMs = 10_000) {
  const run = sink.run();
  const t0 = Date.now();
  while (!done() && Date.now() - t0 < limitMs) await new Promise((r) => setTimeout(r, 10));
  sink.stop();
  await run;
}

Deno.test("sink: every good row arrives once, bad ones are dead-lettered, offsets committed", async () => {
  const bq = startFakeBigQueryServer();
  try {
    const cfg = _setup(bq.apiEndpoint, { MAX_ROWS_PER_BATCH: "10", METADATA_COLUMNS: "_offset" });
    const consumer = new _ScriptedConsumer(_records(100, 2, (i) => i % 17 === 0));
    const dead: string[] = [];
    const sink = new BigQuerySink({
      settings: cfg,
      consumer,
      writer: new StreamingInsertWriter(cfg),
      deadLetter: {
        send: (r, why) => (dead.push(`${r.partition}/${r.offset}:${why}`), Promise.resolve()),
      },
      clock: systemClock,
      random: fixedRandom(0.5),
      logger: silentLogger,
    });
    await _runUntil(sink, () => sink.counters.messages_processed === 100);
    const rows = bq.rows("p.d.t");
    assert.equal(rows.length, 100 - 6);
    assert.equal(new Set(rows.map((r) => r.insertId)).size, rows.length);
    assert.equal(dead.length, 6);
    assert.match(dead[0]!, /^0\/0:the value is not JSON/);
    assert.deepEqual(consumer.committed(), new Map([["ev/0", 50], ["ev/1", 50]]));
    assert.equal(sink.counters.rows_inserted, 94);
    assert.equal(sink.counters.dead_lettered, 6);
    assert.ok(sink.counters.batches_sent >= 10, `${sink.counters.batches_sent} batches`);
    assert.ok(bq.table("p.d.t")?.schema !== undefined, "auto-created with a schema");
  } finally {
    await bq.stop();
  }
});

Deno.test("sink: 503 and 429 are retried with backoff; redelivery keeps insertIds", async () => {
  const bq = startFakeBigQueryServer();
  try {
    bq.createTable("p.d.t");
    const cfg = _setup(bq.apiEndpoint, { MAX_ROWS_PER_BATCH: "25", MAX_RETRIES: "5" });
    bq.failNext(2, 503);
    const records = _records(50);
    const consumer = new _ScriptedConsumer(records.slice());
    const sink = new BigQuerySink({
      settings: { ...cfg },
      consumer,
      writer: new StreamingInsertWriter(cfg),
      deadLetter: createDeadLetter({ action: "drop", topic: "", file: "", logger: silentLogger }),
      clock: systemClock,
      random: fixedRandom(0),
      logger: silentLogger,
    });
    await _runUntil(sink, () => sink.counters.messages_processed === 50);
    assert.ok(sink.counters.retries >= 2, `retries ${sink.counters.retries}`);
    // A restarted subscriber gets the first 20 again: same insertIds, so BigQuery drops them.
    bq.failNext(1, 429);
    const again = new _ScriptedConsumer(records.slice(0, 20));
    const sink2 = new BigQuerySink({
      settings: cfg,
      consumer: again,
      writer: new StreamingInsertWriter(cfg),
      deadLetter: createDeadLetter({ action: "drop", topic: "", file: "", logger: silentLogger }),
      clock: systemClock,
      random: fixedRandom(0),
      logger: silentLogger,
    });
    await _runUntil(sink2, () => sink2.counters.messages_processed === 20);
    assert.equal(sink2.counters.retries, 1);
    assert.equal(bq.rows("p.d.t").length, 50);
    assert.equal(bq.deduplicated(), 20);
  } finally {
    await bq.stop();
  }
});

Deno.test("sink: a batch failing past MAX_RETRIES is dead-lettered, not blocking", async () => {
  const bq = startFakeBigQueryServer();
  try {
    bq.createTable("p.d.t");
    const cfg = _setup(bq.apiEndpoint, { MAX_RETRIES: "2", MAX_ROWS_PER_BATCH: "1000" });
    bq.failNext(3, 503);
    const consumer = new _ScriptedConsumer(_records(10, 1), 10);
    const dead: string[] = [];
    const sink = new BigQuerySink({
      settings: cfg,
      consumer,
      writer: new StreamingInsertWriter(cfg),
      deadLetter: { send: (_r, why) => (dead.push(why), Promise.resolve()) },
      clock: systemClock,
      random: fixedRandom(0),
      logger: silentLogger,
    });
    await _runUntil(sink, () => sink.counters.messages_processed === 10);
    assert.equal(dead.length, 10);
    assert.match(dead[0]!, /^gave up after 2 retries: Cannot get the table in BigQuery: 503/);
    assert.deepEqual(consumer.committed(), new Map([["ev/0", 10]]));
    assert.equal(sink.health().status, "degraded");
  } finally {
    await bq.stop();
  }
});

Deno.test("sink: per-row insertErrors dead-letter their record; stopped siblings are resent", async () => {
  const bq = startFakeBigQueryServer();
  try {
    bq.createTable("p.d.t");
    bq.rejectRowsWhere((j) => (j.i as number) % 4 === 1 ? "bad row" : undefined);
    const cfg = _setup(bq.apiEndpoint, { MAX_ROWS_PER_BATCH: "8" });
    const consumer = new _ScriptedConsumer(_records(40, 1), 40);
    const dead: string[] = [];
    const sink = new BigQuerySink({
      settings: cfg,
      consumer,
      writer: new StreamingInsertWriter(cfg),
      deadLetter: { send: (r, why) => (dead.push(`${r.offset} ${why}`), Promise.resolve()) },
      clock: systemClock,
      random: fixedRandom(0),
      logger: silentLogger,
    });
    await _runUntil(sink, () => sink.counters.messages_processed === 40);
    assert.equal(dead.length, 10);
    assert.equal(dead[0], "1 BigQuery refused the row: invalid: bad row");
    assert.equal(bq.rows("p.d.t").length, 30);
    assert.deepEqual(consumer.committed(), new Map([["ev/0", 40]]));
    assert.equal(sink.health().status, "healthy");
  } finally {
    await bq.stop();
  }
});

Deno.test("sink: batches stay within MAX_CONCURRENT_BATCHES and polling stops while full", async () => {
  const bq = startFakeBigQueryServer();
  try {
    bq.createTable("p.d.t");
    bq.delayNext(4, 150);
    const cfg = _setup(bq.apiEndpoint, { MAX_ROWS_PER_BATCH: "5", MAX_CONCURRENT_BATCHES: "2" });
    const consumer = new _ScriptedConsumer(_records(40, 1), 5);
    const sink = new BigQuerySink({
      settings: cfg,
      consumer,
      writer: new StreamingInsertWriter(cfg),
      deadLetter: { send: () => Promise.resolve() },
      clock: systemClock,
      random: fixedRandom(0),
      logger: silentLogger,
    });
    let maxInFlight = 0;
    const watch = setInterval(() => {
      maxInFlight = Math.max(maxInFlight, sink.counters.batches_in_flight);
    }, 2);
    await _runUntil(sink, () => sink.counters.messages_processed === 40);
    clearInterval(watch);
    assert.equal(maxInFlight, 2);
    assert.equal(bq.rows("p.d.t").length, 40);
  } finally {
    await bq.stop();
  }
});

Deno.test("sink: stop flushes the open batch and commits it", async () => {
  const bq = startFakeBigQueryServer();
  try {
    bq.createTable("p.d.t");
    const cfg = _setup(bq.apiEndpoint, { MAX_BATCH_LATENCY_MS: "3600000" });
    const consumer = new _ScriptedConsumer(_records(12, 1), 12);
    const sink = new BigQuerySink({
      settings: cfg,
      consumer,
      writer: new StreamingInsertWriter(cfg),
      deadLetter: { send: () => Promise.resolve() },
      clock: systemClock,
      random: fixedRandom(0),
      logger: silentLogger,
    });
    await _runUntil(sink, () => sink.counters.messages_received === 12);
    assert.equal(bq.rows("p.d.t").length, 12);
    assert.deepEqual(consumer.committed(), new Map([["ev/0", 12]]));
  } finally {
    await bq.stop();
  }
});

Deno.test("sink: shutdown gives up after gracefulShutdownTimeoutMs and commits only what finished", async () => {
  const bq = startFakeBigQueryServer();
  try {
    bq.createTable("p.d.t");
    const cfg = _setup(bq.apiEndpoint, {
      MAX_ROWS_PER_BATCH: "5",
      GRACEFUL_SHUTDOWN_TIMEOUT_MS: "100",
      MAX_BATCH_LATENCY_MS: "3600000",
    });
    const consumer = new _ScriptedConsumer(_records(10, 1), 10);
    const sink = new BigQuerySink({
      settings: cfg,
      consumer,
      writer: new StreamingInsertWriter(cfg),
      deadLetter: { send: () => Promise.resolve() },
      clock: systemClock,
      random: fixedRandom(0),
      logger: silentLogger,
    });
    // Offsets 0-9 (two full batches) are answered at once; the batch of 10-14 is held 1.5 s.
    const run = sink.run();
    await new Promise((r) => setTimeout(r, 300));
    bq.delayNext(1, 1500);
    const more = _records(15, 1).slice(10);
    consumer["records"].push(...more);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    sink.stop();
    await run;
    const took = Date.now() - t0;
    assert.ok(took < 1000, `shutdown took ${took} ms`);
    assert.deepEqual(consumer.committed(), new Map([["ev/0", 10]]));
    // The consumer's close runs the revoked listener, which drains: it must not wait either.
    const t1 = Date.now();
    await sink.drain();
    assert.ok(Date.now() - t1 < 200, "drain after stop does not wait for held batches");
    await new Promise((r) => setTimeout(r, 1600)); // the held request lands before the fake stops
  } finally {
    await bq.stop();
  }
});

Deno.test("sink: AUTO_CREATE_TABLE with BIGQUERY_SCHEMA_FILE creates the table from the file", async () => {
  const bq = startFakeBigQueryServer();
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, JSON.stringify([{ name: "i", type: "INTEGER" }]));
    const cfg = _setup(bq.apiEndpoint, {
      BIGQUERY_SCHEMA_FILE: file,
    });
    // The file's schema has no "user" column, so ignore_unknown_values must drop it.
    const lax = { ...cfg, ignoreUnknownValues: true };
    const consumer = new _ScriptedConsumer(_records(5, 1), 5);
    const sink = new BigQuerySink({
      settings: lax,
      consumer,
      writer: new StreamingInsertWriter(lax),
      deadLetter: { send: () => Promise.resolve() },
      clock: systemClock,
      random: fixedRandom(0),
      logger: silentLogger,
    });
    await _runUntil(sink, () => sink.counters.messages_processed === 5);
    assert.deepEqual((bq.table("p.d.t")?.schema as { fields: unknown[] }).fields, [
      { name: "i", type: "INTEGER" },
    ]);
    assert.deepEqual(bq.rows("p.d.t").map((r) => r.json), [0, 1, 2, 3, 4].map((i) => ({ i })));
  } finally {
    await Deno.remove(file);
    await bq.stop();
  }
});

Deno.test("sink: a failing dead-letter action is retried and holds the offset until it succeeds", async () => {
  const bq = startFakeBigQueryServer();
  try {
    bq.createTable("p.d.t");
    const cfg = _setup(bq.apiEndpoint);
    const consumer = new _ScriptedConsumer(_records(3, 1, (i) => i === 1), 3);
    let calls = 0;
    const sink = new BigQuerySink({
      settings: cfg,
      consumer,
      writer: new StreamingInsertWriter(cfg),
      deadLetter: {
        send: () => ++calls < 3 ? Promise.reject(new Error("DLQ down")) : Promise.resolve(),
      },
      clock: systemClock,
      random: fixedRandom(0),
      logger: silentLogger,
    });
    await _runUntil(sink, () => sink.counters.messages_processed === 3);
    assert.equal(calls, 3);
    assert.equal(sink.counters.dead_lettered, 1);
    // Offset 0 was never blocked, offset 1 only after its dead-lettering succeeded.
    const commits = consumer.commits.flat().map((o) => o.offset);
    assert.deepEqual(commits.filter((o) => o >= 2), [3]);
  } finally {
    await bq.stop();
  }
});

/** An ordered writer stand-in: records the order of inserts, answers them out of order. */
class _OrderedWriter {
  readonly ordered = true;
  readonly calls: string[][] = [];
  ready = false;
  hooks: import("./bigquery_writer.ts").OrderedSinkHooks | null = null;
  /** insertIds left unsettled (as a fenced writer leaves them). */
  stop = new Set<string>();
  ensureTable(): Promise<void> {
    return Promise.resolve();
  }
  open(): void {}
  bindSink(h: import("./bigquery_writer.ts").OrderedSinkHooks): void {
    this.hooks = h;
  }
  checkpoint(_t: string, _p: number, settled: number) {
    return this.ready ? { offset: Math.max(settled, 0), metadata: `m${settled}` } : null;
  }
  async insert(rows: readonly { insertId: string }[]) {
    this.calls.push(rows.map((r) => r.insertId));
    // Earlier calls wait longer, so answers come back in the reverse order.
    await new Promise((r) => setTimeout(r, Math.max(0, 40 - 10 * this.calls.length)));
    const stopped = rows.flatMap((r, i) => this.stop.has(r.insertId) ? [i] : []);
    return { rejected: new Map<number, string>(), stopped };
  }
}

Deno.test("sink with an ordered writer: inserts in order, commits with its metadata, none before it is ready", async () => {
  const cfg = _setup("http://127.0.0.1:1", {
    MAX_ROWS_PER_BATCH: "5",
    MAX_CONCURRENT_BATCHES: "4",
  });
  const consumer = new _ScriptedConsumer(_records(40, 1), 40);
  const writer = new _OrderedWriter();
  writer.stop.add("ev/0/30");
  const sink = new BigQuerySink({
    settings: cfg,
    consumer,
    writer: writer as unknown as import("./bigquery_writer.ts").RowWriter,
    deadLetter: createDeadLetter({ action: "drop", topic: "", file: "", logger: silentLogger }),
    clock: systemClock,
    random: fixedRandom(0.5),
    logger: silentLogger,
  });
  await _runUntil(sink, () => sink.counters.rows_inserted >= 39);
  // Batches reached the writer in record order, although their answers came back reversed.
  const ids = writer.calls.flat().map((id) => Number(id.split("/")[2]));
  assert.deepEqual(ids, Array.from({ length: 40 }, (_, i) => i));
  assert.equal(consumer.commits.length, 0, "nothing committed before the writer resumed");
  writer.ready = true;
  await writer.hooks!.commit("ev", 0);
  // Record 30 was left unsettled, so the offset stops there; the metadata is the writer's.
  assert.deepEqual(consumer.commits.at(-1), [{
    topic: "ev",
    partition: 0,
    offset: 30,
    metadata: "m30",
  }]);
});
