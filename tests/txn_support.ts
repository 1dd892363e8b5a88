/**
 * An in-process single-node broker for the transaction interop tests: a short rebalance delay,
 * few internal-topic partitions and a fast transaction-timeout check, restartable on the same
 * data directory.
 *
 * @module
 */

import type { Kafka } from "kafkajs";
import { waitFor } from "./support/controller_cluster.ts";
import { Broker } from "../broker/broker.ts";
import { loadBrokerConfig } from "../config/load.ts";
import { standaloneDefaults } from "../broker/standalone_cmd.ts";
import { createLogger } from "../ops/logger.ts";
import type { TxnServiceOptions } from "../broker/txn/txn_service.ts";

/** A running test broker. */
export interface TxnTestBroker extends AsyncDisposable {
  readonly broker: Broker;
  readonly dataDir: string;
  /** `127.0.0.1:<port>` */
  readonly bootstrap: string;
  close(): Promise<void>;
}

/** Options of {@linkcode startTxnTestBroker}. */
export interface TxnTestBrokerOptions {
  /** Kept by the caller (restarts); a new temporary directory otherwise. */
  readonly dataDir?: string;
  /** Extra `broker.toml` text. */
  readonly config?: string;
  /** Transaction coordinator tunables over the test defaults. */
  readonly transactions?: TxnServiceOptions;
}

/** Starts a broker; closing it removes the data directory unless the caller gave one. */
export async function startTxnTestBroker(
  options: TxnTestBrokerOptions = {},
): Promise<TxnTestBroker> {
  const dir = options.dataDir ?? await Deno.makeTempDir({ prefix: "rustmq-txn-" });
  const cfg = loadBrokerConfig("test", {
    text: "[network]\nkafka_listen='127.0.0.1:0'\nhttp_listen='127.0.0.1:0'\n" +
      (options.config ?? ""),
    env: {},
    base: standaloneDefaults(dir),
  });
  const level = Deno.env.get("RUSTMQ_TEST_LOG") as "debug" | undefined;
  const broker = await Broker.start(cfg, {
    dataDir: dir,
    logger: createLogger("t", { level: level ?? "error" }),
    serveHttp: false,
    replicationListener: false,
    groups: { initialRebalanceDelayMs: 100, offsetsTopicPartitions: 2 },
    transactions: { stateTopicPartitions: 2, abortCheckIntervalMs: 100, ...options.transactions },
  }).catch(async (err) => {
    if (options.dataDir === undefined) await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await broker.close();
    if (options.dataDir === undefined) await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return {
    broker,
    dataDir: dir,
    bootstrap: `127.0.0.1:${broker.addrs.kafka.port}`,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Creates a topic directly through the broker's metadata. */
export async function createTxnTopic(b: Broker, name: string, partitions: number): Promise<void> {
  await b.metadata.createTopic(name, partitions, 1);
  await b.partitions.syncWithMetadata();
}

/**
 * Waits until the broker's transaction index has read partition `topic/partition` up to its
 * high watermark (it is rebuilt from the log after a restart, in the background), then answers
 * the high watermark.
 */
export async function indexCaughtUp(
  broker: Broker,
  topic: string,
  partition: number,
  timeoutMs = 10_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hw = broker.partitions.get(topic, partition)?.log.highWatermark ?? -1;
    const at = broker.txns?.index.readTo(topic, partition) ?? -1;
    if (hw >= 0 && at >= hw) return hw;
    if (Date.now() > deadline) {
      throw new Error(`the transaction index of ${topic}/${partition} stayed at ${at} (hw ${hw})`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Reads every partition of `topic` with a fresh group until `count` values arrived. */
export async function readAll(
  kafka: Kafka,
  topic: string,
  count: number,
  readUncommitted: boolean,
): Promise<string[]> {
  const c = kafka.consumer({
    groupId: `check-${crypto.randomUUID()}`,
    maxWaitTimeInMs: 100,
    readUncommitted,
  });
  await c.connect();
  const got: string[] = [];
  try {
    await c.subscribe({ topic, fromBeginning: true });
    await c.run({
      eachMessage: ({ message }) => Promise.resolve(void got.push(message.value!.toString())),
    });
    await waitFor(
      `${count} records of ${topic}`,
      20_000,
      () => Promise.resolve(got.length >= count ? true : undefined),
    );
    // Anything beyond `count` would be a record that should not be there: give it time.
    await new Promise((r) => setTimeout(r, 700));
  } finally {
    await c.disconnect();
  }
  return got;
}
