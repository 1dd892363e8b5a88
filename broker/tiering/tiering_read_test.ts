import { systemRandom } from "../../ops/random.ts";
import assert from "node:assert/strict";
import { LocalObjectManifest } from "./local_object_manifest.ts";
import { BlockCache } from "./block_cache.ts";
import { TieredReader } from "./tiered_reader.ts";
import { Uploader } from "./uploader.ts";
import { createdMsOf, newObjectKey, TierMaintenance } from "./tier_maintenance.ts";
import {
  appendBatches,
  CountingStore,
  makeBatch,
  newLog,
  testCache,
} from "./tiering_test_support.ts";
import {
  CorruptObjectError,
  ObjectFormatError,
  packObject,
  readObjectIndex,
} from "./stream_object.ts";
import { silentLogger } from "../../ops/logger.ts";
import { crc32c } from "../../protocol/crc32c.ts";
import type { MetadataPersistence } from "../metadata/local_metadata.ts";

function memoryPersistence(): MetadataPersistence {
  let text: string | null = null;
  return { load: () => Promise.resolve(text), save: (t) => Promise.resolve(void (text = t)) };
}

/** Three partitions with `batches` batches each, uploaded in small objects, cache emptied. */
async function uploaded(batches: number, opts: { timestamps?: (i: number) => number } = {}) {
  const cache = testCache();
  const store = new CountingStore();
  const manifest = await LocalObjectManifest.open(memoryPersistence());
  const logs = ["a/0", "b/0", "c/0"].map((key, i) => ({ key, streamId: i + 1, log: newLog() }));
  const sent = new Map<string, Uint8Array[]>();
  let now = 1_700_000_100_000;
  const uploader = new Uploader({
    cache,
    store,
    manifest,
    partitions: () =>
      logs.map((p) => ({ key: p.key, streamId: p.streamId, highWatermark: p.log.highWatermark })),
    checkpoint: () => {},
    nowMs: () => now,
    objectKey: (ms) => newObjectKey("o/", ms, systemRandom),
    uploadIntervalMs: 1,
    uploadBytesTarget: 8 * 1024,
    rangeBytesMax: 4 * 1024,
    underPressure: () => false,
    inFlight: new Set(),
    logger: silentLogger,
  });
  for (let i = 0; i < batches; i++) {
    for (const p of logs) {
      const b = await makeBatch(5, 100, opts.timestamps?.(i) ?? 1_700_000_000_000 + i);
      sent.set(p.key, [...(sent.get(p.key) ?? []), b]);
      await appendBatches(cache, p.key, p.log, [b]);
    }
    if (i % 3 === 2) await uploader.uploadNow();
  }
  while (cache.usedBytes > 0) await uploader.uploadNow();
  const blockCache = new BlockCache(1024 * 1024);
  const reader = new TieredReader(manifest, store, blockCache);
  const maintenance = new TierMaintenance({
    store,
    manifest,
    blockCache,
    nowMs: () => now,
    objectKey: (ms) => newObjectKey("o/", ms, systemRandom),
    prefix: "o/",
    compactBelowBytes: 1024 * 1024,
    gcGraceMs: 60_000,
    inFlight: new Set(),
    logger: silentLogger,
  });
  return {
    store,
    manifest,
    reader,
    maintenance,
    sent,
    blockCache,
    setNow: (ms: number) => (now = ms),
  };
}

async function readAll(reader: TieredReader, key: string, from = 0): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  let offset = from;
  for (;;) {
    const r = await reader.read(key, offset, 1000);
    if (r === null || r.batches.length === 0) return out;
    out.push(...r.batches);
    offset = r.nextOffset;
  }
}

const crcs = (bs: Uint8Array[]) => bs.map((b) => crc32c(b));

Deno.test("TieredReader returns every uploaded batch byte for byte, from any offset", async () => {
  const t = await uploaded(12);
  assert.ok(t.manifest.objects().length > 3, "the data spans several objects");
  for (const [key, batches] of t.sent) {
    assert.deepEqual(crcs(await readAll(t.reader, key)), crcs(batches));
  }
  // Offset 7 is inside the second batch (5 records per batch): reading starts at that batch.
  const mid = await t.reader.read("b/0", 7, 1);
  assert.equal(crc32c(mid!.batches[0]!), crc32c(t.sent.get("b/0")![1]!));
  assert.equal(await t.reader.read("b/0", 60, 1), null, "past the stored end");
});

Deno.test("TieredReader prefetches the next range and serves repeats from the block cache", async () => {
  const t = await uploaded(12);
  await readAll(t.reader, "a/0");
  const getsAfterFirstPass = t.store.gets;
  await readAll(t.reader, "a/0");
  assert.equal(t.store.gets, getsAfterFirstPass, "a second pass is served from the block cache");
  assert.ok(t.blockCache.stats.hits > 0);
});

Deno.test("TierMaintenance compacts small objects into per-partition objects without changing reads", async () => {
  const t = await uploaded(12);
  const before = t.manifest.objects().length;
  const compacted = await t.maintenance.compact();
  assert.equal(compacted, before);
  const after = t.manifest.objects();
  assert.equal(after.length, 3, "one object per partition");
  for (const o of after) assert.equal(new Set(o.ranges.map((r) => r.key)).size, 1);
  for (const [key, batches] of t.sent) {
    assert.deepEqual(crcs(await readAll(t.reader, key)), crcs(batches));
  }
  const keys: string[] = [];
  for await (const o of t.store.list("o/")) keys.push(o.key);
  assert.deepEqual(
    keys.sort(),
    after.map((o) => o.objectKey).sort(),
    "the old objects were deleted",
  );
});

Deno.test("TierMaintenance retention by time and by bytes advances the log start and deletes objects", async () => {
  const t = await uploaded(12, { timestamps: (i) => 1_700_000_000_000 + i * 1000 });
  t.setNow(1_700_000_000_000 + 20_000);
  // Keep 12.5 s: batches 0-6 (timestamps 0-6 s) are older.
  const newStart = await t.maintenance.applyRetention("a/0", {
    retentionMs: 12_500,
    retentionBytes: -1,
  });
  assert.ok(newStart !== null && newStart > 0);
  assert.equal(t.manifest.partition("a/0")?.logStartOffset, newStart);
  const kept = await readAll(t.reader, "a/0", newStart);
  assert.ok(kept.length < 12 && kept.length >= 5, `kept ${kept.length} batches`);

  const total = t.manifest.ranges("b/0").reduce((n, r) => n + r.range.length, 0);
  const bStart = await t.maintenance.applyRetention("b/0", {
    retentionMs: -1,
    retentionBytes: Math.floor(total / 2),
  });
  const left = t.manifest.ranges("b/0").reduce((n, r) => n + r.range.length, 0);
  assert.ok(bStart !== null && left <= total / 2, `${left} bytes left of ${total}`);
});

Deno.test("TierMaintenance garbage collection deletes only old unreferenced objects", async () => {
  const t = await uploaded(3);
  const now = 1_700_000_500_000;
  t.setNow(now);
  await t.store.put(newObjectKey("o/", now - 120_000, systemRandom), new Uint8Array(10)); // an old orphan
  await t.store.put(newObjectKey("o/", now - 1_000, systemRandom), new Uint8Array(10)); // an upload in flight
  assert.equal(await t.maintenance.collectGarbage(), 1);
  const keys: string[] = [];
  for await (const o of t.store.list("o/")) keys.push(o.key);
  assert.equal(keys.length, t.manifest.objects().length + 1);
  assert.ok(keys.some((k) => createdMsOf(k) === now - 1_000));
});

Deno.test("readObjectIndex rejects a damaged footer or index", () => {
  const obj = packObject([{
    key: "x/1",
    batches: [new Uint8Array([9, 9])],
    baseOffset: 0,
    lastOffset: 0,
    maxTimestamp: 1,
  }]);
  const bad = obj.bytes.slice();
  bad[bad.length - 30]! ^= 1;
  assert.throws(() => readObjectIndex(bad), ObjectFormatError);
  assert.throws(() => readObjectIndex(obj.bytes.subarray(0, 10)), ObjectFormatError);
});

Deno.test("TieredReader refuses a stored range whose bytes fail the CRC, naming the object", async () => {
  const t = await uploaded(6);
  const located = t.manifest.ranges("b/0")[0]!;
  const whole = await t.store.get(located.objectKey);
  // One byte inside the first batch's records, past its 61-byte header: only the CRC sees it.
  const damaged = whole.slice();
  damaged[located.range.position + 70]! ^= 0x01;
  await t.store.put(located.objectKey, damaged);

  const reader = new TieredReader(t.manifest, t.store, new BlockCache(1024 * 1024));
  await assert.rejects(reader.read("b/0", located.range.baseOffset, 1 << 20), (e) => {
    assert.ok(e instanceof CorruptObjectError);
    assert.equal(e.objectKey, located.objectKey);
    assert.match(e.message, new RegExp(`object ${located.objectKey} .*CRC`));
    assert.equal(e.code, "KAFKA_STORAGE_ERROR");
    return true;
  });
  // Nothing of the bad range was cached, so a second read fails the same way.
  await assert.rejects(reader.read("b/0", located.range.baseOffset, 1 << 20), CorruptObjectError);
  // Other partitions' ranges in the same object still read, byte for byte.
  const a = await reader.read("a/0", 0, 1 << 20);
  assert.deepEqual(a!.batches[0], t.sent.get("a/0")![0]);
});
