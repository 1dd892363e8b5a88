/**
 * BigQuery subscriber throughput: rows/s of 1 KiB JSON records through the sink core (mapping,
 * batching, the real `@google-cloud/bigquery` client's insertAll) into the fake BigQuery server,
 * which runs as a separate process so the two CPU shares can be told apart. Records come from
 * memory rather than a broker, so the number is the sink's own ceiling; consuming from the broker
 * is measured by `bench/sdk_bench.ts`.
 *
 * ```sh
 * deno run -A bench/subscriber_bench.ts [ROWS] [streaming_inserts|default|committed]
 * ```
 *
 * `default` and `committed` write through the Storage Write API (`@google-cloud/bigquery-storage`)
 * to the fake gRPC server, on the default stream or on exactly-once committed streams.
 *
 * @module
 */

import process from "node:process";
import { systemClock } from "../ops/clock.ts";
import { systemRandom } from "../ops/random.ts";
import type { ConsumerRecord, TopicPartitionOffset } from "../client/mod.ts";
import { createLogger } from "../ops/logger.ts";
import { BigQuerySink } from "../subscriber/bigquery_sink.ts";
import { type RowWriter, StreamingInsertWriter } from "../subscriber/bigquery_writer.ts";
import { CommittedStreamWriter } from "../subscriber/committed_stream_writer.ts";
import { DefaultStreamWriter } from "../subscriber/storage_write_writer.ts";
import { loadSubscriberConfig } from "../subscriber/subscriber_config.ts";

const ROWS = Number(Deno.args[0] ?? 60_000);
const PARTITIONS = 4;
const METHOD = Deno.args[1] ?? "streaming_inserts";
if (!["streaming_inserts", "default", "committed"].includes(METHOD)) {
  throw new RangeError(`the method must be streaming_inserts, default or committed: ${METHOD}`);
}

function _cpuTicks(pid: number): number {
  const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100 per second)
}

/** The target on this 2-core machine. */
const _TARGET_ROWS_S = 50_000;

/**
 * Rows/s of only decoding and parsing the record values on this thread: the floor that every
 * mapping pays, so the sink's rate divided by it shows how much the rest (mapping, batching,
 * the client's copy and request serialization) costs on top.
 */
function _decodeParseRate(records: readonly ConsumerRecord[]): number {
  const dec = new TextDecoder();
  let keep = 0;
  const t0 = performance.now();
  for (const r of records) keep += (JSON.parse(dec.decode(r.value!)) as { id: number }).id & 1;
  const s = (performance.now() - t0) / 1000;
  if (keep < 0) throw new Error("unreachable: keeps the loop from being optimized away");
  return records.length / s;
}

function _records(): ConsumerRecord[] {
  const enc = new TextEncoder();
  return Array.from({ length: ROWS }, (_, i) => {
    const doc = (pad: string) =>
      JSON.stringify({ id: i, user: { id: `user-${i % 1000}`, tier: "gold" }, pad });
    const v = doc("x".repeat(1024 - doc("").length)); // exactly 1 KiB of JSON
    return {
      topic: "bench",
      partition: i % PARTITIONS,
      offset: Math.floor(i / PARTITIONS),
      key: null,
      value: enc.encode(v),
      headers: [],
      timestamp: 0,
    };
  });
}

if (import.meta.main) {
  const fake = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../tests/support/fake_bigquery_main.ts", import.meta.url).pathname,
    ],
    env: { FAKE_BQ_KEEP_ROWS: "0", FAKE_STORAGE_WRITE: METHOD === "streaming_inserts" ? "0" : "1" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = fake.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { apiEndpoint, storageEndpoint } = JSON.parse(
    (await reader.read()).value!.split("\n")[0]!,
  );
  const cfg = loadSubscriberConfig({
    env: {
      GCP_PROJECT_ID: "p",
      BIGQUERY_DATASET: "d",
      BIGQUERY_TABLE: "bench",
      RUSTMQ_TOPIC: "bench",
      AUTH_METHOD: "none",
      BIGQUERY_API_ENDPOINT: apiEndpoint,
      AUTO_CREATE_TABLE: "true",
      DEAD_LETTER_ACTION: "drop",
      ...(METHOD === "streaming_inserts" ? {} : { BIGQUERY_STORAGE_ENDPOINT: storageEndpoint }),
      // The batching knobs can be varied from the environment to see what limits the rate.
      ...Object.fromEntries(
        ["MAX_ROWS_PER_BATCH", "MAX_CONCURRENT_BATCHES", "MAX_BATCH_SIZE_BYTES"]
          .flatMap((k) => Deno.env.get(k) === undefined ? [] : [[k, Deno.env.get(k)!]]),
      ),
    },
    text: METHOD === "streaming_inserts"
      ? ""
      : `[write_method.storage_write]\nstream_type = "${METHOD}"\n`,
  });
  const records = _records();
  const parseRate = _decodeParseRate(records);
  let next = 0;
  const consumer = {
    // Like a real consumer, an empty poll waits (a resolved promise would starve the event loop).
    poll: async (o: { timeoutMs: number }) => {
      if (next >= records.length) await new Promise((r) => setTimeout(r, o.timeoutMs));
      return records.slice(next, next += 500);
    },
    commitOffsets: (_o: Iterable<TopicPartitionOffset>) => Promise.resolve(),
  };
  const rest = new StreamingInsertWriter(cfg);
  const writer: RowWriter & { close?(): void } = METHOD === "streaming_inserts"
    ? rest
    : METHOD === "default"
    ? new DefaultStreamWriter(cfg, rest)
    : new CommittedStreamWriter({
      cfg,
      tables: rest,
      committed: () => Promise.resolve({ offset: -1, metadata: "" }),
      clock: systemClock,
      random: systemRandom,
      logger: createLogger("bench", { level: "warn" }),
    });
  const sink = new BigQuerySink({
    settings: cfg,
    consumer,
    writer,
    deadLetter: { send: () => Promise.resolve() },
    clock: systemClock,
    random: systemRandom,
    logger: createLogger("bench", { level: "warn" }),
  });
  const cpu0 = process.cpuUsage();
  const fake0 = _cpuTicks(fake.pid);
  const t0 = performance.now();
  const run = sink.run();
  while (sink.counters.messages_processed < ROWS) await new Promise((r) => setTimeout(r, 5));
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const subCpuS = (cpu.user + cpu.system) / 1e6;
  const fakeCpuS = (_cpuTicks(fake.pid) - fake0) / 100;
  sink.stop();
  await run;
  writer.close?.();
  const stats = await (await fetch(`${apiEndpoint}/_fake/stats`)).json();
  fake.kill("SIGTERM");
  let tail = "";
  for (let r = await reader.read(); !r.done; r = await reader.read()) tail += r.value;
  await fake.status;
  const stored = METHOD === "streaming_inserts"
    ? stats.rows["p.d.bench"]
    : (JSON.parse(tail.trim().split("\n").at(-1)!) as { storageRows: number }).storageRows;
  if (stored !== ROWS) {
    throw new Error(
      `the fake stored ${stored} rows, expected ${ROWS}: ${JSON.stringify(sink.counters)} ${
        JSON.stringify(stats)
      }`,
    );
  }
  const rate = ROWS / wallS;
  console.log(
    "| method | rows | row size | batches | rows/s | MiB/s | subscriber CPU | fake server CPU " +
      "| ÷ target 50,000 rows/s | ÷ decode+JSON.parse alone |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  console.log(
    `| ${METHOD} | ${ROWS} | 1 KiB | ${sink.counters.batches_sent} | ${Math.round(rate)} | ${
      (ROWS * 1024 / 2 ** 20 / wallS).toFixed(1)
    } | ${(100 * subCpuS / wallS).toFixed(0)}% of a core | ${
      (100 * fakeCpuS / wallS).toFixed(0)
    }% of a core | ${(rate / _TARGET_ROWS_S).toFixed(2)} | ${(rate / parseRate).toFixed(3)} |`,
  );
  console.log(
    `\nDecoding and JSON.parse of the same records alone, on the main thread: ${
      Math.round(parseRate)
    } rows/s.`,
  );
}
