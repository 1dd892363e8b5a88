import assert from "node:assert/strict";
import { createOpsApp, serveOps } from "../ops/ops_server.ts";
import { createLogger } from "../ops/logger.ts";
import { mountAdminApi } from "../controller/admin_api.ts";
import { openTestNode } from "../controller/_test_node.ts";
import { adminCommand } from "./admin_cmd.ts";
import { AdminClient } from "./admin_client.ts";
import { runUsersCommand } from "./security_cmd.ts";
import type { OptionValues } from "../config/cli.ts";

Deno.test("rustmq admin users create|delete|list and acls add|remove|list", async () => {
  const node = await openTestNode();
  const { app } = createOpsApp({ role: "controller", version: "test" });
  mountAdminApi(app, node, { adminToken: "tok" });
  const server = serveOps(
    app,
    { hostname: "127.0.0.1", port: 0 },
    createLogger("t", { level: "error" }),
  );
  const url = `http://127.0.0.1:${server.port}`;
  const run = async (extra: OptionValues, ...positionals: string[]) => {
    let out = "";
    let err = "";
    const values: OptionValues = { controller: [url], token: "tok", ...extra };
    const code = await adminCommand.run(values, positionals, {
      out: (t) => (out += t),
      err: (t) => (err += t),
      stopSignal: new Promise(() => {}),
    });
    return { code, out, err };
  };
  try {
    Deno.env.delete("RUSTMQ_USER_PASSWORD");
    await assert.rejects(run({}, "users", "create", "alice"), /RUSTMQ_USER_PASSWORD.*not set/);
    Deno.env.set("RUSTMQ_USER_PASSWORD", "pw-from-env");
    const created = await run({ iterations: "4096" }, "users", "create", "alice");
    assert.equal(created.code, 0, created.err);
    assert.equal(
      created.out,
      "Created SCRAM-SHA-512 credential for user alice (4096 iterations)\n",
    );
    assert.doesNotMatch(created.out + created.err, /pw-from-env/);
    Deno.env.set("OTHER_PW", "pw-2");
    await run(
      { "password-env": "OTHER_PW", mechanism: "SCRAM-SHA-256" },
      "users",
      "create",
      "alice",
    );
    // --password-stdin takes the first line.
    let out = "";
    await runUsersCommand(["create", "bob"], {
      client: new AdminClient({ urls: [url], token: "tok", attemptTimeoutMs: 5000 }),
      values: { "password-stdin": true },
      print: (_v, human) => (out += human()),
      readStdin: () => Promise.resolve("pw-stdin\nignored\n"),
    });
    assert.match(out, /user bob/);
    assert.doesNotMatch(node.sm.snapshot(), /pw-from-env|pw-2|pw-stdin/);
    const list = await run({}, "users", "list");
    assert.match(list.out, /NAME\s+MECHANISMS/);
    assert.match(list.out, /alice\s+SCRAM-SHA-512\(4096\),SCRAM-SHA-256\(8192\)/);
    assert.match(list.out, /bob\s+SCRAM-SHA-512\(8192\)/);
    assert.equal(
      (await run({}, "users", "delete", "bob")).out,
      "Deleted user bob: SCRAM-SHA-512\n",
    );
    const missing = await run({}, "users", "delete", "bob");
    assert.equal(missing.code, 1);
    assert.match(missing.err, /NOT_FOUND/);

    const add = await run(
      { principal: "User:alice", operation: "Write", topic: "orders" },
      "acls",
      "add",
    );
    assert.equal(add.out, "Added 1 ACL\n", add.err);
    await run(
      {
        principal: "User:alice",
        operation: "Read",
        topic: "ord",
        pattern: "PREFIXED",
        permission: "Deny",
      },
      "acls",
      "add",
    );
    await assert.rejects(
      run({ principal: "User:alice", operation: "Read" }, "acls", "add"),
      /needs a resource/,
    );
    await assert.rejects(
      run({ principal: "User:a", operation: "Read", topic: "t", group: "g" }, "acls", "add"),
      /one resource/,
    );
    const acls = await run({}, "acls", "list");
    assert.match(acls.out, /User:alice\s+Allow\s+Write\s+Topic\s+orders\s+LITERAL\s+\*/);
    assert.match(acls.out, /User:alice\s+Deny\s+Read\s+Topic\s+ord\s+PREFIXED\s+\*/);
    const denies = await run({ json: true, permission: "Deny" }, "acls", "list");
    assert.equal(JSON.parse(denies.out).acls.length, 1);
    await assert.rejects(run({}, "acls", "remove"), /at least one filter/);
    const removed = await run({ principal: "User:alice", operation: "Write" }, "acls", "remove");
    assert.match(removed.out, /^Removed 1 ACL\(s\)\n/);
    assert.deepEqual(node.sm.acls().map((a) => a.permission), ["Deny"]);
    Deno.env.delete("RUSTMQ_ADMIN_TOKEN");
    const noToken = await run(
      { token: "", principal: "User:x", operation: "Read", topic: "t" },
      "acls",
      "add",
    );
    assert.equal(noToken.code, 1);
    assert.match(noToken.err, /UNAUTHORIZED/);
    assert.equal(node.sm.acls().length, 1);
  } finally {
    Deno.env.delete("RUSTMQ_USER_PASSWORD");
    Deno.env.delete("OTHER_PW");
    await server.close();
    await node.close();
  }
});
