/**
 * Garbage from clients does not flood the broker's log: 200 connections each sending an unknown
 * API key or a malformed header are closed, logged as warnings (they say nothing about the
 * broker's health), at most a burst of lines per kind per minute, and one summary line per kind
 * counts the rest once the minute ends.
 */

import assert from "node:assert/strict";
import { Broker } from "../broker/broker.ts";
import { loadBrokerConfig } from "../config/load.ts";
import { standaloneDefaults } from "../broker/standalone_cmd.ts";
import { createLogger, flushLogSummaries } from "../ops/logger.ts";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { tempDir } from "./support/temp_dir.ts";

const CONNECTIONS = 200;

Deno.test("200 garbage connections give a bounded number of warnings and a summary", async () => {
  await using dir = await tempDir("rustmq-flood-");
  const lines: Record<string, unknown>[] = [];
  let clock = Date.now();
  const logger = createLogger("test", { sink: (l) => lines.push(JSON.parse(l)), now: () => clock });
  const cfg = loadBrokerConfig("test.toml", {
    text: `[network]\nkafka_listen = "127.0.0.1:0"\nhttp_listen = "127.0.0.1:0"\n`,
    env: {},
    base: standaloneDefaults(dir.path),
  });
  const broker = await Broker.start(cfg, { dataDir: dir.path, logger, replicationListener: false });
  try {
    const garbage = [
      new Uint8Array([0, 0, 0, 8, 0x00, 0x63, 0, 0, 0, 0, 0, 1]), // unknown API key 99
      new Uint8Array([0, 0, 0, 6, 0, 3, 0, 9, 0, 0]), // Metadata v9 with a short header
    ];
    for (let i = 0; i < CONNECTIONS; i++) {
      const bad = await RawKafkaClient.connect(broker.addrs.kafka.port);
      await bad.writeRaw(garbage[i % garbage.length]!);
      assert.equal(await bad.closedByPeer(5000), true, `garbage ${i} should close its connection`);
      bad.close();
    }
    // Each garbage kind closes the connection with a line of its own kind.
    const closing = lines.filter((l) => String(l.msg).startsWith("Closing the connection"));
    assert.ok(closing.length > 0 && closing.length <= 20, `${closing.length} lines written`);
    assert.ok(closing.every((l) => l.level === "warn"), "a client's garbage is not an error");
    assert.equal(lines.filter((l) => l.level === "error").length, 0);

    clock += 60_000;
    flushLogSummaries(logger);
    const summaries = lines.filter((l) =>
      l.msg === "Suppressed repeated log lines" &&
      String(l.repeated).startsWith("Closing the connection")
    );
    assert.ok(summaries.length >= 1 && summaries.length <= 2, JSON.stringify(summaries));
    const suppressed = summaries.reduce((n, l) => n + Number(l.suppressed), 0);
    assert.equal(suppressed + closing.length, CONNECTIONS, "every closed connection is counted");
  } finally {
    await broker.close();
  }
});
