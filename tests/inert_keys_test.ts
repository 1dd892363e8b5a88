/**
 * No inert configuration: every key of config/schema.ts is either read by the role that loads
 * it, or refused by validation unless at its default (config/key_use.ts REFUSED_KEYS), or named
 * as another change's work (DEFERRED_KEYS).
 *
 * "Read" is measured, not declared: the controller and broker commands run in this process with
 * a read tracker on the configuration they load, and every `section.key` they read after
 * validation is recorded. Keys read only for one backend (object storage) are read through the
 * same factory the broker calls, once per backend. A test that could pass by enumerating the
 * whole config is ruled out by the other direction: refused and deferred keys must not be read.
 */

import { velocityOf } from "../admin/rolling_restart_cmd.ts";
import assert from "node:assert/strict";
import { BROKER_SCHEMA, CONTROLLER_SCHEMA, type FileSchema } from "../config/schema.ts";
import { ConfigError, loadBrokerConfig, loadControllerConfig } from "../config/load.ts";
import { DEFERRED_KEYS, REFUSED_KEYS } from "../config/key_use.ts";
import { observeConfigReads, trackConfigReads } from "../config/read_tracker.ts";
import { controllerCommand } from "../controller/controller_cmd.ts";
import { brokerCommand } from "../broker/broker_cmd.ts";
import { createObjectStore } from "../broker/object_store/object_store_factory.ts";
import { ensureDevCertificates } from "../broker/net/dev_certs.ts";
import { defaultsOf } from "../config/load.ts";
import type { BrokerConfig } from "../config/schema.ts";
import type { CommandIo } from "../config/cli.ts";
import { tempDir } from "./support/temp_dir.ts";

function _allKeys(): string[] {
  const out: string[] = [];
  const add = (role: string, schema: FileSchema) => {
    for (const [section, keys] of Object.entries(schema)) {
      for (const key of Object.keys(keys)) out.push(`${role}:${section}.${key}`);
    }
  };
  add("broker", BROKER_SCHEMA);
  add("controller", CONTROLLER_SCHEMA);
  return out;
}

function _split(name: string): { role: string; section: string; key: string } {
  const [role, path] = name.split(":") as [string, string];
  const dot = path.lastIndexOf(".");
  return { role, section: path.slice(0, dot), key: path.slice(dot + 1) };
}

/** A value of the key's type that differs from its default and passes its own checks. */
function _nonDefault(schema: FileSchema, section: string, key: string): string {
  const spec = schema[section]![key]!;
  switch (spec.type) {
    case "bool":
      return String(!spec.default);
    case "int": {
      const d = spec.default as number;
      return String(d + 1 <= (spec.max ?? Infinity) ? d + 1 : d - 1);
    }
    case "float": {
      // A value inside the range, so the only problem is the key being refused.
      const d = spec.default as number, max = spec.max ?? d + 2;
      return String((d + max) / 2);
    }
    case "string":
      return JSON.stringify(spec.oneOf?.find((v) => v !== spec.default) ?? `${spec.default}x`);
    default:
      throw new Error(`no non-default value for ${section}.${key}`);
  }
}

Deno.test("inert keys: every refused and deferred key names a key of the schema", () => {
  const all = new Set(_allKeys());
  for (const name of [...Object.keys(REFUSED_KEYS), ...Object.keys(DEFERRED_KEYS)]) {
    assert.ok(all.has(name), `${name} is not a key of config/schema.ts`);
  }
});

Deno.test("inert keys: a refused key set to anything but its default fails to load, with the reason", () => {
  for (const [name, reason] of Object.entries(REFUSED_KEYS)) {
    const { role, section, key } = _split(name);
    const schema: FileSchema = role === "broker" ? BROKER_SCHEMA : CONTROLLER_SCHEMA;
    const text = `[${section}]\n${key} = ${_nonDefault(schema, section, key)}\n`;
    const load = () =>
      role === "broker"
        ? loadBrokerConfig("t.toml", { text, env: {} })
        : loadControllerConfig("t.toml", { text, env: {} });
    let problems: readonly { key: string; reason: string }[] = [];
    try {
      load();
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      problems = err.problems;
    }
    const p = problems.find((x) => x.key === `${section}.${key}`);
    assert.ok(p, `${name}: no problem names the key (got ${JSON.stringify(problems)})`);
    assert.ok(p.reason.includes(reason), `${name}: reason '${p.reason}'`);
    // The default itself stays accepted, so example files and seed configs load.
    const d = JSON.stringify(schema[section]![key]!.default);
    const ok = `[${section}]\n${key} = ${d}\n`;
    if (role === "broker") loadBrokerConfig("t.toml", { text: ok, env: {} });
    else loadControllerConfig("t.toml", { text: ok, env: {} });
  }
});

function _io(stop: Promise<void>): CommandIo & { text: () => string } {
  let out = "";
  return {
    out: (t) => void (out += t),
    err: (t) => void (out += t),
    stopSignal: stop,
    text: () => out,
  };
}

async function _until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Runs the controller and broker commands in this process and returns the keys they read. */
async function _readsOfRunningRoles(dir: string): Promise<Set<string>> {
  const reads = new Set<string>();
  using _observer = observeConfigReads((k) => reads.add(k));
  const tls = await ensureDevCertificates(`${dir}/certs`);
  await Deno.writeTextFile(
    `${dir}/controller.toml`,
    [
      "[controller]",
      'node_id = "c1"',
      'raft_listen = "127.0.0.1:0"',
      'rpc_listen = "127.0.0.1:0"',
      'http_listen = "127.0.0.1:0"',
      `data_dir = "${dir}/controller"`,
      'log_level = "error"',
      "[raft]",
      'peers = ["c1@127.0.0.1:1"]',
      "election_timeout_ms = 200",
      "heartbeat_interval_ms = 50",
    ].join("\n"),
  );
  let stopController!: () => void;
  const controllerIo = _io(new Promise((r) => (stopController = r)));
  const controllerRun = controllerCommand.run(
    { config: `${dir}/controller.toml` },
    [],
    controllerIo,
  );
  await _until("the controller", () => / rpc :\d+/.test(controllerIo.text()));
  const rpcPort = / rpc :(\d+)/.exec(controllerIo.text())![1];

  await Deno.writeTextFile(
    `${dir}/broker.toml`,
    [
      "[broker]",
      'id = "broker-1"',
      'log_level = "error"',
      "[network]",
      'quic_listen = "127.0.0.1:0"',
      'kafka_listen = "127.0.0.1:0"',
      'rpc_listen = "127.0.0.1:0"',
      'http_listen = "127.0.0.1:0"',
      // TLS on, so that the key path (read only with a certificate) is read too.
      `tls_cert_path = "${tls.certPath}"`,
      `tls_key_path = "${tls.keyPath}"`,
      "[wal]",
      `path = "${dir}/wal"`,
      "capacity_bytes = 67108864",
      "segment_size_bytes = 8388608",
      "[cache]",
      "write_cache_size_bytes = 16777216",
      "read_cache_size_bytes = 8388608",
      "[object_storage]",
      'storage_type = "Local"',
      `local_path = "${dir}/objects"`,
      "[controller]",
      `endpoints = ["127.0.0.1:${rpcPort}"]`,
      "[replication]",
      "min_in_sync_replicas = 1",
      "default_replication_factor = 1",
    ].join("\n"),
  );
  let stopBroker!: () => void;
  const brokerIo = _io(new Promise((r) => (stopBroker = r)));
  const brokerRun = brokerCommand.run(
    { config: `${dir}/broker.toml`, "data-dir": `${dir}/broker` },
    [],
    brokerIo,
  );
  try {
    await _until("the broker", () => brokerIo.text().includes("is ready"));
  } finally {
    stopBroker();
    assert.equal(await brokerRun, 0, brokerIo.text());
    stopController();
    assert.equal(await controllerRun, 0, controllerIo.text());
  }
  // `admin rolling-restart --broker-config` paces itself by the broker file's upgrade velocity.
  velocityOf({ "broker-config": `${dir}/broker.toml` });
  // Backend-specific keys are read by the factory the broker calls, for the backend chosen.
  for (const storage_type of ["S3", "Gcs"]) {
    const cfg = defaultsOf<BrokerConfig>(BROKER_SCHEMA);
    cfg.object_storage.storage_type = storage_type;
    createObjectStore(trackConfigReads("broker", cfg).object_storage);
  }
  return reads;
}

Deno.test({
  name: "inert keys: every schema key is read by its role, refused, or deferred, and no other",
  // The commands' listeners and the gRPC client outlive the test's op bookkeeping briefly.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using dir = await tempDir("rustmq-inert-");
    const reads = await _readsOfRunningRoles(dir.path);
    const inert = _allKeys().filter((k) =>
      !reads.has(k) && !(k in REFUSED_KEYS) && !(k in DEFERRED_KEYS)
    );
    assert.deepEqual(inert, [], `keys accepted but never applied: ${inert.join(", ")}`);
    const stale = [...Object.keys(REFUSED_KEYS), ...Object.keys(DEFERRED_KEYS)].filter((k) =>
      reads.has(k)
    );
    assert.deepEqual(
      stale,
      [],
      `keys listed as refused or deferred, yet read: ${stale.join(", ")}`,
    );
  },
});
