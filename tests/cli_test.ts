import assert from "node:assert/strict";
import { COMMANDS } from "../main.ts";
import { type CommandIo, EXIT_OK, EXIT_USAGE, runCli } from "../config/cli.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

function captureIo() {
  const io = { outText: "", errText: "" };
  const cio: CommandIo = {
    out: (t) => (io.outText += t),
    err: (t) => (io.errText += t),
    stopSignal: new Promise(() => {}),
  };
  return { io, cio };
}

async function run(args: string[]) {
  const { io, cio } = captureIo();
  const code = await runCli(args, { program: "rustmq", version: "1.2.3", commands: COMMANDS }, cio);
  return { code, ...io };
}

Deno.test("rustmq --help lists every subcommand and --version prints the version", async () => {
  const help = await run(["--help"]);
  assert.equal(help.code, EXIT_OK);
  for (
    const name of [
      "standalone",
      "broker",
      "controller",
      "admin",
      "produce",
      "consume",
      "bench",
      "subscriber",
    ]
  ) {
    assert.match(help.outText, new RegExp(`^  ${name} `, "m"));
  }
  const version = await run(["--version"]);
  assert.equal(version.code, EXIT_OK);
  assert.equal(version.outText, "rustmq 1.2.3\n");
});

Deno.test("rustmq <command> --help works for every subcommand", async () => {
  for (const cmd of COMMANDS) {
    const r = await run([cmd.name, "--help"]);
    assert.equal(r.code, EXIT_OK, cmd.name);
    assert.match(r.outText, new RegExp(`^Usage: rustmq ${cmd.name} `), cmd.name);
  }
});

Deno.test("rustmq exits 2 with usage on an unknown command, an unknown flag or no command", async () => {
  const unknown = await run(["frobnicate"]);
  assert.equal(unknown.code, EXIT_USAGE);
  assert.match(unknown.errText, /unknown command 'frobnicate'/);
  assert.match(unknown.errText, /Usage: rustmq <command>/);

  const flag = await run(["broker", "--no-such-flag"]);
  assert.equal(flag.code, EXIT_USAGE);
  assert.match(flag.errText, /Unknown option '--no-such-flag'/);
  assert.match(flag.errText, /Usage: rustmq broker/);

  assert.equal((await run([])).code, EXIT_USAGE);
  const missing = await run(["broker"]);
  assert.equal(missing.code, EXIT_USAGE);
  assert.match(missing.errText, /--config is required/);
});

async function spawnMain(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("main.ts broker --check exits 0 for config/broker.toml and 2 for a misspelt key", async () => {
  const good = await spawnMain([
    "broker",
    "--config",
    new URL("../config/broker.toml", import.meta.url).pathname,
    "--check",
  ]);
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /configuration is valid/);

  const dir = await Deno.makeTempDir();
  try {
    const bad = `${dir}/broker.toml`;
    await Deno.writeTextFile(bad, "[wal]\nfsync_on_wirte = true\n");
    const r = await spawnMain(["broker", "--config", bad, "--check"]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /wal\.fsync_on_wirte = true: unknown key; did you mean 'fsync_on_write'\?/,
    );
    assert.ok(r.stderr.includes(bad), "the message names the file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts controller --check exits 0 for config/controller.toml", async () => {
  const r = await spawnMain([
    "controller",
    "--config",
    new URL("../config/controller.toml", import.meta.url).pathname,
    "--check",
  ]);
  assert.equal(r.code, 0, r.stderr);
});

Deno.test("main.ts exits 2 on an unknown command and prints --version", async () => {
  const r = await spawnMain(["nope"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command 'nope'/);
  const v = await spawnMain(["--version"]);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^rustmq \d+\.\d+\.\d+/);
});
