/**
 * The admin REST API's consumer-group endpoints against a real standalone process: list,
 * describe with lag, and reset offsets of an inactive group.
 */

import assert from "node:assert/strict";
import { startStandalone } from "./support/standalone_process.ts";

async function kcat(args: string[], stdin?: string): Promise<number> {
  const child = new Deno.Command("kcat", {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const { code } = await child.status;
  clearTimeout(timer);
  return code;
}

const kcatMissing =
  new Deno.Command("sh", { args: ["-c", "command -v kcat"] }).outputSync().code !== 0;

Deno.test({
  name: "REST consumer-groups lists, describes with lag, and resets an inactive group",
  ignore: kcatMissing, // .ci/run installs kcat; a machine without it skips this, visibly.
  async fn() {
    await using sa = await startStandalone();
    const api = `http://127.0.0.1:${sa.httpPort}/api/v1`;
    const created = await fetch(`${api}/topics`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "rest-g", partitions: 1, replication_factor: 1 }),
    });
    assert.equal(created.status, 201, await created.text());
    assert.equal(await kcat(["-P", "-b", sa.bootstrap, "-t", "rest-g"], "a\nb\nc\nd\n"), 0);
    // kcat consumes all four and commits, then leaves the group.
    assert.equal(
      await kcat([
        "-b",
        sa.bootstrap,
        "-G",
        "rest-group",
        "-X",
        "auto.offset.reset=earliest",
        "-e",
        "rest-g",
      ]),
      0,
    );

    const list = await (await fetch(`${api}/consumer-groups`)).json();
    assert.ok(
      list.groups.some((g: { groupId: string }) => g.groupId === "rest-group"),
      JSON.stringify(list),
    );
    const described = await (await fetch(`${api}/consumer-groups/rest-group`)).json();
    const lag0 = described.lag.find((l: { partition: number }) => l.partition === 0);
    assert.equal(lag0.lag, 0, JSON.stringify(described));

    const dry = await fetch(`${api}/consumer-groups/rest-group/reset-offsets`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "rest-g", to: "earliest" }),
    });
    const plan = await dry.json();
    assert.equal(dry.status, 200, JSON.stringify(plan));
    assert.equal(plan.executed, false);
    const after = await (await fetch(`${api}/consumer-groups/rest-group`)).json();
    assert.equal(after.lag[0].lag, 0, "a dry run changes nothing");

    const run = await fetch(`${api}/consumer-groups/rest-group/reset-offsets`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "rest-g", to: "earliest", execute: true }),
    });
    assert.equal(run.status, 200, await run.text());
    const reset = await (await fetch(`${api}/consumer-groups/rest-group`)).json();
    assert.equal(reset.lag[0].lag, 4, JSON.stringify(reset));

    const bad = await fetch(`${api}/consumer-groups/rest-group/reset-offsets`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "rest-g", to: "sideways" }),
    });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error.message, /field 'to'/);
  },
});
