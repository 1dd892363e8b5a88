/**
 * SIGKILL at the two dangerous moments of an upload: after the object is written but before the
 * manifest commit, and after the commit but before the WAL checkpoint. After a restart every
 * acknowledged record is readable exactly once, and garbage collection leaves no orphan object.
 */

import assert from "node:assert/strict";
import { startStandalone } from "./support/standalone_process.ts";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { fetchValues, produceValues } from "./support/raw_ops.ts";

const CONFIG = [
  "[wal]",
  "upload_interval_ms = 400",
  "[object_storage]",
  "upload_bytes_target = 67108864",
  "gc_grace_ms = 0",
  "maintenance_interval_ms = 200",
  "compaction_threshold_bytes = 0",
].join("\n");

async function objectFiles(dataDir: string): Promise<string[]> {
  const root = `${dataDir}/objects`;
  const out: string[] = [];
  const walk = async (dir: string, rel: string) => {
    for await (const e of Deno.readDir(dir)) {
      if (e.name === ".rustmq-tmp") continue;
      if (e.isDirectory) await walk(`${dir}/${e.name}`, `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}`);
    }
  };
  await walk(root, "").catch(() => {});
  return out.sort();
}

/** The objects the manifest references, from standalone's admin REST API. */
async function manifestObjects(httpPort: number): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/v1/objects`);
  const body = await res.json() as { objects: { object_key: string }[] };
  return body.objects.map((o) => o.object_key).sort();
}

async function until(
  what: string,
  cond: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const point of ["uploader-after-put", "uploader-after-commit"]) {
  Deno.test(`a SIGKILL at ${point} loses no acknowledged record, duplicates none, and leaves no orphan`, async () => {
    await using first = await startStandalone({
      config: CONFIG,
      env: { RUSTMQ_FAILPOINTS: point },
    });
    const dataDir = first.dataDir;
    const acked: string[] = [];
    const sent = new Set<string>();
    const c = await RawKafkaClient.connect(first.kafkaPort);
    try {
      for (let i = 0; i < 100_000; i++) {
        const values = [`${point}-${i}-a`, `${point}-${i}-b`];
        values.forEach((v) => sent.add(v));
        const r = await produceValues(c, "crash", 0, values);
        assert.equal(r.errorCode, 0);
        acked.push(...values);
      }
      assert.fail("the failpoint never fired");
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      // The connection died with the process: expected.
    } finally {
      c.close();
    }
    assert.equal(
      await first.exited(),
      137,
      `the failpoint killed the process\n${first.stderr().slice(-2000)}`,
    );
    assert.ok(acked.length > 0);
    if (point === "uploader-after-put") {
      // The failpoint fires in the first upload, before its commit: nothing was ever committed,
      // so every object on disk now is an orphan that only garbage collection can remove.
      const orphans = await objectFiles(dataDir);
      assert.ok(orphans.length > 0, "the crash left an object the manifest does not reference");
    }

    await using second = await startStandalone({ config: CONFIG, dataDir });
    await using c2 = await RawKafkaClient.connect(second.kafkaPort);
    const got = await fetchValues(c2, "crash", 0);
    assert.equal(got.errorCode, 0);
    assert.equal(new Set(got.values).size, got.values.length, "no value is served twice");
    for (const v of got.values) assert.ok(sent.has(v), `${v} was never sent`);
    const index = new Map(got.values.map((v, i) => [v, i]));
    let last = -1;
    for (const v of acked) {
      const at = index.get(v);
      assert.ok(at !== undefined, `acknowledged ${v} is missing`);
      assert.ok(at > last, `acknowledged ${v} is out of order`);
      last = at;
    }
    // Once everything is uploaded and GC has run, the store holds exactly the manifest's objects.
    await until("the store to match the manifest", async () => {
      const [files, referenced] = [
        await objectFiles(dataDir),
        await manifestObjects(second.httpPort),
      ];
      return files.length > 0 && JSON.stringify(files) === JSON.stringify(referenced);
    });
    // And the data read through object storage is still exactly the same.
    assert.deepEqual((await fetchValues(c2, "crash", 0)).values, got.values);
  });
}
