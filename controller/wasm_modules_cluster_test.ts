import assert from "node:assert/strict";
import { ControllerNode } from "./controller_node.ts";
import { MemoryStorage, SeededRandom } from "./raft/mod.ts";
import { MemoryNetwork } from "./transport/memory_transport.ts";
import { createLogger } from "../ops/logger.ts";
import { createOpsApp } from "../ops/ops_server.ts";
import { mountAdminApi } from "./admin_api.ts";
import { abiModuleWat, watToWasm } from "../etl/testing/wat.ts";

const IDS = ["c1", "c2", "c3"];

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function api(node: ControllerNode) {
  const { app } = createOpsApp({ role: "controller", version: "test" });
  mountAdminApi(app, node);
  return async (method: string, path: string, body?: Uint8Array, name?: string) => {
    const res = await app.request(path, {
      method,
      headers: {
        "content-type": "application/octet-stream",
        ...(name === undefined ? {} : { "x-module-name": name }),
      },
      ...(body === undefined ? {} : { body: body as Uint8Array<ArrayBuffer> }),
    });
    return { status: res.status, json: await res.json() as Record<string, unknown> };
  };
}

Deno.test("Wasm modules deployed through a follower survive a controller leader change", async () => {
  const net = new MemoryNetwork();
  const nodes = await Promise.all(IDS.map((id, i) =>
    ControllerNode.open({
      id,
      voters: IDS,
      storage: new MemoryStorage(),
      transport: net.transport(id, IDS),
      random: new SeededRandom(i + 1),
      logger: createLogger(id, { level: "error" }),
      tickMs: 10,
      electionTicks: 10,
      brokerLeaseMs: 60_000,
      requestTimeoutMs: 3000,
    })
  ));
  try {
    const bytes = await watToWasm(abiModuleWat("(i32.const 0)", { memory: "1 2" }));
    const leader = await until("a leader", () => nodes.find((n) => n.status().role === "leader"));
    const follower = nodes.find((n) => n !== leader)!;
    const first = await api(follower)("POST", "/api/v1/wasm/modules", bytes, "m");
    assert.equal(first.status, 201, JSON.stringify(first.json));
    net.down(leader.status().id);
    const rest = nodes.filter((n) => n !== leader);
    const next = await until(
      "a new leader",
      () => rest.find((n) => n.status().role === "leader" && n !== leader),
    );
    const got = await api(next)("GET", "/api/v1/wasm/modules/m");
    assert.equal(got.status, 200);
    assert.equal(got.json.version, 1);
    assert.equal(got.json.size_bytes, bytes.length);
    const second = await api(next)("POST", "/api/v1/wasm/modules", bytes, "m");
    assert.equal(second.json.version, 2);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});
