/**
 * An in-process single-node broker for the consumer-group interop tests, with a short initial
 * rebalance delay so groups form quickly, and restartable on the same data directory.
 *
 * @module
 */

import { Broker } from "../broker/broker.ts";
import { loadBrokerConfig } from "../config/load.ts";
import { standaloneDefaults } from "../broker/standalone_cmd.ts";
import { createLogger } from "../ops/logger.ts";

/** A running test broker. */
export interface GroupTestBroker extends AsyncDisposable {
  readonly broker: Broker;
  readonly dataDir: string;
  /** `127.0.0.1:<port>` */
  readonly bootstrap: string;
  close(): Promise<void>;
}

/**
 * Starts a broker on `dataDir`, which the caller keeps, or on a new temporary directory that
 * closing removes.
 */
export async function startGroupTestBroker(dataDir?: string): Promise<GroupTestBroker> {
  const dir = dataDir ?? await Deno.makeTempDir({ prefix: "rustmq-group-" });
  const cfg = loadBrokerConfig("test", {
    text: "[network]\nkafka_listen='127.0.0.1:0'\nhttp_listen='127.0.0.1:0'\n",
    env: {},
    base: standaloneDefaults(dir),
  });
  const broker = await Broker.start(cfg, {
    dataDir: dir,
    logger: createLogger("t", { level: "error" }),
    serveHttp: false,
    replicationListener: false,
    groups: { initialRebalanceDelayMs: 300, offsetsTopicPartitions: 4 },
  }).catch(async (err) => {
    if (dataDir === undefined) await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await broker.close();
    if (dataDir === undefined) await Deno.remove(dir, { recursive: true }).catch(() => {});
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
export async function createTestTopic(b: Broker, name: string, partitions: number): Promise<void> {
  await b.metadata.createTopic(name, partitions, 1);
  await b.partitions.syncWithMetadata();
}

/** Polls `done` every 20 ms until it holds or `timeoutMs` passes; throws on timeout. */
export async function waitFor(
  done: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
