import assert from "node:assert/strict";
import { createOpsApp, serveOps } from "../ops/ops_server.ts";
import { createLogger } from "../ops/logger.ts";
import { mountAdminApi } from "../controller/admin_api.ts";
import { openTestNode, registerBrokers } from "../controller/_test_node.ts";
import { adminCommand } from "./admin_cmd.ts";
import { abiModuleWat, watToWasm } from "../etl/testing/wat.ts";
import { tempDir } from "../tests/support/temp_dir.ts";
import type { OptionValues } from "../config/cli.ts";

Deno.test("rustmq admin deploy-module, list-modules, describe-module and delete-module", async () => {
  const node = await openTestNode();
  const { app } = createOpsApp({ role: "controller", version: "test" });
  mountAdminApi(app, node);
  const server = serveOps(
    app,
    { hostname: "127.0.0.1", port: 0 },
    createLogger("t", { level: "error" }),
  );
  try {
    {
      await using tmp = await tempDir("rustmq-wasm-cli-");
      const dir = tmp.path;
      const file = `${dir}/m.wasm`;
      await Deno.writeFile(
        file,
        await watToWasm(abiModuleWat("(i32.const 0)", { memory: "1 2" })),
      );
      await Deno.writeTextFile(`${dir}/bad.wasm`, "not wasm");
      const run = async (...positionals: string[]) => {
        let out = "";
        let err = "";
        const values: OptionValues = { controller: [`http://127.0.0.1:${server.port}`] };
        const code = await adminCommand.run(values, positionals, {
          out: (t) => (out += t),
          err: (t) => (err += t),
          stopSignal: new Promise(() => {}),
        });
        return { code, out, err };
      };
      const deployed = await run("deploy-module", "scrub", file);
      assert.equal(deployed.code, 0, deployed.err);
      assert.match(
        deployed.out,
        /^Deployed module scrub version 1 \(\d+ bytes, sha256 [0-9a-f]{64}\)/,
      );
      assert.match((await run("deploy-module", "scrub", file)).out, /version 2/);
      const list = await run("list-modules");
      assert.match(list.out, /NAME\s+VERSION\s+SIZE\s+SHA256/);
      assert.match(list.out, /scrub\s+2\s+\d+\s+[0-9a-f]{64}/);
      assert.match((await run("describe-module", "scrub")).out, /^scrub version 2: /);
      const bad = await run("deploy-module", "bad", `${dir}/bad.wasm`);
      assert.equal(bad.code, 1);
      assert.match(bad.err, /not a WebAssembly module.*\(BAD_REQUEST\)/);
      await assert.rejects(
        run("deploy-module", "x", `${dir}/missing.wasm`),
        /cannot read module file/,
      );
      assert.equal((await run("delete-module", "scrub")).out, "Deleted module scrub\n");
      const gone = await run("describe-module", "scrub");
      assert.equal(gone.code, 1);
      assert.match(gone.err, /does not exist \(NOT_FOUND\)/);
    }
  } finally {
    await server.close();
    await node.close();
  }
});

Deno.test("rustmq admin create-topic and alter-topic --etl set the chain; describe-topic shows it", async () => {
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
    await using tmp = await tempDir("rustmq-etl-cli-");
    const file = `${tmp.path}/m.wasm`;
    await Deno.writeFile(file, await watToWasm(abiModuleWat("(i32.const 0)", { memory: "1 2" })));
    const run = async (etl: string | undefined, ...positionals: string[]) => {
      let out = "";
      let err = "";
      const values: OptionValues = {
        controller: [`http://127.0.0.1:${server.port}`],
        ...(etl === undefined ? {} : { etl }),
      };
      const code = await adminCommand.run(values, positionals, {
        out: (t) => (out += t),
        err: (t) => (err += t),
        stopSignal: new Promise(() => {}),
      });
      return { code, out, err };
    };
    await run(undefined, "deploy-module", "a", file);
    await run(undefined, "deploy-module", "b", file);
    await run(undefined, "deploy-module", "b", file);
    const missing = await run("a,zz", "create-topic", "t", "1", "1");
    assert.equal(missing.code, 1);
    assert.match(missing.err, /module 'zz' is not deployed \(INVALID_CONFIG\)/);
    assert.equal((await run("a,b", "create-topic", "t", "1", "1")).code, 0);
    assert.match(
      (await run(undefined, "describe-topic", "t")).out,
      /ETL chain: a \(v1\) -> b \(v2\)/,
    );
    assert.match((await run("b", "alter-topic", "t")).out, /ETL chain: b \(v2\)\n/);
    const inUse = await run(undefined, "delete-module", "b");
    assert.match(inUse.err, /topics use it: t \(MODULE_IN_USE\)/);
    const cleared = await run("", "alter-topic", "t");
    assert.doesNotMatch(cleared.out, /ETL chain/);
    assert.equal((await run(undefined, "delete-module", "b")).code, 0);
  } finally {
    await server.close();
    await node.close();
  }
});
