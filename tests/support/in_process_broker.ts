/**
 * Starts a standalone-configured broker inside the test process on free loopback ports.
 *
 * @module
 */

import { Broker } from "../../broker/broker.ts";
import { loadBrokerConfig } from "../../config/load.ts";
import { standaloneDefaults } from "../../broker/standalone_cmd.ts";
import { createLogger } from "../../ops/logger.ts";
import type { ObjectStore } from "../../broker/object_store/object_store.ts";

/** A broker plus its data directory; disposing closes it and removes the directory. */
export interface TestBroker extends AsyncDisposable {
  readonly broker: Broker;
  readonly dir: string;
  readonly port: number;
}

/** Starts a broker with `config` (TOML) over the standalone defaults, without QUIC. */
export async function startTestBroker(
  config = "",
  dir?: string,
  extra: { objectStore?: ObjectStore } = {},
): Promise<TestBroker> {
  const dataDir = dir ?? await Deno.makeTempDir({ prefix: "rustmq-test-" });
  // Tests provoke errors on purpose; set RUSTMQ_TEST_LOG=debug to see the broker's lines.
  const level = Deno.env.get("RUSTMQ_TEST_LOG") as "debug" | undefined;
  const logger = createLogger("test", level ? { level } : { sink: () => {} });
  let broker: Broker;
  try {
    const cfg = loadBrokerConfig("test.toml", {
      text: `[network]\nkafka_listen = "127.0.0.1:0"\nhttp_listen = "127.0.0.1:0"\n${config}`,
      env: {},
      base: standaloneDefaults(dataDir),
    });
    broker = await Broker.start(cfg, { dataDir, logger, replicationListener: false, ...extra });
  } catch (err) {
    // A bad config or a failed start must not leave the directory behind either.
    if (dir === undefined) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    throw err;
  }
  return {
    broker,
    dir: dataDir,
    port: broker.addrs.kafka.port,
    async [Symbol.asyncDispose]() {
      await broker.close();
      if (dir === undefined) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}
