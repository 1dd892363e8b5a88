/**
 * The driver of `rustmq subscriber bigquery`: it wires the real parts around the sink core (the
 * SDK's consumer group and producer, the BigQuery client, the HTTP endpoints, JSON logs) and
 * stops on SIGTERM/SIGINT with a flush and a commit.
 *
 * @module
 */

import { RustMqClient, systemClock } from "../client/mod.ts";
import type { GroupConsumer } from "../client/mod.ts";
import { systemRandom } from "../ops/random.ts";
import { createLogger, type Logger } from "../ops/logger.ts";
import { BigQuerySink } from "./bigquery_sink.ts";
import { type RowWriter, StreamingInsertWriter } from "./bigquery_writer.ts";
import { CommittedStreamWriter } from "./committed_stream_writer.ts";
import { createDeadLetter } from "./dead_letter.ts";
import { DefaultStreamWriter } from "./storage_write_writer.ts";
import type { SubscriberConfig } from "./subscriber_config.ts";
import { createSubscriberApp } from "./subscriber_http.ts";

/**
 * `host:port` becomes `tcp://host:port`, as kcat's `-b` takes it; URLs pass through. A
 * `transport` replaces the scheme, as the console tools' `--transport` does.
 */
export function brokerUrl(endpoint: string, transport: string = ""): string {
  const url = /^[a-z]+:\/\//.test(endpoint) ? endpoint : `tcp://${endpoint}`;
  return transport === "" ? url : url.replace(/^[a-z]+:/, `${transport}:`);
}

/** Splits `HEALTH_LISTEN` (`host:port`, `[v6]:port`). */
export function parseListen(listen: string): { hostname: string; port: number } {
  const m = listen.match(/^\[?([^\]]*?)\]?:(\d+)$/);
  if (m === null) {
    throw new RangeError(`HEALTH_LISTEN must be host:port: current value is ${listen}`);
  }
  return { hostname: m[1]!, port: Number(m[2]) };
}

/** Runs the subscriber until `stopSignal` resolves. */
export async function runSubscriber(
  cfg: SubscriberConfig,
  stopSignal: Promise<void>,
  log: Logger = createLogger("subscriber"),
): Promise<void> {
  const caCerts = cfg.caCertFile === "" ? undefined : [await Deno.readTextFile(cfg.caCertFile)];
  const client = await RustMqClient.connect({
    brokers: cfg.brokers.map((b) => brokerUrl(b, cfg.transport)),
    clientId: "rustmq-bigquery-subscriber",
    ...(caCerts === undefined ? {} : { tls: { caCerts } }),
  });
  const producer = cfg.deadLetterAction === "dead_letter_queue"
    ? client.producer({ ackLevel: "All" })
    : undefined;
  const ref: { sink?: BigQuerySink } = {};
  const consumer: GroupConsumer = client.consumer({
    groupId: cfg.groupId,
    autoOffsetReset: "earliest",
    autoCommit: false,
    onRebalance: {
      // Before another member takes a partition, everything read from it is written and committed.
      async revoked(partitions) {
        await ref.sink?.drain();
        for (const tp of partitions) ref.sink?.forget(tp.topic, tp.partition);
      },
    },
  });
  consumer.subscribe([cfg.topic]);
  const rest = new StreamingInsertWriter(cfg);
  const storage = _storageWriter(cfg, rest, consumer, log);
  const sink = new BigQuerySink({
    settings: cfg,
    consumer,
    writer: storage ?? rest,
    deadLetter: createDeadLetter({
      action: cfg.deadLetterAction,
      topic: cfg.deadLetterTopic,
      file: cfg.deadLetterFile,
      logger: log.child("dead_letter"),
      ...(producer !== undefined ? { producer } : {}),
    }),
    clock: systemClock,
    random: systemRandom,
    logger: log.child("sink"),
  });
  const listen = parseListen(cfg.healthListen);
  const http = Deno.serve(
    { ...listen, onListen: () => {} },
    createSubscriberApp(sink).fetch,
  );
  log.info("subscriber started", {
    topic: cfg.topic,
    table: `${cfg.projectId}.${cfg.dataset}.${cfg.table}`,
    write_method: cfg.writeMethod,
    ...(cfg.writeMethod === "storage_write" ? { stream_type: cfg.storageStreamType } : {}),
    group: cfg.groupId,
    health_port: (http.addr as Deno.NetAddr).port,
  });
  const s = sink;
  ref.sink = sink;
  stopSignal.then(() => {
    log.info("stopping: flushing pending batches", { timeout_ms: cfg.gracefulShutdownTimeoutMs });
    s.stop();
  });
  try {
    await s.run();
  } finally {
    await consumer.close().catch((e) => log.warn("consumer close failed", { error: String(e) }));
    await producer?.close().catch((e) => log.warn("producer close failed", { error: String(e) }));
    await client.close().catch(() => {});
    storage?.close();
    await http.shutdown();
    log.info("subscriber stopped", { ...s.counters });
  }
}

/** The Storage Write API writer the configuration asks for, or null for insertAll. */
function _storageWriter(
  cfg: SubscriberConfig,
  rest: RowWriter,
  consumer: GroupConsumer,
  log: Logger,
): (RowWriter & { close(): void }) | null {
  if (cfg.writeMethod !== "storage_write") return null;
  if (cfg.storageStreamType === "default") return new DefaultStreamWriter(cfg, rest);
  return new CommittedStreamWriter({
    cfg,
    tables: rest,
    committed: async (topic, partition) => {
      const [c] = await consumer.committed([{ topic, partition }]);
      return { offset: c?.offset ?? -1, metadata: c?.metadata ?? "" };
    },
    clock: systemClock,
    random: systemRandom,
    logger: log.child("committed_stream"),
  });
}
