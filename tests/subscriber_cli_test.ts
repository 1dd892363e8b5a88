/**
 * `rustmq subscriber` as a user runs it: `--check` validates and exits, problems are listed
 * all at once with exit status 2 and no stack trace, and a wrong sink name is refused.
 *
 * @module
 */

import assert from "node:assert/strict";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function _run(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "subscriber", ...args],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

const _PATH = { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "/tmp" };

Deno.test("subscriber CLI: --check, every problem at once, wrong sink", async () => {
  const ok = await _run(["bigquery", "--check"], {
    ..._PATH,
    GCP_PROJECT_ID: "p",
    BIGQUERY_DATASET: "d",
    BIGQUERY_TABLE: "t",
    RUSTMQ_TOPIC: "events",
    AUTH_METHOD: "none",
    BIGQUERY_API_ENDPOINT: "http://127.0.0.1:9050",
  });
  assert.equal(ok.code, 0, ok.err);
  assert.equal(ok.out, "configuration OK: topic events -> p.d.t\n");

  const dir = await Deno.makeTempDir({ prefix: "rustmq-sub-cli-" });
  try {
    await Deno.writeTextFile(`${dir}/sub.toml`, `tabel = "x"\n[schema]\nmapping = "flat"\n`);
    const bad = await _run(["bigquery", "--check", "--config", `${dir}/sub.toml`], {
      ..._PATH,
      MAX_ROWS_PER_BATCH: "many",
    });
    assert.equal(bad.code, 2);
    assert.match(bad.err, /has 7 problem\(s\)/);
    for (
      const k of ["tabel", "schema.mapping", "MAX_ROWS_PER_BATCH", "GCP_PROJECT_ID", "RUSTMQ_TOPIC"]
    ) assert.ok(bad.err.includes(` ${k} = `), `${k} in ${bad.err}`);
    assert.doesNotMatch(bad.err, /\n\s+at /, "no stack trace");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }

  const wrong = await _run(["kafka-connect"], _PATH);
  assert.equal(wrong.code, 2);
  assert.match(wrong.err, /expects one sink name, 'bigquery'/);
});
