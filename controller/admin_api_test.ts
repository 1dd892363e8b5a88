import assert from "node:assert/strict";
import { createOpsApp, serveOps } from "../ops/ops_server.ts";
import { createLogger } from "../ops/logger.ts";
import { mountAdminApi } from "./admin_api.ts";
import type { ControllerNode } from "./controller_node.ts";
import { openTestNode, registerBrokers } from "./_test_node.ts";

async function setup(
  token = "",
): Promise<
  {
    node: ControllerNode;
    req: (
      method: string,
      path: string,
      body?: unknown,
      headers?: Record<string, string>,
    ) => Promise<{ status: number; json: Record<string, unknown> }>;
  }
> {
  const node = await openTestNode();
  await registerBrokers(node, 3);
  const { app } = createOpsApp({ role: "controller", version: "test" });
  mountAdminApi(app, node, { adminToken: token, bodyBytesMax: 4096 });
  const req = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const res = await app.request(path, {
      method,
      headers: { "content-type": "application/json", ...headers },
      ...(body === undefined
        ? {}
        : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    return { status: res.status, json: await res.json() as Record<string, unknown> };
  };
  return { node, req };
}

const errorOf = (json: Record<string, unknown>) =>
  json.error as { code: string; message: string; field?: string };

Deno.test("Admin API creates, lists, describes, changes and deletes topics", async () => {
  const { node, req } = await setup();
  try {
    const created = await req("POST", "/api/v1/topics", {
      name: "orders",
      partitions: 3,
      replication_factor: 2,
      configs: { "retention.ms": 1000 },
    });
    assert.equal(created.status, 201);
    assert.equal(created.json.partitions, 3);
    assert.equal(created.json.replication_factor, 2);
    assert.equal((created.json.configs as Record<string, string>)["retention.ms"], "1000");
    const list = await req("GET", "/api/v1/topics");
    assert.deepEqual(list.json, {
      topics: [{ name: "orders", partitions: 3, replication_factor: 2 }],
    });
    const one = await req("GET", "/api/v1/topics/orders");
    assert.equal(one.status, 200);
    assert.equal((one.json.partition_details as unknown[]).length, 3);
    const put = await req("PUT", "/api/v1/topics/orders", {
      configs: { "cleanup.policy": "compact" },
      partitions: 5,
    });
    assert.equal(put.status, 200);
    assert.equal(put.json.partitions, 5);
    assert.equal((put.json.configs as Record<string, string>)["cleanup.policy"], "compact");
    const same = await req("PUT", "/api/v1/topics/orders", { partitions: 5 });
    assert.equal(same.status, 200);
    const del = await req("DELETE", "/api/v1/topics/orders");
    assert.deepEqual([del.status, del.json], [200, { deleted: "orders" }]);
    assert.equal((await req("GET", "/api/v1/topics/orders")).status, 404);
  } finally {
    await node.close();
  }
});

Deno.test("Admin API validates bodies with a 400 naming the field", async () => {
  const { node, req } = await setup();
  try {
    const cases: [unknown, string][] = [
      [{ partitions: 1, replication_factor: 1 }, "name"],
      [{ name: "a", partitions: 0, replication_factor: 1 }, "partitions"],
      [{ name: "a", partitions: 1.5, replication_factor: 1 }, "partitions"],
      [{ name: "a", partitions: 1 }, "replication_factor"],
      [{ name: "a", partitions: 1, replication_factor: 1, configs: [1] }, "configs"],
      [{ name: "a", partitions: 1, replication_factor: 1, configs: { x: {} } }, "configs"],
      ["{not json", "body"],
      [[1, 2], "body"],
    ];
    for (const [body, field] of cases) {
      const r = await req("POST", "/api/v1/topics", body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(errorOf(r.json).code, "BAD_REQUEST");
      assert.equal(errorOf(r.json).field, field);
    }
    const put = await req("PUT", "/api/v1/topics/a", {});
    assert.equal(put.status, 400);
    assert.equal(errorOf(put.json).field, "configs");
  } finally {
    await node.close();
  }
});

Deno.test("Admin API maps cluster refusals to statuses", async () => {
  const { node, req } = await setup();
  try {
    const make = (name: string, rf = 1, configs = {}) =>
      req("POST", "/api/v1/topics", { name, partitions: 1, replication_factor: rf, configs });
    assert.equal((await make("t")).status, 201);
    const dup = await make("t");
    assert.deepEqual([dup.status, errorOf(dup.json).code], [409, "TOPIC_ALREADY_EXISTS"]);
    assert.match(errorOf(dup.json).message, /already exists/);
    const rf = await make("u", 4);
    assert.deepEqual([rf.status, errorOf(rf.json).code], [400, "INVALID_REPLICATION_FACTOR"]);
    const name = await make("bad name");
    assert.deepEqual([name.status, errorOf(name.json).code], [400, "INVALID_TOPIC_EXCEPTION"]);
    const cfg = await make("v", 1, { "retention.ms": "soon" });
    assert.deepEqual([cfg.status, errorOf(cfg.json).code], [400, "INVALID_CONFIG"]);
    const shrink = await req("PUT", "/api/v1/topics/t", { partitions: 1 });
    assert.equal(shrink.status, 200, "same count is not a change");
    await req("PUT", "/api/v1/topics/t", { partitions: 2 });
    const down = await req("PUT", "/api/v1/topics/t", { partitions: 1 });
    assert.deepEqual([down.status, errorOf(down.json).code], [400, "INVALID_PARTITIONS"]);
    for (
      const [method, body] of [["PUT", { partitions: 3 }], ["PUT", { configs: {} }], [
        "DELETE",
        undefined,
      ]] as const
    ) {
      const r = await req(method, "/api/v1/topics/missing", body);
      assert.deepEqual(
        [r.status, errorOf(r.json).code],
        [404, "UNKNOWN_TOPIC_OR_PARTITION"],
        method,
      );
    }
    const route = await req("GET", "/api/v1/nothing-here");
    assert.deepEqual([route.status, errorOf(route.json).code], [404, "NOT_FOUND"]);
    const big = await req("POST", "/api/v1/topics", {
      name: "x".repeat(5000),
      partitions: 1,
      replication_factor: 1,
    });
    assert.deepEqual([big.status, errorOf(big.json).code], [413, "PAYLOAD_TOO_LARGE"]);
  } finally {
    await node.close();
  }
});

Deno.test("Admin API reports health, brokers and metrics", async () => {
  const { node, req } = await setup();
  try {
    await req("POST", "/api/v1/topics", { name: "t", partitions: 3, replication_factor: 3 });
    let health = await req("GET", "/api/v1/cluster/health");
    assert.equal(health.status, 200);
    assert.equal(health.json.status, "healthy");
    assert.equal(health.json.leader, "c1");
    assert.deepEqual(health.json.voters, [{
      node_id: "c1",
      role: "leader",
      self: true,
      reachable: true,
      last_heard_ms_ago: 0,
    }]);
    await node.execute({
      v: 1,
      op: "fence_broker",
      nodeId: 2,
      brokerEpoch: node.sm.broker(2)!.epoch,
      unclean: false,
    });
    health = await req("GET", "/api/v1/cluster/health");
    assert.equal(health.json.status, "degraded");
    assert.deepEqual(health.json.brokers, {
      total: 3,
      up: 2,
      down: 1,
      up_ids: [1, 3],
      down_ids: [2],
    });
    const parts = health.json.partitions as Record<string, unknown>;
    assert.equal(parts.total, 3);
    assert.equal(parts.offline, 0);
    assert.equal(parts.under_replicated, 3);
    const brokers = await req("GET", "/api/v1/brokers");
    const list = brokers.json.brokers as { node_id: number; status: string; rack: string }[];
    assert.deepEqual(list.map((b) => [b.node_id, b.status, b.rack]), [[1, "up", "r1"], [
      2,
      "fenced",
      "r2",
    ], [3, "up", "r3"]]);
    const metrics = await req("GET", "/api/v1/metrics");
    assert.equal(metrics.json.role, "leader");
    assert.equal(metrics.json.topics, 1);
    assert.equal(metrics.json.brokers_down, 1);
  } finally {
    await node.close();
  }
});

Deno.test("Admin API applies a retried write with the same Idempotency-Key once", async () => {
  const { node, req } = await setup();
  try {
    const body = { name: "once", partitions: 1, replication_factor: 1 };
    const key = { "idempotency-key": "abc" };
    const first = await req("POST", "/api/v1/topics", body, key);
    const retry = await req("POST", "/api/v1/topics", body, key);
    assert.deepEqual([first.status, retry.status], [201, 201]);
    assert.deepEqual(retry.json, first.json);
    const other = await req("POST", "/api/v1/topics", body, { "idempotency-key": "def" });
    assert.equal(other.status, 409);
    const bad = await req("DELETE", "/api/v1/topics/once", undefined, {
      "idempotency-key": "x".repeat(101),
    });
    assert.equal(errorOf(bad.json).field, "Idempotency-Key");
  } finally {
    await node.close();
  }
});

Deno.test("Admin API guards writes with the bearer token", async () => {
  const { node, req } = await setup("s3cret");
  try {
    const body = { name: "t", partitions: 1, replication_factor: 1 };
    const none = await req("POST", "/api/v1/topics", body);
    assert.deepEqual([none.status, errorOf(none.json).code], [401, "UNAUTHORIZED"]);
    const wrong = await req("DELETE", "/api/v1/topics/t", undefined, {
      authorization: "Bearer nope",
    });
    assert.deepEqual([wrong.status, errorOf(wrong.json).code], [403, "FORBIDDEN"]);
    const ok = await req("POST", "/api/v1/topics", body, { authorization: "Bearer s3cret" });
    assert.equal(ok.status, 201);
    assert.equal((await req("GET", "/api/v1/topics")).status, 200, "reads need no token");
  } finally {
    await node.close();
  }
});

Deno.test("Admin API answers 503 when no leader can be found", async () => {
  // Two voters, only one running: no quorum, so no leader ever.
  const node = await openTestNode({ voters: ["c1", "c2"], requestTimeoutMs: 150 }, {
    waitLeader: false,
  });
  try {
    const { app } = createOpsApp({ role: "controller", version: "test" });
    mountAdminApi(app, node);
    const res = await app.request("/api/v1/topics");
    assert.equal(res.status, 503);
    assert.equal(errorOf(await res.json()).code, "NO_LEADER");
    const health = await (await app.request("/api/v1/cluster/health")).json();
    assert.equal(health.status, "unavailable");
    assert.equal(health.leader, null);
  } finally {
    await node.close();
  }
});

Deno.test("Admin API serves over a real socket", async () => {
  const node = await openTestNode();
  await registerBrokers(node, 1);
  const { app } = createOpsApp({ role: "controller", version: "test" });
  mountAdminApi(app, node);
  const server = serveOps(
    app,
    { hostname: "127.0.0.1", port: 0 },
    createLogger("t", { level: "error" }),
  );
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const post = await fetch(`${base}/api/v1/topics`, {
      method: "POST",
      body: JSON.stringify({ name: "s", partitions: 2, replication_factor: 1 }),
    });
    assert.equal(post.status, 201);
    await post.body?.cancel();
    const got = await (await fetch(`${base}/api/v1/topics/s`)).json();
    assert.equal(got.partitions, 2);
    assert.equal((await (await fetch(`${base}/health`)).json()).role, "controller");
  } finally {
    await server.close();
    await node.close();
  }
});

Deno.test("Admin API runs a preferred-leader election and validates its body", async () => {
  const { node, req } = await setup();
  try {
    await req("POST", "/api/v1/topics", { name: "pl", partitions: 3, replication_factor: 3 });
    // Every partition already has its preferred leader: nothing moves.
    const r = await req("POST", "/api/v1/cluster/preferred-leader-election", { topic: "pl" });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { moved: 0 });
    const bad = await req("POST", "/api/v1/cluster/preferred-leader-election", { topic: 7 });
    assert.equal(bad.status, 400);
    assert.equal(errorOf(bad.json).field, "topic");
  } finally {
    await node.close();
  }
});
