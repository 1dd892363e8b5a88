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

/** `count` batches of 4 records of 4,000 bytes (a little over 16 KB each). */
async function batchesOf(count: number): Promise<Uint8Array[]> {
  const batches = [];
  for (let i = 0; i < count; i++) batches.push(await makeBatch(4, 4000));
  return batches;
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
  await appendBatches(s.cache, "t/0", p.log, await batchesOf(18));
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
  await appendBatches(s.cache, "t/0", p.log, await batchesOf(18));
  const ticking = s.uploader.tick();
  await s.uploader.stop();
  assert.notEqual(await ticking, null);
  assert.equal(s.store.puts, 1);
  assert.equal(await s.uploader.tick(), null, "no ticks after stop");
  assert.equal(s.store.puts, 1);
});

/** A store whose puts wait until the test lets each one finish (or fail). */
function gatePuts(store: CountingStore) {
  const waiting: { key: string; finish: (error?: Error) => void }[] = [];
  const realPut = store.put.bind(store);
  store.put = (key, bytes) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ key, finish: (error) => (error ? reject(error) : resolve()) });
    }).then(() => realPut(key, bytes));
  return waiting;
}

/** Lets the microtask and timer queues run until `ready()` or 2 s pass. */
async function until(ready: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ready(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ready(), `timed out waiting for the uploader`);
}

Deno.test("Uploader writes up to maxUploadsInFlight objects at once and commits them in start order", async () => {
  const s = await setup(1, {
    uploadBytesTarget: 64 * 1024,
    rangeBytesMax: 64 * 1024,
    maxUploadsInFlight: 3,
  });
  const p = s.logs.get("t/0")!;
  // About 2.5 MiB: each object takes a little over two 64 KiB ranges, so there are many.
  await appendBatches(s.cache, "t/0", p.log, await batchesOf(160));
  const puts = gatePuts(s.store);
  const ticking = s.uploader.tick();
  await until(() => puts.length === 3);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(puts.length, 3, "three objects are written at once, no more");
  assert.equal(s.uploader.uploadsInFlight, 3);
  // The last started finishes first; it must not commit before the two before it.
  puts[2]!.finish();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(s.manifest.partition("t/0"), undefined, "a later upload waits for the earlier");
  puts[0]!.finish();
  await until(() => s.manifest.partition("t/0") !== undefined);
  assert.equal(s.manifest.objects().length, 1, "only the first has committed");
  puts[1]!.finish();
  await until(() => s.manifest.objects().length === 3);
  // The rest, in whatever order their puts finish.
  let settled = false;
  void ticking.then(() => (settled = true));
  for (let next = 3; !settled; next++) {
    await until(() => puts.length > next || settled);
    if (puts.length > next) puts[next]!.finish();
  }
  assert.ok(s.store.puts > 5, `${s.store.puts} PUTs`);
  // Every range follows the one before it: no gap and no overlap.
  const ranges = s.manifest.ranges("t/0").map((r) => r.range);
  assert.equal(ranges[0]!.baseOffset, 0);
  for (let i = 1; i < ranges.length; i++) {
    assert.equal(ranges[i]!.baseOffset, ranges[i - 1]!.lastOffset + 1);
  }
  assert.ok(s.cache.usedBytes < 64 * 1024, `${s.cache.usedBytes} bytes left behind`);
  assert.equal(s.cache.firstOffset("t/0") ?? 160 * 4, ranges.at(-1)!.lastOffset + 1);
});

Deno.test("Uploader: when an upload fails, those started after it commit nothing, and the next tick closes the gap", async () => {
  const s = await setup(1, {
    uploadBytesTarget: 64 * 1024,
    rangeBytesMax: 64 * 1024,
    maxUploadsInFlight: 3,
  });
  const p = s.logs.get("t/0")!;
  await appendBatches(s.cache, "t/0", p.log, await batchesOf(60));
  const puts = gatePuts(s.store);
  const ticking = s.uploader.tick();
  await until(() => puts.length === 3);
  puts[2]!.finish();
  puts[1]!.finish(new Error("503 from the store"));
  puts[0]!.finish();
  const last = await ticking;
  assert.equal(puts.length, 3, "no upload starts while the failed one's successors settle");
  assert.equal(last?.objectKey, puts[0]!.key, "the tick resolves to the one that committed");
  assert.equal(s.uploader.stats.uploads, 1, "only the first committed");
  assert.equal(s.uploader.stats.failures, 2, "the failed one and the one after it");
  const firstEnd = s.manifest.partition("t/0")!.uploadedEndOffset;
  // One checkpoint per range of the committed object, the last at its end and none beyond.
  assert.deepEqual(s.checkpoints.at(-1), [1, firstEnd]);
  assert.ok(s.checkpoints.every(([, o]) => o <= firstEnd), "checkpoints stop at committed data");
  assert.equal(s.cache.firstOffset("t/0"), firstEnd, "the cache keeps everything not committed");
  assert.equal(await s.store.head(puts[2]!.key), null, "the abandoned object was deleted");
  // Puts succeed again: the next ticks upload from the first upload's end, contiguously.
  s.store.put = CountingStore.prototype.put.bind(s.store);
  for (let i = 0; i < 20 && s.cache.usedBytes > 0; i++) {
    s.advance(1000);
    assert.notEqual(await s.uploader.tick(), null);
  }
  assert.equal(s.cache.usedBytes, 0);
  const ranges = s.manifest.ranges("t/0").map((r) => r.range);
  for (let i = 1; i < ranges.length; i++) {
    assert.equal(ranges[i]!.baseOffset, ranges[i - 1]!.lastOffset + 1);
  }
  assert.equal(s.manifest.partition("t/0")!.uploadedEndOffset, 60 * 4);
});

Deno.test("Uploader starts each upload at the partition after the one the last stopped in", async () => {
  const s = await setup(3, { uploadBytesTarget: 64 * 1024, rangeBytesMax: 64 * 1024 });
  // Each partition has several objects' worth pending.
  for (const key of ["t/0", "t/1", "t/2"]) {
    await appendBatches(s.cache, key, s.logs.get(key)!.log, await batchesOf(12));
  }
  const firsts: string[] = [];
  for (let i = 0; i < 3; i++) {
    const before = new Set(s.manifest.objects().map((o) => o.objectKey));
    assert.notEqual(await s.uploader.uploadNow(), null);
    const added = s.manifest.objects().find((o) => !before.has(o.objectKey))!;
    firsts.push(added.ranges[0]!.key);
  }
  // Starting from t/0 every time would have uploaded t/0 three times while t/2 waited.
  assert.deepEqual(firsts, ["t/0", "t/1", "t/2"]);
});
