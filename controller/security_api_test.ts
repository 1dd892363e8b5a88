import assert from "node:assert/strict";
import { createOpsApp } from "../ops/ops_server.ts";
import { mountAdminApi } from "./admin_api.ts";
import { openTestNode } from "./_test_node.ts";
import { Buffer } from "node:buffer";
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";

async function setup(options: { securityRefusal?: string } = {}) {
  const node = await openTestNode();
  const { app } = createOpsApp({ role: "controller", version: "test" });
  mountAdminApi(app, node, { adminToken: "tok", ...options });
  const req = async (method: string, path: string, body?: unknown, auth = true) => {
    const res = await app.request(path, {
      method,
      headers: {
        "content-type": "application/json",
        ...(auth ? { authorization: "Bearer tok" } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: await res.json() as Record<string, unknown> };
  };
  return { node, req };
}

Deno.test("Admin API creates, lists and deletes SCRAM users, keeping only salted keys", async () => {
  const { node, req } = await setup();
  try {
    const body = {
      name: "alice",
      mechanism: "scram-sha-256",
      password: "alice-secret",
      iterations: 4096,
    };
    assert.equal((await req("POST", "/api/v1/users", body, false)).status, 401);
    const created = await req("POST", "/api/v1/users", body);
    assert.deepEqual([created.status, created.json], [201, {
      name: "alice",
      mechanism: "SCRAM-SHA-256",
      iterations: 4096,
    }]);
    await req("POST", "/api/v1/users", { name: "alice", password: "other" });
    const list = await req("GET", "/api/v1/users", undefined, false);
    assert.deepEqual(list.json, {
      users: [{
        name: "alice",
        mechanisms: [
          { mechanism: "SCRAM-SHA-256", iterations: 4096 },
          { mechanism: "SCRAM-SHA-512", iterations: 8192 },
        ],
      }],
    });
    // The replicated state holds RFC 5802 keys that verify the password, and not the password.
    const snapshot = node.sm.snapshot();
    assert.doesNotMatch(snapshot, /alice-secret/);
    const c = node.sm.users().alice!["SCRAM-SHA-256"]!;
    const salted = pbkdf2Sync("alice-secret", Buffer.from(c.salt, "base64"), 4096, 32, "sha256");
    const clientKey = createHmac("sha256", salted).update("Client Key").digest();
    assert.equal(createHash("sha256").update(clientKey).digest("base64"), c.storedKey);

    const bad = await req("POST", "/api/v1/users", { name: "bob", password: "x", iterations: 10 });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.json), /iterations/);
    assert.equal((await req("POST", "/api/v1/users", { name: "bob" })).status, 400);

    const one = await req("DELETE", "/api/v1/users/alice?mechanism=SCRAM-SHA-512");
    assert.deepEqual(one.json, { name: "alice", removed: ["SCRAM-SHA-512"] });
    const rest = await req("DELETE", "/api/v1/users/alice");
    assert.deepEqual(rest.json, { name: "alice", removed: ["SCRAM-SHA-256"] });
    assert.equal((await req("DELETE", "/api/v1/users/alice")).status, 404);
    assert.deepEqual((await req("GET", "/api/v1/users")).json, { users: [] });
  } finally {
    await node.close();
  }
});

Deno.test("Admin API adds, filters and removes ACLs", async () => {
  const { node, req } = await setup();
  try {
    const acl = {
      resource_type: "topic",
      resource_name: "orders",
      principal: "User:alice",
      operation: "write",
    };
    assert.equal((await req("POST", "/api/v1/acls", acl, false)).status, 401);
    const created = await req("POST", "/api/v1/acls", acl);
    assert.equal(created.status, 201);
    assert.equal(created.json.created, 1);
    await req("POST", "/api/v1/acls", {
      acls: [
        { ...acl, operation: "Read" },
        { ...acl, resource_name: "ord", pattern_type: "PREFIXED", permission: "Deny" },
      ],
    });
    assert.equal(node.sm.acls().length, 3);
    const all = await req("GET", "/api/v1/acls");
    assert.equal((all.json.acls as unknown[]).length, 3);
    assert.deepEqual((all.json.acls as Record<string, string>[])[0], {
      resource_type: "Topic",
      resource_name: "orders",
      pattern_type: "LITERAL",
      principal: "User:alice",
      host: "*",
      operation: "Write",
      permission: "Allow",
    });
    const denies = await req("GET", "/api/v1/acls?permission=deny");
    assert.equal((denies.json.acls as unknown[]).length, 1);
    const bad = await req("POST", "/api/v1/acls", { ...acl, principal: "alice" });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.json), /User:/);
    assert.equal((await req("POST", "/api/v1/acls", { ...acl, operation: "Fly" })).status, 400);
    assert.equal((await req("DELETE", "/api/v1/acls")).status, 400, "no filter is refused");
    const removed = await req("DELETE", "/api/v1/acls?resource_name=orders&operation=Write");
    assert.equal((removed.json.removed as unknown[]).length, 1);
    assert.deepEqual(node.sm.acls().map((a) => a.operation).sort(), ["Read", "Write"]);
    assert.equal(node.sm.acls().find((a) => a.operation === "Write")?.permission, "Deny");
  } finally {
    await node.close();
  }
});

Deno.test("Admin API refuses users and ACLs where they are kept elsewhere", async () => {
  const { node, req } = await setup({ securityRefusal: "kept in security.json" });
  try {
    const r = await req("GET", "/api/v1/users");
    assert.equal(r.status, 409);
    assert.match(JSON.stringify(r.json), /security\.json/);
    assert.equal((await req("DELETE", "/api/v1/users/x")).status, 409);
    assert.equal((await req("POST", "/api/v1/acls", {})).status, 409);
  } finally {
    await node.close();
  }
});
