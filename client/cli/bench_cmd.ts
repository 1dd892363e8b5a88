/**
 * `rustmq bench`: the load generator, modelled on kafka-producer-perf-test.
 *
 * @module
 */

import {
  type Command,
  type CommandIo,
  EXIT_FAILURE,
  EXIT_OK,
  intOpt,
  type OptionValues,
  stringOpt,
  UsageError,
} from "../../config/cli.ts";
import { COMPRESSION_CODECS, type CompressionCodec } from "../../protocol/record/compression.ts";
import { parseAckLevel } from "../ack_level.ts";
import { CA_CERT_OPTION, connectFromOptions, SASL_OPTIONS } from "./_cli_client.ts";
import type { LatencySummary } from "./latency_recorder.ts";
import {
  type BenchProgress,
  type BenchResult,
  type BenchSettings,
  ensureTopic,
  newProgress,
  runConsume,
  runEndToEnd,
  runProduce,
} from "./bench_runner.ts";

const _MIB = 1024 * 1024;

/** The `bench` subcommand. */
export const benchCommand: Command = {
  name: "bench",
  summary: "Generate load and report throughput and latency (produce, consume, e2e)",
  positionals: "<produce|consume|e2e>",
  details: "produce: send --records records of --record-size bytes from --producers producers,\n" +
    "  at most --inflight records in flight each; latency is send to acknowledgement.\n" +
    "consume: read --records records from the start of every partition.\n" +
    "e2e: produce at --throughput records/s (5000 when -1) while a consumer reads;\n" +
    "  latency is send to poll, and publish latency send to acknowledgement.\n" +
    "A progress line goes to stderr every second; --json prints one object\n" +
    '  {"records", "records_per_sec", "mib_per_sec", "latency_ms": {"p50", "p99", "p999", "max"}}\n' +
    '  (latencies are 0 for consume); e2e adds "publish_latency_ms" with the same fields.',
  options: {
    bootstrap: {
      type: "string",
      short: "b",
      arg: "URL",
      default: "tcp://127.0.0.1:9092",
      help: "Broker URL",
    },
    topic: { type: "string", short: "t", arg: "TOPIC", default: "bench", help: "Topic" },
    records: { type: "string", arg: "N", default: "100000", help: "Records to send" },
    "record-size": { type: "string", arg: "BYTES", default: "1024", help: "Record size" },
    throughput: {
      type: "string",
      arg: "N",
      default: "-1",
      help: "Target records/s (-1: unlimited)",
    },
    acks: { type: "string", arg: "ACKS", default: "1", help: "0, 1, all or -1" },
    transport: { type: "string", arg: "T", help: "tcp or quic (replaces the URL's scheme)" },
    producers: { type: "string", arg: "N", default: "1", help: "Concurrent producers" },
    partitions: { type: "string", arg: "N", default: "1", help: "Partitions of the topic" },
    inflight: {
      type: "string",
      arg: "N",
      default: "10000",
      help: "Records in flight per producer (1: one request at a time)",
    },
    compression: { type: "string", arg: "CODEC", default: "none", help: "Batch compression" },
    "linger-ms": { type: "string", arg: "MS", default: "0", help: "Producer linger" },
    "ca-cert": CA_CERT_OPTION,
    ...SASL_OPTIONS,
    json: { type: "boolean", help: "Print one JSON object" },
  },
  async run(values, positionals, io) {
    const mode = positionals[0];
    if (mode !== "produce" && mode !== "consume" && mode !== "e2e") {
      throw new UsageError(`expected produce, consume or e2e: current value is '${mode ?? ""}'`);
    }
    const settings = _settings(values);
    const open = () => connectFromOptions(values, { requestTimeoutMs: 60_000 });
    const admin = await open();
    try {
      await ensureTopic(admin, settings);
    } finally {
      await admin.close();
    }
    const progress = newProgress(settings.records);
    const ticker = _progressLine(progress, io);
    let result: BenchResult;
    try {
      const run = mode === "produce" ? runProduce : mode === "consume" ? runConsume : runEndToEnd;
      result = await run(open, settings, progress);
    } finally {
      clearInterval(ticker);
    }
    io.out(values.json === true ? `${JSON.stringify(_json(result))}\n` : _summary(mode, result));
    if (result.failed > 0) {
      io.err(`rustmq bench: ${result.failed} records failed or were missing\n`);
      return EXIT_FAILURE;
    }
    return EXIT_OK;
  },
};

function _settings(values: OptionValues): BenchSettings {
  const compression = stringOpt(values, "compression") ?? "none";
  if (!COMPRESSION_CODECS.includes(compression as CompressionCodec)) {
    throw new UsageError(`--compression must be one of ${COMPRESSION_CODECS.join(", ")}`);
  }
  let ackLevel;
  try {
    ackLevel = parseAckLevel(stringOpt(values, "acks") ?? "1");
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const throughput = intOpt(values, "throughput", { min: -1 }) ?? -1;
  if (throughput === 0) throw new UsageError("--throughput must be -1 or positive");
  return {
    topic: stringOpt(values, "topic") ?? "bench",
    records: intOpt(values, "records", { min: 1, max: 1_000_000_000 }) ?? 100_000,
    recordSize: intOpt(values, "record-size", { min: 0, max: 16 * _MIB }) ?? 1024,
    throughput,
    ackLevel,
    producers: intOpt(values, "producers", { min: 1, max: 1000 }) ?? 1,
    partitions: intOpt(values, "partitions", { min: 1, max: 10_000 }) ?? 1,
    inflight: intOpt(values, "inflight", { min: 1, max: 1_000_000 }) ?? 10_000,
    compression: compression as CompressionCodec,
    lingerMs: intOpt(values, "linger-ms", { min: 0, max: 60_000 }) ?? 0,
  };
}

function _progressLine(progress: BenchProgress, io: CommandIo): ReturnType<typeof setInterval> {
  let last = { at: performance.now(), records: 0, bytes: 0 };
  return setInterval(() => {
    const now = { at: performance.now(), records: progress.records, bytes: progress.bytes };
    const seconds = (now.at - last.at) / 1000;
    // Not summary(): it sorts up to 10^6 samples, which every second took 10% of a run's CPU.
    const s = progress.latency.running;
    io.err(
      `${now.records} records, ${
        ((now.records - last.records) / seconds).toFixed(1)
      } records/sec ` +
        `(${((now.bytes - last.bytes) / _MIB / seconds).toFixed(2)} MiB/sec), ` +
        `${s.avg.toFixed(2)} ms avg latency, ${s.max.toFixed(2)} ms max latency\n`,
    );
    last = now;
  }, 1000);
}

function _rates(r: BenchResult) {
  const seconds = Math.max(r.elapsedMs, 1) / 1000;
  return { recordsPerSec: r.records / seconds, mibPerSec: r.bytes / _MIB / seconds };
}

function _summary(mode: string, r: BenchResult): string {
  const { recordsPerSec, mibPerSec } = _rates(r);
  const l = r.latency;
  const latency = mode === "consume" ? "" : `, ${l.avg.toFixed(2)} ms avg latency, ` +
    `${l.p50.toFixed(2)} ms 50th, ${l.p99.toFixed(2)} ms 99th, ${l.p999.toFixed(2)} ms 99.9th, ` +
    `${l.max.toFixed(2)} ms max`;
  const p = r.publishLatency;
  const publish = p === undefined ? "" : `; publish (send to ack) ${p.p50.toFixed(2)} ms 50th, ` +
    `${p.p99.toFixed(2)} ms 99th, ${p.p999.toFixed(2)} ms 99.9th, ${p.max.toFixed(2)} ms max`;
  const rates = `${recordsPerSec.toFixed(1)} records/sec (${mibPerSec.toFixed(2)} MiB/sec)`;
  return `${mode}: ${r.records} records in ${(r.elapsedMs / 1000).toFixed(2)} s, ` +
    `${rates}${latency}${publish}\n`;
}

function _json(r: BenchResult) {
  const { recordsPerSec, mibPerSec } = _rates(r);
  const round = (n: number) => Math.round(n * 1000) / 1000;
  const percentiles = (l: LatencySummary) => ({
    p50: round(l.p50),
    p99: round(l.p99),
    p999: round(l.p999),
    max: round(l.max),
  });
  return {
    records: r.records,
    records_per_sec: round(recordsPerSec),
    mib_per_sec: round(mibPerSec),
    latency_ms: percentiles(r.latency),
    ...(r.publishLatency === undefined
      ? {}
      : { publish_latency_ms: percentiles(r.publishLatency) }),
  };
}
