/**
 * The NATS JetStream side of `bench/peer_nats.sh`: the same workloads as `rustmq bench`
 * (produce with N records in flight, consume everything back, end-to-end latency at a rate),
 * printed as the same JSON object, so the two can be compared line by line.
 *
 * JetStream publishes are acknowledged once the stream (R1, file storage) stored the message,
 * which is the closest NATS has to `acks=leader`.
 *
 * Usage: deno run -A bench/nats_peer.ts <produce|consume|e2e> --url 127.0.0.1:4222
 *   --stream S --records N --record-size B [--inflight N] [--throughput N]
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  connect,
  DeliverPolicy,
  type JetStreamClient,
  type NatsConnection,
  StorageType,
} from "nats";
import { LatencyRecorder } from "../client/cli/latency_recorder.ts";

const MIB = 1024 * 1024;

interface Args {
  mode: string;
  url: string;
  stream: string;
  records: number;
  recordSize: number;
  inflight: number;
  throughput: number;
}

function parse(): Args {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      url: { type: "string", default: "127.0.0.1:4222" },
      stream: { type: "string", default: "bench" },
      records: { type: "string", default: "100000" },
      "record-size": { type: "string", default: "1024" },
      inflight: { type: "string", default: "10000" },
      throughput: { type: "string", default: "-1" },
    },
  });
  return {
    mode: positionals[0] ?? "produce",
    url: values.url!,
    stream: values.stream!,
    records: Number(values.records),
    recordSize: Number(values["record-size"]),
    inflight: Number(values.inflight),
    throughput: Number(values.throughput),
  };
}

async function ensureStream(nc: NatsConnection, stream: string): Promise<void> {
  const jsm = await nc.jetstreamManager();
  try {
    await jsm.streams.info(stream);
  } catch {
    await jsm.streams.add({
      name: stream,
      subjects: [`${stream}.data`],
      storage: StorageType.File,
      num_replicas: 1,
    });
  }
}

async function pace(due: number): Promise<void> {
  const ahead = due - performance.now();
  if (ahead >= 1) await new Promise((r) => setTimeout(r, ahead));
}

async function produce(js: JetStreamClient, a: Args, latency: LatencyRecorder) {
  const value = new Uint8Array(a.recordSize).fill(0x61);
  const subject = `${a.stream}.data`;
  await js.publish(subject, value); // warm-up, like rustmq bench
  let outstanding = 0;
  let wake: (() => void) | null = null;
  let done = 0;
  let failed = 0;
  const start = performance.now();
  for (let i = 0; i < a.records; i++) {
    if (a.throughput > 0) await pace(start + (i * 1000) / a.throughput);
    while (outstanding >= a.inflight) await new Promise<void>((r) => wake = r);
    outstanding += 1;
    const sentAt = performance.now();
    js.publish(subject, value).then(() => {
      latency.record(performance.now() - sentAt);
      done += 1;
    }, () => failed += 1).finally(() => {
      outstanding -= 1;
      wake?.();
      wake = null;
    });
  }
  while (outstanding > 0) await new Promise<void>((r) => wake = r);
  return { records: done, bytes: done * a.recordSize, ms: performance.now() - start, failed };
}

async function consume(js: JetStreamClient, a: Args) {
  const consumer = await js.consumers.get(a.stream);
  const start = performance.now();
  const messages = await consumer.consume({ max_messages: 10_000 });
  let records = 0;
  let bytes = 0;
  for await (const m of messages) {
    records += 1;
    bytes += m.data.length;
    if (records >= a.records) break;
  }
  await messages.close();
  return { records, bytes, ms: performance.now() - start, failed: a.records - records };
}

async function endToEnd(js: JetStreamClient, a: Args, latency: LatencyRecorder) {
  const subject = `${a.stream}.data`;
  const consumer = await js.consumers.get(a.stream, { deliver_policy: DeliverPolicy.New });
  const messages = await consumer.consume({ max_messages: 10_000 });
  const nowMs = () => performance.timeOrigin + performance.now();
  let records = 0;
  const reading = (async () => {
    for await (const m of messages) {
      if (m.data.length < 8) continue;
      latency.record(nowMs() - new DataView(m.data.buffer, m.data.byteOffset).getFloat64(0));
      records += 1;
      if (records >= a.records) break;
    }
  })();
  await js.publish(subject, new Uint8Array(0));
  const start = performance.now();
  const rate = a.throughput > 0 ? a.throughput : 5000;
  let failed = 0;
  const acks: Promise<unknown>[] = [];
  for (let i = 0; i < a.records; i++) {
    await pace(start + (i * 1000) / rate);
    const value = new Uint8Array(Math.max(8, a.recordSize));
    new DataView(value.buffer).setFloat64(0, nowMs());
    acks.push(js.publish(subject, value).catch(() => failed += 1));
  }
  await Promise.all(acks);
  await Promise.race([reading, new Promise((r) => setTimeout(r, 10_000))]);
  await messages.close();
  return { records, bytes: records * a.recordSize, ms: performance.now() - start, failed };
}

if (import.meta.main) {
  const a = parse();
  const nc = await connect({ servers: a.url });
  await ensureStream(nc, a.stream);
  const js = nc.jetstream();
  const latency = new LatencyRecorder(Math.max(1, Math.min(a.records, 1_000_000)));
  const r = a.mode === "produce"
    ? await produce(js, a, latency)
    : a.mode === "consume"
    ? await consume(js, a)
    : await endToEnd(js, a, latency);
  await nc.drain();
  const s = latency.summary();
  const round = (n: number) => Math.round(n * 1000) / 1000;
  const seconds = Math.max(r.ms, 1) / 1000;
  console.log(JSON.stringify({
    records: r.records,
    records_per_sec: round(r.records / seconds),
    mib_per_sec: round(r.bytes / MIB / seconds),
    latency_ms: { p50: round(s.p50), p99: round(s.p99), p999: round(s.p999), max: round(s.max) },
  }));
  if (r.failed > 0) Deno.exit(1);
}
