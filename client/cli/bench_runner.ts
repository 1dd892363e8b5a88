/**
 * The workloads of `rustmq bench`, modelled on kafka-producer-perf-test and
 * kafka-consumer-perf-test: produce at a target rate with a bounded number of records in
 * flight, consume everything back, or measure end-to-end latency (produce to poll) at a rate.
 *
 * @module
 */

import type { AckLevel } from "../ack_level.ts";
import type { RustMqClient } from "../client.ts";
import type { CompressionCodec } from "../../protocol/record/compression.ts";
import { BrokerError } from "../errors.ts";
import { LatencyRecorder, type LatencySummary } from "./latency_recorder.ts";

/** Settings shared by the workloads. */
export interface BenchSettings {
  /** Topic. */
  topic: string;
  /** Records in total. */
  records: number;
  /** Value size in bytes. */
  recordSize: number;
  /** Target records/s over all producers; -1 for unlimited. */
  throughput: number;
  /** Ack level. */
  ackLevel: AckLevel;
  /** Concurrent producers, each with its own connection. */
  producers: number;
  /** Partitions of the topic when the bench creates it. */
  partitions: number;
  /** Records in flight per producer (1: one request at a time). */
  inflight: number;
  /** Batch compression. */
  compression: CompressionCodec;
  /** Linger before a batch goes out. */
  lingerMs: number;
}

/** What a run measured. */
export interface BenchResult {
  /** Records produced or consumed. */
  records: number;
  /** Bytes of record values. */
  bytes: number;
  /** Wall time in milliseconds. */
  elapsedMs: number;
  /** Latency summary (produce: send to ack; e2e: send to poll; consume: zeros). */
  latency: LatencySummary;
  /**
   * e2e only: send to acknowledgement of the same records, so a run shows whether its tail is
   * in the produce path or between the acknowledgement and the poll.
   */
  publishLatency?: LatencySummary;
  /** Records that failed. */
  failed: number;
}

/** Live counters the progress line reads. */
export interface BenchProgress {
  /** Records done so far. */
  records: number;
  /** Bytes done so far. */
  bytes: number;
  /** Latency samples. */
  latency: LatencyRecorder;
}

/** Opens one client (one connection set) per producer. */
export type ClientFactory = () => Promise<RustMqClient>;

const _SAMPLES_MAX = 1_000_000;

/** Creates the topic unless it exists. */
export async function ensureTopic(client: RustMqClient, s: BenchSettings): Promise<void> {
  try {
    await client.admin().createTopic(s.topic, s.partitions);
  } catch (error) {
    if (!(error instanceof BrokerError) || error.code !== "TOPIC_ALREADY_EXISTS") throw error;
  }
}

/** A new progress record. */
export function newProgress(records: number): BenchProgress {
  return { records: 0, bytes: 0, latency: new LatencyRecorder(Math.min(records, _SAMPLES_MAX)) };
}

/**
 * performance.now() for per-record latency, read at most once per 16 records. Each reading is
 * an op call (~150 ns here), and two per record were 17% of a 100 B produce run's CPU. A
 * reading is reused by at most 16 reads and never beyond the microtask turn it was taken in,
 * so a reused one is stale by at most 16 records' work in one synchronous stretch (a few
 * microseconds), and a read after any wait (a response, a timer) is fresh.
 */
export class TickClock {
  #at = 0;
  #reads = _TICK_READS;
  #expiring = false;
  readonly #expire = () => {
    this.#expiring = false;
    this.#reads = _TICK_READS;
  };

  /** Milliseconds, as performance.now(). */
  now(): number {
    if (this.#reads >= _TICK_READS) {
      this.#at = performance.now();
      this.#reads = 0;
      if (!this.#expiring) {
        this.#expiring = true;
        queueMicrotask(this.#expire);
      }
    }
    this.#reads += 1;
    return this.#at;
  }
}

const _TICK_READS = 16;

/** Waits until `due` (performance.now() time), sleeping only when at least 1 ms ahead. */
async function _pace(due: number): Promise<void> {
  const ahead = due - performance.now();
  if (ahead >= 1) await new Promise((r) => setTimeout(r, ahead));
}

/** Produces `s.records` records from `s.producers` producers. */
export async function runProduce(
  open: ClientFactory,
  s: BenchSettings,
  progress: BenchProgress,
): Promise<BenchResult> {
  const clients = await Promise.all(Array.from({ length: s.producers }, () => open()));
  const value = new Uint8Array(s.recordSize).fill(0x61);
  let failed = 0;
  const start = performance.now();
  try {
    await Promise.all(clients.map(async (client, i) => {
      const count = Math.floor(s.records / s.producers) + (i < s.records % s.producers ? 1 : 0);
      const rate = s.throughput < 0 ? -1 : s.throughput / s.producers;
      failed += await _produceFrom(client, s, count, rate, value, progress);
    }));
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  return _result(progress, performance.now() - start, failed);
}

async function _produceFrom(
  client: RustMqClient,
  s: BenchSettings,
  count: number,
  rate: number,
  value: Uint8Array,
  progress: BenchProgress,
): Promise<number> {
  const producer = client.producer({
    ackLevel: s.ackLevel,
    compression: s.compression,
    lingerMs: s.lingerMs,
    bufferRecordsMax: Math.max(s.inflight, 1),
  });
  // One acknowledged record first: metadata and the producer id are not part of the run.
  await producer.send({ topic: s.topic, value });
  let failed = 0;
  let outstanding = 0;
  let wake: (() => void) | null = null;
  const start = performance.now();
  // One message object for every send (the producer copies what it needs out of it) and one
  // callback pair: the loop itself allocates nothing per record but the send time's closure.
  const message = { topic: s.topic, value };
  const settled = () => {
    outstanding -= 1;
    if (wake !== null) {
      const w = wake;
      wake = null;
      w();
    }
  };
  const onError = () => {
    failed += 1;
    settled();
  };
  const clock = new TickClock();
  for (let i = 0; i < count; i++) {
    if (rate > 0) await _pace(start + (i * 1000) / rate);
    while (outstanding >= s.inflight) await new Promise<void>((r) => wake = r);
    outstanding += 1;
    const sentAt = clock.now();
    producer.send(message).then(() => {
      progress.latency.record(clock.now() - sentAt);
      progress.records += 1;
      progress.bytes += value.length;
      settled();
    }, onError);
  }
  await producer.close();
  return failed;
}

/** Reads `s.records` records from the start of every partition. */
export async function runConsume(
  open: ClientFactory,
  s: BenchSettings,
  progress: BenchProgress,
): Promise<BenchResult> {
  const client = await open();
  const start = performance.now();
  try {
    const partitions = await client.partitionCount(s.topic);
    const consumer = client.consumer({ autoOffsetReset: "earliest", maxWaitMs: 500 });
    consumer.assign(
      Array.from({ length: partitions }, (_, partition) => ({ topic: s.topic, partition })),
    );
    let idlePolls = 0;
    while (progress.records < s.records && idlePolls < 20) {
      const records = await consumer.poll({ timeoutMs: 500, maxRecords: 100_000 });
      idlePolls = records.length === 0 ? idlePolls + 1 : 0;
      progress.records += records.length;
      for (const r of records) progress.bytes += r.value?.length ?? 0;
    }
  } finally {
    await client.close();
  }
  const missing = Math.max(0, s.records - progress.records);
  return _result(progress, performance.now() - start, missing);
}

/** Produces at `s.throughput` while a consumer measures send-to-poll latency. */
export async function runEndToEnd(
  open: ClientFactory,
  s: BenchSettings,
  progress: BenchProgress,
): Promise<BenchResult> {
  const [producerClient, consumerClient] = await Promise.all([open(), open()]);
  const partitions = await consumerClient.partitionCount(s.topic);
  const consumer = consumerClient.consumer({ autoOffsetReset: "latest", maxWaitMs: 100 });
  const tps = Array.from({ length: partitions }, (_, partition) => ({ topic: s.topic, partition }));
  consumer.assign(tps);
  for (const tp of tps) await consumer.seek(tp, "latest");
  // performance.timeOrigin + now() is a wall-clock time with sub-millisecond resolution.
  const nowMs = () => performance.timeOrigin + performance.now();
  let done = false;
  const reading = (async () => {
    let idle = 0;
    while (progress.records < s.records && idle < 20) {
      const records = await consumer.poll({ timeoutMs: 200, maxRecords: 100_000 });
      idle = records.length === 0 && done ? idle + 1 : 0;
      const at = nowMs();
      for (const r of records) {
        if ((r.value?.length ?? 0) < 8) continue; // the warm-up record
        const sentAt = new DataView(r.value!.buffer, r.value!.byteOffset).getFloat64(0);
        progress.latency.record(at - sentAt);
        progress.records += 1;
        progress.bytes += r.value!.length;
      }
    }
  })();
  const producer = producerClient.producer({ ackLevel: s.ackLevel, compression: s.compression });
  await producer.send({ topic: s.topic, value: new Uint8Array(0) });
  // The schedule starts once the producer is ready: started before the warm-up, it would begin
  // behind and send the first records in a burst, whose queueing is not the steady latency.
  const start = performance.now();
  let failed = 0;
  const rate = s.throughput < 0 ? 5000 : s.throughput;
  const publish = new LatencyRecorder(Math.min(s.records, _SAMPLES_MAX));
  for (let i = 0; i < s.records; i++) {
    await _pace(start + (i * 1000) / rate);
    const value = new Uint8Array(Math.max(8, s.recordSize));
    const sentAt = nowMs();
    new DataView(value.buffer).setFloat64(0, sentAt);
    producer.send({ topic: s.topic, value }).then(
      () => publish.record(nowMs() - sentAt),
      () => failed += 1,
    );
  }
  await producer.close();
  done = true;
  await reading;
  await Promise.all([producerClient.close(), consumerClient.close()]);
  return {
    ..._result(
      progress,
      performance.now() - start,
      failed + Math.max(0, s.records - progress.records),
    ),
    publishLatency: publish.summary(),
  };
}

function _result(progress: BenchProgress, elapsedMs: number, failed: number): BenchResult {
  return {
    records: progress.records,
    bytes: progress.bytes,
    elapsedMs,
    latency: progress.latency.summary(),
    failed,
  };
}
