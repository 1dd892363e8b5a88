/**
 * `rustmq bench e2e --json` against a real in-process broker: every record produced is
 * consumed, and the run reports both its send-to-poll latency and its send-to-acknowledgement
 * (publish) latency, so a tail can be placed in the produce path or after it.
 */

import assert from "node:assert/strict";
import { COMMANDS } from "../main.ts";
import { type CommandIo, EXIT_OK, runCli } from "../config/cli.ts";
import { startTestBroker } from "./sdk_broker.ts";

Deno.test({
  name: "bench e2e --json reports e2e and publish latency for every record",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const broker = await startTestBroker();
    try {
      let out = "", err = "";
      const io: CommandIo = {
        out: (t) => (out += t),
        err: (t) => (err += t),
        stopSignal: new Promise(() => {}),
      };
      const records = 1500;
      const code = await runCli(
        [
          "bench",
          "e2e",
          "-b",
          broker.tcpUrl,
          "-t",
          "bench-e2e",
          "--records",
          String(records),
          "--record-size",
          "100",
          "--throughput",
          "5000",
          "--json",
        ],
        { program: "rustmq", version: "test", commands: COMMANDS },
        io,
      );
      assert.equal(code, EXIT_OK, err);
      const result = JSON.parse(out.trim().split("\n").at(-1)!);
      assert.equal(result.records, records);
      for (const key of ["latency_ms", "publish_latency_ms"]) {
        const l = result[key];
        assert.ok(l !== undefined, `${key} is reported`);
        assert.ok(l.p50 > 0, `${key}.p50 is a measured time: ${l.p50}`);
        assert.ok(
          l.p50 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max,
          `${key} percentiles are ordered: ${JSON.stringify(l)}`,
        );
      }
    } finally {
      await broker.close();
    }
  },
});
