/**
 * A catch-up read of 1 GiB that is no longer in the log cache: it comes back from object
 * storage (the Local backend on the real disk) byte for byte, through the manifest, ranged GETs
 * and the block cache.
 */

import { systemRandom } from "../ops/random.ts";
import assert from "node:assert/strict";
import { LocalObjectStore } from "../broker/object_store/local_object_store.ts";
import { LocalObjectManifest } from "../broker/tiering/local_object_manifest.ts";
import { BlockCache } from "../broker/tiering/block_cache.ts";
import { TieredReader } from "../broker/tiering/tiered_reader.ts";
import { Uploader } from "../broker/tiering/uploader.ts";
import { newObjectKey } from "../broker/tiering/tier_maintenance.ts";
import { fileMetadataPersistence } from "../broker/metadata/local_metadata.ts";
import { appendBatches, newLog, testCache } from "../broker/tiering/tiering_test_support.ts";
import { buildBatch } from "../protocol/record/record_batch.ts";
import { crc32c } from "../protocol/crc32c.ts";
import { silentLogger } from "../ops/logger.ts";

const MIB = 1024 * 1024;
const TOTAL_BATCHES = 1024; // 1 MiB of value each: 1 GiB
const PARTITIONS = ["big/0", "big/1", "big/2", "big/3"];

Deno.test("a 1 GiB catch-up read from object storage returns identical bytes", async () => {
  const dir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "rustmq-catchup-" }).catch(() =>
    Deno.makeTempDir()
  );
  try {
    // The objects alone take 1 GiB; say so plainly rather than fail deep inside an upload.
    const free = await _freeBytes(dir);
    assert.ok(
      free === null || free >= 1200 * MIB,
      `this test needs 1.2 GiB free under ${dir}, and the disk has ${
        Math.floor((free ?? 0) / MIB)
      } MiB`,
    );
    const store = new LocalObjectStore({ rootDir: `${dir}/objects` });
    const manifest = await LocalObjectManifest.open(
      fileMetadataPersistence(`${dir}/manifest.json`),
    );
    const cache = testCache(160 * MIB);
    const logs = PARTITIONS.map((key, i) => ({ key, streamId: i + 1, log: newLog() }));
    const uploader = new Uploader({
      cache,
      store,
      manifest,
      partitions: () =>
        logs.map((p) => ({ key: p.key, streamId: p.streamId, highWatermark: p.log.highWatermark })),
      checkpoint: () => {},
      nowMs: () => 0,
      objectKey: (ms) => newObjectKey("o/", ms, systemRandom),
      uploadIntervalMs: 1_000_000,
      uploadBytesTarget: 32 * MIB,
      rangeBytesMax: 8 * MIB,
      underPressure: () => false,
      inFlight: new Set(),
      logger: silentLogger,
    });
    const value = new Uint8Array(MIB);
    for (let at = 0; at < MIB; at += 65536) crypto.getRandomValues(value.subarray(at, at + 65536));
    const expected = new Map<string, number[]>(PARTITIONS.map((k) => [k, []]));
    let bytesIn = 0;
    for (let i = 0; i < TOTAL_BATCHES; i++) {
      new DataView(value.buffer).setUint32(0, i); // every batch differs
      const batch = await buildBatch([{ value, timestamp: 1_700_000_000_000 + i }]);
      const p = logs[i % logs.length]!;
      await appendBatches(cache, p.key, p.log, [batch]);
      expected.get(p.key)!.push(crc32c(batch));
      bytesIn += batch.length;
      if (cache.usedBytes >= 128 * MIB) { while (cache.usedBytes > 0) await uploader.uploadNow(); }
    }
    while (cache.usedBytes > 0) await uploader.uploadNow();
    assert.equal(cache.usedBytes, 0, "nothing is left in the log cache");
    assert.ok(bytesIn >= 1024 * MIB);

    const reader = new TieredReader(manifest, store, new BlockCache(64 * MIB));
    let bytesOut = 0;
    for (const p of logs) {
      const crcs: number[] = [];
      let offset = 0;
      while (offset < p.log.highWatermark) {
        const r = await reader.read(p.key, offset, 4 * MIB);
        assert.ok(r !== null && r.batches.length > 0, `${p.key} has data at ${offset}`);
        for (const b of r.batches) {
          crcs.push(crc32c(b));
          bytesOut += b.length;
        }
        offset = r.nextOffset;
      }
      assert.deepEqual(crcs, expected.get(p.key), `${p.key} differs`);
    }
    assert.equal(bytesOut, bytesIn);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Free bytes on the file system holding `path`, from `df`, or null where `df` is missing. */
async function _freeBytes(path: string): Promise<number | null> {
  try {
    const out = await new Deno.Command("df", { args: ["-Pk", path], stdout: "piped" }).output();
    const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
    const kib = Number(line.split(/\s+/)[3]);
    return out.success && Number.isFinite(kib) ? kib * 1024 : null;
  } catch {
    return null;
  }
}
