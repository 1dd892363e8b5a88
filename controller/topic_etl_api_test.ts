import assert from "node:assert/strict";
import { createOpsApp } from "../ops/ops_server.ts";
import { mountAdminApi } from "./admin_api.ts";
import type { ControllerNode } from "./controller_node.ts";
import { openTestNode, registerBrokers } from "./_test_node.ts";
import { abiModuleWat, watToWasm } from "../etl/testing/wat.ts";
import { imageOf } from "./metadata/image.ts";
import { MetadataCache } from "./session/metadata_cache.ts";
import { MetadataStateMachine, wasmModuleBytes } from "./metadata/state_machine.ts";
import { sha256Hex } from "../etl/module_validation.ts";

type _Res = { status: number; json: Record<string, unknown> };

function client(node: ControllerNode) {
  const { app } = createOpsApp({ role: "controller", version: "test" });
  mountAdminApi(app, node);
  return async (method: string, path: string, body?: unknown, name?: string) => {
    const isWasm = body instanceof Uint8Array;
    const res = await app.request(path, {
      method,
      headers: isWasm
        ? { "content-type": "application/octet-stream", "x-module-name": name ?? "" }
        : { "content-type": "application/json" },
      ...(body === undefined
        ? {}
        : { body: isWasm ? body as Uint8Array<ArrayBuffer> : JSON.stringify(body) }),
    });
    return { status: res.status, json: await res.json() } as _Res;
  };
}

const IDENTITY = abiModuleWat(
  "(call $emit (local.get $kp) (local.get $kl) (local.get $vp) (local.get $vl)) (i32.const 0)",
);
const errorOf = (r: _Res) => r.json.error as { code: string; message: string };

Deno.test("Topic API sets, shows and clears etl_modules; DELETE of a module in use is 409", async () => {
  const node = await openTestNode();
  try {
    await registerBrokers(node, 1);
    const call = client(node);
    const wasm = await watToWasm(IDENTITY);
    assert.equal((await call("POST", "/api/v1/wasm/modules", wasm, "a")).status, 201);
    assert.equal((await call("POST", "/api/v1/wasm/modules", wasm, "b")).status, 201);
    assert.equal((await call("POST", "/api/v1/wasm/modules", wasm, "b")).status, 201);

    const missing = await call("POST", "/api/v1/topics", {
      name: "t",
      partitions: 1,
      replication_factor: 1,
      etl_modules: ["a", "nope"],
    });
    assert.equal(missing.status, 400);
    assert.match(errorOf(missing).message, /module 'nope' is not deployed/);

    const created = await call("POST", "/api/v1/topics", {
      name: "t",
      partitions: 1,
      replication_factor: 1,
      etl_modules: ["a", "b"],
    });
    assert.equal(created.status, 201);
    assert.deepEqual(
      (created.json.etl_modules as { name: string; version: number }[]).map((m) => [
        m.name,
        m.version,
      ]),
      [["a", 1], ["b", 2]],
    );
    assert.equal((created.json.configs as Record<string, string>)["rustmq.etl.modules"], "a,b");

    const inUse = await call("DELETE", "/api/v1/wasm/modules/b");
    assert.equal(inUse.status, 409);
    assert.equal(errorOf(inUse).code, "MODULE_IN_USE");
    assert.match(errorOf(inUse).message, /topics use it: t/);

    const reordered = await call("PUT", "/api/v1/topics/t", { etl_modules: ["b", "a"] });
    assert.equal(reordered.status, 200);
    const described = await call("GET", "/api/v1/topics/t");
    assert.deepEqual(
      (described.json.etl_modules as { name: string }[]).map((m) => m.name),
      ["b", "a"],
    );

    const badPolicy = await call("PUT", "/api/v1/topics/t", {
      configs: { "rustmq.etl.on.failure": "dead-letter" },
    });
    assert.equal(badPolicy.status, 400);
    assert.match(errorOf(badPolicy).message, /rustmq\.etl\.dead\.letter\.topic is empty/);

    const cleared = await call("PUT", "/api/v1/topics/t", { etl_modules: null });
    assert.deepEqual(cleared.json.etl_modules, []);
    assert.equal((await call("DELETE", "/api/v1/wasm/modules/b")).status, 200);
  } finally {
    await node.close();
  }
});

Deno.test("Topic API accepts the seed's create fields and refuses topic compression", async () => {
  const node = await openTestNode();
  try {
    await registerBrokers(node, 1);
    const call = client(node);
    const r = await call("POST", "/api/v1/topics", {
      name: "seed",
      partition_count: 3,
      replication_factor: 1,
      retention_policy: { Time: { retention_ms: 60000 } },
      compression: "None",
    });
    assert.equal(r.status, 201);
    assert.equal(r.json.partitions, 3);
    assert.equal((r.json.configs as Record<string, string>)["retention.ms"], "60000");
    const lz4 = await call("POST", "/api/v1/topics", {
      name: "seed2",
      partition_count: 1,
      replication_factor: 1,
      compression: "Lz4",
    });
    assert.equal(lz4.status, 400);
    assert.match(errorOf(lz4).message, /set the producer's compression/);
  } finally {
    await node.close();
  }
});

Deno.test("Brokers learn module versions and sha256 from the metadata image and deltas", async () => {
  const sm = new MetadataStateMachine();
  const cache = new MetadataCache();
  cache.applyImage(imageOf(sm));
  assert.equal(cache.wasmModule("a"), undefined);
  const wasm = await watToWasm(IDENTITY);
  const sha256 = await sha256Hex(wasm);
  const deploy = {
    v: 1 as const,
    op: "deploy_wasm_module" as const,
    name: "a",
    sha256,
    sizeBytes: wasm.length,
    bytesBase64: btoa(String.fromCharCode(...wasm)),
  };
  cache.applyDelta(sm.apply(1, deploy).delta!);
  cache.applyDelta(sm.apply(2, deploy).delta!);
  assert.deepEqual(cache.wasmModule("a"), {
    name: "a",
    version: 2,
    sha256,
    sizeBytes: wasm.length,
  });
  assert.deepEqual(wasmModuleBytes(sm.wasmModules(), sha256), wasm);
  assert.equal(JSON.stringify(imageOf(sm)).includes("bytesBase64"), false);
  const fresh = new MetadataCache();
  fresh.applyImage(imageOf(sm));
  assert.equal(fresh.wasmModule("a")?.version, 2);
  cache.applyDelta(sm.apply(3, { v: 1, op: "delete_wasm_module", name: "a" }).delta!);
  assert.equal(cache.wasmModule("a"), undefined);
});
