/**
 * A single-node broker started in-process for the SDK and console tests, reachable over TCP
 * and QUIC, with its development CA.
 *
 * @module
 */

import { Broker } from "../broker/broker.ts";
import { loadBrokerConfig } from "../config/load.ts";
import { standaloneDefaults } from "../broker/standalone_cmd.ts";
import { ensureDevCertificates } from "../broker/net/dev_certs.ts";
import { createLogger } from "../ops/logger.ts";

/** A running test broker. */
export interface TestBroker {
  /** `tcp://127.0.0.1:PORT`. */
  tcpUrl: string;
  /** `quic://localhost:PORT` (the dev certificate names localhost). */
  quicUrl: string;
  /** PEM of the development CA, for QUIC and TLS clients. */
  caPem: string;
  /** Path of the CA file. */
  caPath: string;
  /** The broker itself. */
  broker: Broker;
  /** Stops the broker and removes its data. */
  close(): Promise<void>;
}

/** How long `close` waits for the broker before giving up on it. */
const _CLOSE_TIMEOUT_MS = 5000;

/** Starts a broker; `extraToml` is appended to its configuration. */
export async function startTestBroker(extraToml = ""): Promise<TestBroker> {
  const dir = await Deno.makeTempDir({ prefix: "rustmq-sdk-" });
  const text = "[network]\nkafka_listen='127.0.0.1:0'\nquic_listen='127.0.0.1:0'\n" +
    "http_listen='127.0.0.1:0'\n" + extraToml;
  const cfg = loadBrokerConfig("test", { text, env: {}, base: standaloneDefaults(dir) });
  const tls = await ensureDevCertificates(`${dir}/tls`);
  const broker = await Broker.start(cfg, {
    dataDir: dir,
    logger: createLogger("sdk-test", { level: "error" }),
    quicTls: { certPem: tls.certPem, keyPem: tls.keyPem },
    replicationListener: false,
  }).catch(async (err) => {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  });
  return {
    tcpUrl: `tcp://127.0.0.1:${broker.addrs.kafka.port}`,
    quicUrl: `quic://localhost:${broker.addrs.quic!.port}`,
    caPem: tls.caPem,
    caPath: tls.caPath,
    broker,
    async close() {
      // Closing the QUIC listener has been seen to hang; a stuck close must not hang the suite.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stuck = new Promise<"stuck">((r) =>
        timer = setTimeout(() => r("stuck"), _CLOSE_TIMEOUT_MS)
      );
      const outcome = await Promise.race([broker.close().then(() => "closed" as const), stuck]);
      clearTimeout(timer);
      if (outcome === "stuck") console.error("sdk_broker: Broker.close() did not finish in time");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
