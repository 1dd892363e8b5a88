import { systemRandom } from "../../ops/random.ts";
import assert from "node:assert/strict";
import { LocalObjectManifest } from "./local_object_manifest.ts";
import { BlockCache } from "./block_cache.ts";
import { TieredReader } from "./tiered_reader.ts";
import { Uploader } from "./uploader.ts";
import { newObjectKey, TierMaintenance } from "./tier_maintenance.ts";
import { appendBatches, CountingStore, newLog, testCache } from "./tiering_test_support.ts";
import { silentLogger } from "../../ops/logger.ts";
import { buildBatch, decodeRecords, readBatchHeader } from "../../protocol/record/record_batch.ts";
import { crc32c } from "../../protocol/crc32c.ts";
import type { MetadataPersistence } from "../metadata/local_metadata.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const NOW = 1_700_000_100_000;

function memoryPersistence(): MetadataPersistence {
  let text: string | null = null;
  return { load: () => Promise.resolve(text), save: (t) => Promise.resolve(void (text = t)) };
}

interface Sent {
  offset: number;
  key: string | null;
  value: string | null;
  timestamp: number;
}

/**
 * "k/0" gets keyed updates (k3 ends with a tombstone long ago, k4 with one just now, and a
 * keyless record comes now and then); "x/0" shares the uploaded objects.
 */
async function setup(opts: { uploadEvery?: number; uploadBytesTarget?: number } = {}) {
  const uploadEvery = opts.uploadEvery ?? 4;
  const cache = testCache();
  const store = new CountingStore();
  const manifest = await LocalObjectManifest.open(memoryPersistence());
  const logs = ["k/0", "x/0"].map((key, i) => ({ key, streamId: i + 1, log: newLog() }));
  const uploader = new Uploader({
    cache,
    store,
    manifest,
    partitions: () =>
      logs.map((p) => ({ key: p.key, streamId: p.streamId, highWatermark: p.log.highWatermark })),
    checkpoint: () => {},
    nowMs: () => NOW,
    objectKey: (ms) => newObjectKey("o/", ms, systemRandom),
    uploadIntervalMs: 1,
    uploadBytesTarget: opts.uploadBytesTarget ?? 2 * 1024,
    rangeBytesMax: 1024,
    underPressure: () => false,
    inFlight: new Set(),
    logger: silentLogger,
  });
  const sent: Sent[] = [];
  const other: Uint8Array[] = [];
  let lastBatch: Uint8Array = new Uint8Array(0);
  let offset = 0;
  for (let i = 0; i < 40; i++) {
    const records = [0, 1, 2].map((j) => {
      const n = i * 3 + j;
      let key = n % 17 === 5 ? null : `k${n % 5}`;
      if (key === "k3" && n > 88) key = "k5"; // k3's last record is its tombstone
      if (n === 118) key = "k4"; // superseded within the last batch, which is kept whole
      let value: string | null = `v${n}`;
      let timestamp = NOW - 60_000 + n;
      if (n === 88) [value, timestamp] = [null, NOW - 10_000]; // k3: an old tombstone
      if (n === 119) [value, timestamp] = [null, NOW]; // k4: a fresh tombstone
      sent.push({ offset: offset++, key, value, timestamp });
      return {
        key: key === null ? null : enc.encode(key),
        value: value === null ? null : enc.encode(value),
        timestamp,
      };
    });
    lastBatch = await buildBatch(records);
    await appendBatches(cache, "k/0", logs[0]!.log, [lastBatch]);
    const b = await buildBatch([{ value: enc.encode(`x${i}`), timestamp: NOW }]);
    other.push(b);
    await appendBatches(cache, "x/0", logs[1]!.log, [b]);
    if (uploadEvery > 0 && i % uploadEvery === uploadEvery - 1) await uploader.uploadNow();
  }
  while (cache.usedBytes > 0) await uploader.uploadNow();
  const blockCache = new BlockCache(1024 * 1024);
  const maintenance = new TierMaintenance({
    store,
    manifest,
    blockCache,
    nowMs: () => NOW,
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
    maintenance,
    reader: new TieredReader(manifest, store, blockCache),
    sent,
    other,
    lastBatch,
  };
}

async function readRecords(reader: TieredReader, key: string, from = 0) {
  const out: Sent[] = [];
  const batches: Uint8Array[] = [];
  let offset = from;
  for (;;) {
    const r = await reader.read(key, offset, 1024 * 1024);
    if (r === null) break;
    assert.ok(r.batches.length > 0, `a read at ${offset} returns a batch`);
    for (const b of r.batches) {
      batches.push(b);
      for (const rec of (await decodeRecords(b)).records) {
        if (rec.offset < from) continue;
        out.push({
          offset: rec.offset,
          key: rec.key === null ? null : dec.decode(rec.key),
          value: rec.value === null ? null : dec.decode(rec.value),
          timestamp: rec.timestamp,
        });
      }
    }
    offset = r.nextOffset;
  }
  return { records: out, batches };
}

Deno.test("key compaction keeps each key's last record at its offset and drops old tombstones", async () => {
  const t = await setup();
  const rangesBefore = t.manifest.ranges("k/0").map((
    l,
  ) => [l.range.baseOffset, l.range.lastOffset]);
  const end = t.sent.length - 1;
  // Uploads mix both partitions; the object compactor gives each partition its own objects.
  await t.maintenance.compact();
  const rewritten = await t.maintenance.compactKeys("k/0", { deleteRetentionMs: 5_000 });
  assert.ok(rewritten > 0);

  // What Kafka's cleaner would leave: the last record of every key, the keyless ones, and
  // tombstones younger than delete.retention.ms.
  const last = new Map<string, number>();
  for (const s of t.sent) if (s.key !== null) last.set(s.key, s.offset);
  // ...and the whole last batch (offsets end-2 to end), as Kafka keeps it.
  const expected = t.sent.filter((s) =>
    s.key === null || s.offset >= end - 2 ||
    (last.get(s.key) === s.offset && !(s.value === null && s.timestamp < NOW - 5_000))
  );
  assert.ok(expected.some((s) => s.offset === 118 && last.get("k4") !== 118), "one is superseded");
  const { records, batches } = await readRecords(t.reader, "k/0");
  assert.deepEqual(records, expected);
  assert.ok(records.length < t.sent.length / 3, `${records.length} of ${t.sent.length} left`);
  // Replaying what is left gives every key the same final value as replaying everything.
  const final = (list: Sent[]) => {
    const m = new Map<string, string | null>();
    for (const r of list) if (r.key !== null) m.set(r.key, r.value);
    return m;
  };
  const expectedFinal = final(t.sent);
  expectedFinal.delete("k3"); // its tombstone expired: the key is gone
  assert.deepEqual(final(records), expectedFinal);
  assert.ok(expected.some((s) => s.key === "k4" && s.value === null), "the fresh tombstone stays");
  assert.ok(!expected.some((s) => s.key === "k3"), "k3's old tombstone and its values go");
  assert.ok(records.some((s) => s.key === null), "keyless records stay");

  // Offsets never move and ranges keep their bounds, even emptied ones, so a reader at any
  // offset gets the next surviving batch.
  assert.deepEqual(
    t.manifest.ranges("k/0").map((l) => [l.range.baseOffset, l.range.lastOffset]),
    rangesBefore,
  );
  // The stored log's last batch is kept whole, so a reader always reaches the stored end.
  assert.equal(readBatchHeader(batches.at(-1)!).lastOffset, end);
  assert.equal(crc32c(batches.at(-1)!), crc32c(t.lastBatch));
  const emptied = t.manifest.ranges("k/0").filter((l) => l.range.length === 0).length;
  assert.ok(emptied > 0, "some ranges lost every record and are read past");
  for (let from = 0; from <= end; from += 7) {
    const tail = await readRecords(t.reader, "k/0", from);
    assert.deepEqual(tail.records, expected.filter((s) => s.offset >= from));
  }

  // The partition that shared the uploads is untouched, byte for byte.
  const x = await readRecords(t.reader, "x/0");
  assert.deepEqual(x.batches.map(crc32c), t.other.map(crc32c));
  assert.equal(t.maintenance.stats.recordsCleaned, t.sent.length - records.length);

  // Nothing new since: the next pass has nothing to do.
  assert.equal(await t.maintenance.compactKeys("k/0", { deleteRetentionMs: 5_000 }), 0);
  const keys: string[] = [];
  for await (const o of t.store.list("o/")) keys.push(o.key);
  assert.deepEqual(
    keys.sort(),
    t.manifest.objects().map((o) => o.objectKey).sort(),
    "the replaced objects were deleted",
  );
});

Deno.test("key compaction leaves objects shared with other partitions alone", async () => {
  const t = await setup();
  const before = t.manifest.objects().map((o) => o.objectKey).sort();
  // Every uploaded object holds both partitions: there is nothing k/0 owns alone yet.
  assert.equal(await t.maintenance.compactKeys("k/0", { deleteRetentionMs: 5_000 }), 0);
  assert.deepEqual(t.manifest.objects().map((o) => o.objectKey).sort(), before);
  const { records } = await readRecords(t.reader, "k/0");
  assert.deepEqual(records, t.sent);
  // Skipped ranges are not counted as cleaned: once compaction splits the shared objects, the
  // next pass (at the default dirty ratio) cleans them.
  await t.maintenance.compact();
  assert.ok(await t.maintenance.compactKeys("k/0", { deleteRetentionMs: 5_000 }) > 0);
  assert.ok(t.maintenance.stats.recordsCleaned > 0);
});

Deno.test("a lone shared object is split when it holds a key-compacted partition", async () => {
  // One upload of everything: a quiet broker's single object, shared by both partitions.
  const t = await setup({ uploadEvery: 0, uploadBytesTarget: 1024 * 1024 });
  assert.equal(t.manifest.objects().length, 1);
  assert.equal(await t.maintenance.compact(), 0, "alone and small: nothing to merge");
  assert.equal(await t.maintenance.compactKeys("k/0", { deleteRetentionMs: 5_000 }), 0);
  assert.equal(await t.maintenance.compact(64, new Set(["k/0"])), 1);
  assert.ok(t.manifest.objects().every((o) => new Set(o.ranges.map((r) => r.key)).size === 1));
  assert.ok(await t.maintenance.compactKeys("k/0", { deleteRetentionMs: 5_000 }) > 0);
  const { records } = await readRecords(t.reader, "k/0");
  assert.ok(records.length > 0 && records.length < t.sent.length);
  assert.deepEqual((await readRecords(t.reader, "x/0")).records.length, t.other.length);
});

Deno.test("key compaction keeps every record younger than min.compaction.lag.ms", async () => {
  const t = await setup();
  await t.maintenance.compact();
  // Records are stamped NOW - 60000 + n: the lag protects n > 60, and k3's tombstone (NOW - 10s).
  const lagMs = 59_940;
  const policy = { deleteRetentionMs: 5_000, minCompactionLagMs: lagMs };
  assert.ok(await t.maintenance.compactKeys("k/0", policy) > 0);
  const end = t.sent.length - 1;
  const last = new Map<string, number>();
  for (const s of t.sent) if (s.key !== null) last.set(s.key, s.offset);
  const expected = t.sent.filter((s) =>
    s.key === null || s.offset >= end - 2 || s.timestamp > NOW - lagMs ||
    (last.get(s.key) === s.offset && !(s.value === null && s.timestamp < NOW - 5_000))
  );
  const { records } = await readRecords(t.reader, "k/0");
  assert.deepEqual(records, expected);
  assert.ok(records.some((s) => s.key === "k3" && s.value === null), "the young tombstone stays");
  assert.ok(records.length < t.sent.length, "older superseded records still go");
});

Deno.test("max.compaction.lag.ms compacts below the dirty ratio once data is old enough", async () => {
  const t = await setup();
  await t.maintenance.compact();
  // A ratio above 1 is never reached: without the lag bound nothing would be compacted.
  const policy = { deleteRetentionMs: 5_000, minDirtyRatio: 1.5 };
  assert.equal(await t.maintenance.compactKeys("k/0", policy), 0);
  assert.equal(
    await t.maintenance.compactKeys("k/0", { ...policy, maxCompactionLagMs: 120_000 }),
    0,
  );
  assert.ok(await t.maintenance.compactKeys("k/0", { ...policy, maxCompactionLagMs: 1_000 }) > 0);
});
