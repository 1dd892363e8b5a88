import { systemRandom } from "../../ops/random.ts";
import assert from "node:assert/strict";
import { Uploader, type UploaderOptions } from "./uploader.ts";
import { LocalObjectManifest } from "./local_object_manifest.ts";
import {
  appendBatches,
  CountingStore,
  makeBatch,
  newLog,
  testCache,
} from "./tiering_test_support.ts";
import type { PartitionLog } from "../log/partition_log.ts";
import type { MetadataPersistence } from "../metadata/local_metadata.ts";
import { silentLogger } from "../../ops/logger.ts";
import { newObjectKey } from "./tier_maintenance.ts";
import { readObjectIndex } from "./stream_object.ts";

function memoryPersistence(): MetadataPersistence {
  let text: string | null = null;
  return { load: () => Promise.resolve(text), save: (t) => Promise.resolve(void (text = t)) };
}

async function setup(partitions: number, overrides: Partial<UploaderOptions> = {}) {
  const cache = testCache();
  const store = new CountingStore();
  const manifest = await LocalObjectManifest.open(memoryPersistence());
  const logs = new Map<string, { log: PartitionLog; streamId: number }>();
  for (let i = 0; i < partitions; i++) logs.set(`t/${i}`, { log: newLog(), streamId: i + 1 });
  const checkpoints: [number, number][] = [];
  let now = 0;
  const uploader = new Uploader({
    cache,
    store,
    manifest,
    partitions: () =>
      [...logs].map(([key, p]) => ({
        key,
        streamId: p.streamId,
        highWatermark: p.log.highWatermark,
      })),
    checkpoint: (s, o) => checkpoints.push([s, o]),
    nowMs: () => now,
    objectKey: (ms) => newObjectKey("p/", ms, systemRandom),
    uploadIntervalMs: 1000,
    uploadBytesTarget: 1024 * 1024,
    rangeBytesMax: 256 * 1024,
    underPressure: () => false,
    inFlight: new Set(),
    logger: silentLogger,
    ...overrides,
  });
  return {
    cache,
    store,
    manifest,
    logs,
    checkpoints,
    uploader,
    advance: (ms: number) => (now += ms),
  };
}

Deno.test("Uploader writes 1,000 partitions in at most ceil(bytes / upload_bytes_target) + 1 PUTs", async () => {
  const s = await setup(1000);
  let total = 0;
  for (const [key, p] of s.logs) {
    const batches = [await makeBatch(4, 200), await makeBatch(4, 200)];
    total += batches.reduce((n, b) => n + b.length, 0);
    await appendBatches(s.cache, key, p.log, batches);
  }
  assert.equal(s.uploader.due(), true, "over the size target, an upload is due at once");
  while (s.cache.usedBytes > 0) assert.notEqual(await s.uploader.uploadNow(), null);
  const bound = Math.ceil(total / (1024 * 1024)) + 1;
  assert.ok(
    s.store.puts <= bound,
    `${s.store.puts} PUTs for ${total} bytes over 1000 partitions; bound ${bound}`,
  );
  for (const [key] of s.logs) assert.equal(s.manifest.partition(key)?.uploadedEndOffset, 8);
  assert.equal(s.checkpoints.length >= 1000, true);
});

Deno.test("Uploader uploads on the interval, and never past the high watermark", async () => {
  const s = await setup(1);
  const p = s.logs.get("t/0")!;
  await appendBatches(s.cache, "t/0", p.log, [await makeBatch(2, 10)]);
  // A batch appended but not yet durable: above the high watermark.
  const pending = await makeBatch(3, 10);
  p.log.assign(pending);
  await s.cache.append("t/0", pending);
  assert.equal(s.uploader.due(), false, "small and young: not due");
  s.advance(1000);
  assert.equal(s.uploader.due(), true);
  const r = await s.uploader.tick();
  assert.ok(r !== null);
  assert.equal(s.manifest.partition("t/0")?.uploadedEndOffset, 2);
  assert.deepEqual(s.checkpoints, [[1, 2]]);
  assert.equal(s.cache.firstOffset("t/0"), 2, "only the uploaded batch left the cache");
  const obj = await s.store.get(r.objectKey);
  assert.deepEqual(readObjectIndex(obj).map((x) => [x.key, x.baseOffset, x.lastOffset]), [[
    "t/0",
    0,
    1,
  ]]);
});

Deno.test("Uploader keeps everything when the PUT fails, and retries on the next tick", async () => {
  const s = await setup(1);
  const p = s.logs.get("t/0")!;
  await appendBatches(s.cache, "t/0", p.log, [await makeBatch(2, 10)]);
  const realPut = s.store.put.bind(s.store);
  s.store.put = () => Promise.reject(Object.assign(new Error("503"), { retriable: true }));
  s.advance(5000);
  assert.equal(await s.uploader.tick(), null);
  assert.equal(s.uploader.stats.failures, 1);
  assert.equal(s.manifest.partition("t/0"), undefined);
  assert.deepEqual(s.checkpoints, []);
  assert.equal(s.cache.firstOffset("t/0"), 0);
  s.store.put = realPut;
  assert.notEqual(await s.uploader.tick(), null);
  assert.equal(s.manifest.partition("t/0")?.uploadedEndOffset, 2);
});

Deno.test("Uploader.tick uploads full objects back to back while more is due, then stops", async () => {
  const s = await setup(1, { uploadBytesTarget: 64 * 1024, rangeBytesMax: 64 * 1024 });
  const p = s.logs.get("t/0")!;
  // Several objects' worth at once: each object takes at least the target's worth.
  const batches = [];
  for (let i = 0; i < 18; i++) batches.push(await makeBatch(4, 4000));
  await appendBatches(s.cache, "t/0", p.log, batches);
  const last = await s.uploader.tick();
  assert.ok(last !== null);
  // One object per tick would have left over 3 targets' worth in the cache.
  assert.ok(s.store.puts >= 2, `one tick, several full objects: ${s.store.puts} PUTs`);
  assert.ok(s.cache.usedBytes > 0 && s.cache.usedBytes < 64 * 1024, `${s.cache.usedBytes}`);
  assert.equal(s.uploader.due(), false, "a partial object waits for the interval");
  const fullPuts = s.store.puts;
  assert.equal(await s.uploader.tick(), null);
  s.advance(1000);
  assert.notEqual(await s.uploader.tick(), null);
  assert.equal(s.store.puts, fullPuts + 1, "the partial object went alone");
  assert.equal(s.manifest.partition("t/0")?.uploadedEndOffset, 18 * 4);
});

Deno.test("Uploader.stop lets the running upload finish and starts no further one", async () => {
  const s = await setup(1, { uploadBytesTarget: 64 * 1024, rangeBytesMax: 64 * 1024 });
  const p = s.logs.get("t/0")!;
  const batches = [];
  for (let i = 0; i < 18; i++) batches.push(await makeBatch(4, 4000));
  await appendBatches(s.cache, "t/0", p.log, batches);
  const ticking = s.uploader.tick();
  await s.uploader.stop();
  assert.notEqual(await ticking, null);
  assert.equal(s.store.puts, 1);
  assert.equal(await s.uploader.tick(), null, "no ticks after stop");
  assert.equal(s.store.puts, 1);
});
