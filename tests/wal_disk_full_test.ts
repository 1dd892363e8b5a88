/**
 * A full WAL disk, for real: the test mounts a 32 MiB tmpfs (as root; skipped, saying why,
 * where it cannot) and points `rustmq standalone`'s WAL at it with the default capacity
 * (2 GiB, far above the disk).
 *
 * - Start-up refuses, naming both numbers.
 * - With `wal.clamp_capacity_to_disk`, it starts with the capacity clamped. A ballast file
 *   then fills the disk: kcat producers get a clear storage error, `/ready` is 503, `/health`
 *   says degraded with the reason and `rustmq_wal_disk_full` is 1, while fetches still work.
 *   Once the ballast is deleted, appends resume by themselves, with no restart; every
 *   acknowledged record is there, the failed ones are not, and offsets have no hole.
 */

import assert from "node:assert/strict";
import { startStandalone } from "./support/standalone_process.ts";
import { tmpfsUnavailable, withTmpfs } from "./support/tmpfs.ts";
import { WalDiskWatch } from "../broker/wal_disk_watch.ts";
import { createLogger } from "../ops/logger.ts";

const MIB = 1024 * 1024;

function run(cmd: string, args: string[], stdin?: string) {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return (async () => {
    if (stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(stdin));
      await w.close();
    }
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const out = await child.output();
    clearTimeout(timer);
    const dec = new TextDecoder();
    return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
  })();
}

/** Why the test cannot run here, or null. */
function cannotRun(): string | null {
  if (new Deno.Command("sh", { args: ["-c", "command -v kcat"] }).outputSync().code !== 0) {
    return "kcat is not installed";
  }
  return tmpfsUnavailable();
}

const skipReason = cannotRun();
if (skipReason !== null) console.warn(`wal_disk_full_test skipped: ${skipReason}`);

/** Writes zeros into `path` until the filesystem is full. */
async function fillDisk(path: string): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(64 * 1024);
  try {
    for (;;) await f.write(chunk);
  } catch (err) {
    if (!String(err).includes("No space")) throw err;
  } finally {
    f.close();
  }
}

async function http(port: number, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, text: await res.text() };
}

Deno.test({
  name: "standalone refuses a WAL capacity larger than its disk, naming both numbers",
  ignore: skipReason !== null,
  async fn() {
    await withTmpfs(32 * MIB, async (mnt) => {
      const err = await startStandalone({
        config: `[wal]\npath = "${mnt}/wal"\n`,
        readyTimeoutMs: 20_000,
      }).then(() => null, (e: Error) => e);
      assert.ok(err !== null, "standalone started on a disk too small for its WAL");
      assert.match(err.message, /wal\.capacity_bytes is 2147483648 but the filesystem of/);
      assert.match(err.message, /has room for \d+ bytes/);
      assert.doesNotMatch(err.message, /\n\s+at /, "a stack trace reached the user");
    });
  },
});

Deno.test({
  name: "a full WAL disk fails appends clearly, keeps fetches, and heals by itself",
  ignore: skipReason !== null,
  async fn() {
    await withTmpfs(32 * MIB, async (mnt) => {
      await using sa = await startStandalone({
        config: `[wal]\npath = "${mnt}/wal"\nsegment_size_bytes = ${MIB}\n` +
          `clamp_capacity_to_disk = true\n`,
      });
      assert.match(sa.stderr(), /clamped wal.capacity_bytes/);
      const b = sa.bootstrap;
      const topic = "full";
      const produce = (lines: string[], extra: string[] = []) =>
        run(
          "kcat",
          ["-b", b, "-P", "-t", topic, "-X", "message.timeout.ms=10000", ...extra],
          lines.join("\n") + "\n",
        );
      const big = (tag: string, i: number) => `${tag}-${i}-${"x".repeat(8000)}`;
      const before = Array.from({ length: 50 }, (_, i) => big("before", i));
      const r0 = await produce(before);
      assert.equal(r0.code, 0, r0.err);

      await fillDisk(`${mnt}/ballast`);
      // Enough to need new segments: the disk has no room for them.
      const during = Array.from({ length: 400 }, (_, i) => big("during", i));
      const r1 = await produce(during, ["-X", "retries=0"]);
      const failed = (r1.err.match(/Delivery failed/g) ?? []).length;
      assert.ok(failed > 0, `no produce failed on a full disk: ${r1.err.slice(0, 2000)}`);
      assert.match(r1.err, /Disk error|storage/i, "the producer's error names the disk");

      const ready = await http(sa.httpPort, "/ready");
      assert.equal(ready.status, 503, ready.text);
      assert.match(ready.text, /WAL disk full since/);
      const health = await http(sa.httpPort, "/health");
      assert.equal(health.status, 200);
      assert.equal(JSON.parse(health.text).status, "degraded");
      assert.match(JSON.parse(health.text).reason, /WAL disk full since \d{4}-/);
      assert.match((await http(sa.httpPort, "/metrics")).text, /^rustmq_wal_disk_full 1$/m);
      // Fetches go on while appends fail.
      const mid = await run("kcat", [
        "-b",
        b,
        "-C",
        "-t",
        topic,
        "-e",
        "-q",
        "-o",
        "beginning",
        "-c",
        "50",
      ]);
      assert.equal(mid.code, 0, mid.err);
      assert.equal(mid.out.trim().split("\n").length, 50);

      await Deno.remove(`${mnt}/ballast`);
      const after = Array.from({ length: 50 }, (_, i) => big("after", i));
      const r2 = await produce(after);
      assert.equal(r2.code, 0, r2.err);
      assert.doesNotMatch(r2.err, /Delivery failed/, r2.err);
      assert.equal(JSON.parse((await http(sa.httpPort, "/health")).text).status, "ok");
      assert.equal((await http(sa.httpPort, "/ready")).status, 200);
      assert.match((await http(sa.httpPort, "/metrics")).text, /^rustmq_wal_disk_full 0$/m);

      const all = await run("kcat", [
        "-b",
        b,
        "-C",
        "-t",
        topic,
        "-e",
        "-q",
        "-o",
        "beginning",
        "-f",
        "%o %s\n",
      ]);
      assert.equal(all.code, 0, all.err);
      const rows = all.out.trim().split("\n").map((l) => {
        const at = l.indexOf(" ");
        return { offset: Number(l.slice(0, at)), value: l.slice(at + 1) };
      });
      assert.deepEqual(rows.map((r) => r.offset), rows.map((_, i) => i), "offsets have a hole");
      const values = new Set(rows.map((r) => r.value));
      for (const v of [...before, ...after]) assert.ok(values.has(v), `lost ${v.slice(0, 20)}`);
      const duringKept = during.filter((v) => values.has(v)).length;
      assert.equal(duringKept, during.length - failed, "acknowledged = kept, failed = gone");
      assert.equal(rows.length, before.length + after.length + duringKept);
      assert.equal((sa.stderr().match(/WAL disk is full: appends fail/g) ?? []).length, 1);
      assert.equal((sa.stderr().match(/WAL disk has room again/g) ?? []).length, 1);
    });
  },
});

Deno.test({
  name: "the WAL disk watch logs once when less than a segment is free and once when it clears",
  ignore: skipReason !== null,
  async fn() {
    await withTmpfs(16 * MIB, async (mnt) => {
      const lines: { msg: string; freeBytes?: number }[] = [];
      const logger = createLogger("t", { sink: (l) => lines.push(JSON.parse(l)) });
      using watch = new WalDiskWatch(mnt, MIB, logger, 3_600_000);
      assert.ok(watch.freeBytes! > 15 * MIB, `${watch.freeBytes}`);
      await fillDisk(`${mnt}/ballast`);
      watch.check();
      watch.check();
      assert.equal(watch.freeBytes, 0);
      await Deno.remove(`${mnt}/ballast`);
      watch.check();
      assert.deepEqual(lines.map((l) => l.msg), [
        "WAL filesystem is low on space: less than one segment is free",
        "WAL filesystem has room again",
      ]);
    });
  },
});
