/**
 * A second broker or controller process started on a directory another one is using refuses to
 * start with a clear error, and the first keeps serving: two writers would corrupt the WAL and
 * the Raft log.
 */

import assert from "node:assert/strict";
import { startStandalone } from "./support/standalone_process.ts";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { fetchValues, produceValues } from "./support/raw_ops.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
/** A line of a JavaScript stack trace. */
const STACK_FRAME = /^\s+at \S/m;

async function runSecond(args: string[]): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--unstable-net", MAIN, ...args],
    stdout: "null",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const out = await child.output();
  clearTimeout(timer);
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test({
  name: "a second standalone on a data directory in use refuses to start; the first serves on",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using first = await startStandalone();
    const cfg = `${first.dataDir}-second.toml`;
    await Deno.writeTextFile(
      cfg,
      '[network]\nkafka_listen = "127.0.0.1:0"\nquic_listen = "127.0.0.1:0"\n' +
        'http_listen = "127.0.0.1:0"\n',
    );
    const second = await runSecond(["standalone", "--data", first.dataDir, "--config", cfg]);
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /another RustMQ process holds its lock/);
    assert.doesNotMatch(second.stderr, STACK_FRAME, "the user sees a message, not a stack trace");

    await using c = await RawKafkaClient.connect(first.kafkaPort);
    const produced = await produceValues(c, "after-refusal", 0, ["still-serving"]);
    const code = produced.errorCode === 3 // auto-creation may need a retry
      ? (await produceValues(c, "after-refusal", 0, ["still-serving"])).errorCode
      : produced.errorCode;
    assert.equal(code, 0);
    const read = await fetchValues(c, "after-refusal", 0);
    assert.deepEqual(read.values, ["still-serving"]);
    await Deno.remove(cfg);
  },
});

Deno.test({
  name: "a second controller on a data directory in use refuses to start",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "rustmq-ctl-lock-" });
    const { lockDirectory } = await import("../ops/dir_lock.ts");
    // The first "controller" is this process holding the lock, as a running one would.
    const held = await lockDirectory(dir, "controller data");
    try {
      const second = await runSecond([
        "controller",
        "--config",
        await _controllerConfig(dir),
      ]);
      assert.notEqual(second.code, 0);
      assert.match(second.stderr, /another RustMQ process holds its lock/);
    } finally {
      held.release();
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(`${dir}.toml`).catch(() => {});
    }
  },
});

Deno.test({
  name: "a standalone whose Kafka port is taken names the address and prints no stack trace",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (taken.addr as Deno.NetAddr).port;
    const dir = await Deno.makeTempDir({ prefix: "rustmq-port-taken-" });
    try {
      await Deno.writeTextFile(
        `${dir}/broker.toml`,
        `[network]\nkafka_listen = "127.0.0.1:${port}"\nquic_listen = "127.0.0.1:0"\n` +
          'http_listen = "127.0.0.1:0"\n',
      );
      const out = await runSecond([
        "standalone",
        "--data",
        `${dir}/data`,
        "--config",
        `${dir}/broker.toml`,
      ]);
      assert.notEqual(out.code, 0);
      assert.match(
        out.stderr,
        new RegExp(`Kafka TCP listener on 127\\.0\\.0\\.1:${port}: the address is already in use`),
      );
      assert.doesNotMatch(out.stderr, STACK_FRAME);
    } finally {
      taken.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

async function _controllerConfig(dir: string): Promise<string> {
  const path = `${dir}.toml`;
  await Deno.writeTextFile(
    path,
    [
      "[controller]",
      'node_id = "c1"',
      'raft_listen = "127.0.0.1:0"',
      'rpc_listen = "127.0.0.1:0"',
      'http_listen = "127.0.0.1:0"',
      `data_dir = "${dir}"`,
      "[raft]",
      'peers = ["c1@127.0.0.1:1"]',
      "",
    ].join("\n"),
  );
  return path;
}
