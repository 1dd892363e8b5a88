import assert from "node:assert/strict";
import { createOpsApp } from "../ops/ops_server.ts";
import { mountAdminApi } from "./admin_api.ts";
import type { ControllerNode } from "./controller_node.ts";
import { openTestNode } from "./_test_node.ts";
import { MemoryStorage } from "./raft/mod.ts";
import { abiModuleWat, watToWasm } from "../etl/testing/wat.ts";
import { sha256Hex } from "../etl/module_validation.ts";

type _Res = { status: number; json: Record<string, unknown> };

function client(node: ControllerNode, token = "") {
  const { app } = createOpsApp({ role: "controller", version: "test" });
  mountAdminApi(app, node, { adminToken: token });
  const upload = async (
    name: string | null,
    bytes: Uint8Array,
    headers: Record<string, string> = {},
  ) => {
    const res = await app.request("/api/v1/wasm/modules", {
      method: "POST",
      headers: {
        "content-type": "application/octet-stream",
        ...(name === null ? {} : { "x-module-name": name }),
        ...headers,
      },
      body: bytes as Uint8Array<ArrayBuffer>,
    });
    return { status: res.status, json: await res.json() } as _Res;
  };
  const req = async (method: string, path: string) => {
    const res = await app.request(path, { method });
    return { status: res.status, json: await res.json() } as _Res;
  };
  return { upload, req };
}

const errorOf = (r: _Res) => r.json.error as { code: string; message: string };
const IDENTITY = abiModuleWat(
  "(call $emit (local.get $kp) (local.get $kl) (local.get $vp) (local.get $vl)) (i32.const 0)",
  { memory: "1 16" },
);

Deno.test("Wasm module API deploys, versions, lists, shows and deletes modules", async () => {
  const node = await openTestNode();
  try {
    const { upload, req } = client(node);
    const bytes = await watToWasm(IDENTITY);
    const first = await upload("scrub", bytes);
    assert.equal(first.status, 201);
    assert.deepEqual(first.json, {
      name: "scrub",
      version: 1,
      sha256: await sha256Hex(bytes),
      size_bytes: bytes.length,
    });
    const other = await watToWasm(IDENTITY.replace("(i32.const 0)))", "(i32.const 0) (nop)))"));
    const second = await upload("scrub", other);
    assert.equal(second.status, 201);
    assert.equal(second.json.version, 2);
    assert.equal(second.json.sha256, await sha256Hex(other));
    await upload("enrich", bytes);
    const list = await req("GET", "/api/v1/wasm/modules");
    assert.deepEqual(
      (list.json.modules as { name: string; version: number }[]).map((m) => [m.name, m.version]),
      [
        ["enrich", 1],
        ["scrub", 2],
      ],
    );
    const one = await req("GET", "/api/v1/wasm/modules/scrub");
    assert.equal(one.status, 200);
    assert.equal(one.json.size_bytes, other.length);
    const del = await req("DELETE", "/api/v1/wasm/modules/scrub");
    assert.equal(del.status, 200);
    assert.deepEqual(del.json, { deleted: "scrub", version: 2 });
    assert.equal((await req("GET", "/api/v1/wasm/modules/scrub")).status, 404);
    const again = await req("DELETE", "/api/v1/wasm/modules/scrub");
    assert.equal(again.status, 404);
    assert.match(errorOf(again).message, /Cannot delete module 'scrub' as it does not exist/);
  } finally {
    await node.close();
  }
});

Deno.test("Wasm module API refuses invalid uploads with 400 and the reason", async () => {
  const node = await openTestNode();
  try {
    const { upload, req } = client(node);
    const cases: [Uint8Array, RegExp][] = [
      [new TextEncoder().encode("not wasm"), /not a WebAssembly module/],
      [await watToWasm(`(module (memory (export "memory") 1))`), /needs an export 'alloc'/],
      [
        await watToWasm(IDENTITY.replace('(import "rustmq" "log"', '(import "env" "log"')),
        /only from "rustmq": it imports "env"."log"/,
      ],
      // 2048 pages = 128 MiB, above the 64 MiB default of etl.memory_limit_bytes.
      [
        await watToWasm(
          IDENTITY.replace('(memory (export "memory") 1 16)', '(memory (export "memory") 1 2048)'),
        ),
        /declared memory maximum/,
      ],
      [new Uint8Array(3 * 1024 * 1024), /larger than 2097152 bytes/],
    ];
    for (const [bytes, pattern] of cases) {
      const r = await upload("bad", bytes);
      assert.equal(r.status, 400, `${pattern}`);
      assert.equal(errorOf(r).code, "BAD_REQUEST");
      assert.match(errorOf(r).message, pattern);
    }
    const good = await watToWasm(IDENTITY);
    const noName = await upload(null, good);
    assert.equal(noName.status, 400);
    assert.match(errorOf(noName).message, /module name '' .* must be 1 to 128/);
    const wrongType = await upload("m", good, { "content-type": "application/json" });
    assert.equal(wrongType.status, 400);
    assert.match(errorOf(wrongType).message, /Content-Type must be application\/octet-stream/);
    // Nothing refused reached the registry.
    assert.deepEqual((await req("GET", "/api/v1/wasm/modules")).json, { modules: [] });
  } finally {
    await node.close();
  }
});

Deno.test("Wasm module API needs the admin token to deploy", async () => {
  const node = await openTestNode();
  try {
    const { upload } = client(node, "s3cret");
    const bytes = await watToWasm(IDENTITY);
    assert.equal((await upload("m", bytes)).status, 401);
    assert.equal((await upload("m", bytes, { authorization: "Bearer s3cret" })).status, 201);
  } finally {
    await node.close();
  }
});

Deno.test("Wasm modules survive a controller restart from its Raft log and a snapshot", async () => {
  const storage = new MemoryStorage();
  const bytes = await watToWasm(IDENTITY);
  let node = await openTestNode({ storage });
  try {
    assert.equal((await client(node).upload("m", bytes)).status, 201);
    assert.equal((await client(node).upload("m", bytes)).status, 201);
  } finally {
    await node.close();
  }
  node = await openTestNode({ storage });
  try {
    for (let i = 0; i < 200 && node.sm.wasmModule("m") === undefined; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const m = node.sm.wasmModule("m");
    assert.equal(m?.version, 2);
    assert.deepEqual(
      new Uint8Array(atob(m!.bytesBase64).split("").map((c) => c.charCodeAt(0))),
      bytes,
    );
    // A snapshot carries the registry too.
    const { MetadataStateMachine } = await import("./metadata/state_machine.ts");
    const copy = new MetadataStateMachine();
    copy.restore(node.sm.applied, node.sm.snapshot());
    assert.equal(copy.wasmModule("m")?.sha256, await sha256Hex(bytes));
    // An older snapshot without the field restores an empty registry.
    const old = JSON.parse(node.sm.snapshot());
    delete old.wasmModules;
    copy.restore(1, JSON.stringify(old));
    assert.deepEqual(copy.wasmModules(), []);
  } finally {
    await node.close();
  }
});
