import { ManualClock, systemClock } from "../ops/clock.ts";
import { FakeWalBackend } from "./wal/wal_fake_backend.ts";
import assert from "node:assert/strict";
import { PartitionManager } from "./partition_manager.ts";
import { Wal } from "./wal/wal.ts";
import { LogCache } from "./log/log_cache.ts";
import { FetchWaiter } from "./fetch/fetch_waiter.ts";
import { StreamRegistry } from "./stream_registry.ts";
import { LocalMetadata, type MetadataPersistence } from "./metadata/local_metadata.ts";
import { LocalObjectManifest } from "./tiering/local_object_manifest.ts";
import { TieredReader } from "./tiering/tiered_reader.ts";
import { BlockCache } from "./tiering/block_cache.ts";
import { MemoryObjectStore } from "./object_store/memory_object_store.ts";
import { buildBatch } from "../protocol/record/record_batch.ts";
import type { RecoveredEntry } from "./wal/wal_recovery.ts";
import { silentLogger } from "../ops/logger.ts";

function memory(): MetadataPersistence {
  let text: string | null = null;
  return { load: () => Promise.resolve(text), save: (t) => Promise.resolve(void (text = t)) };
}

async function batchAt(baseOffset: number, records: number, producerId = -1, baseSequence = -1) {
  return await buildBatch(
    Array.from({ length: records }, (_, i) => ({ value: new Uint8Array([i]), timestamp: 1 })),
    { baseOffset, producerId, producerEpoch: producerId < 0 ? -1 : 0, baseSequence },
  );
}

Deno.test("PartitionManager.recover skips stored batches with gaps and replays the rest; replicas skip stored offsets", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { wal } = await Wal.open({
      path: dir,
      backend: "portable",
      segmentSizeBytes: 1 << 20,
      capacityBytes: 4 << 20,
    });
    const metadata = await LocalMetadata.open(
      { nodeId: 1, host: "h", port: 1, rack: null },
      memory(),
    );
    await metadata.createTopic("t", 1, 1);
    const streams = await StreamRegistry.open(memory());
    const streamId = await streams.ensure("t/0");
    const manifest = await LocalObjectManifest.open(memory());
    // Object storage holds offsets 0-9.
    await manifest.commitUpload({
      objectKey: "o1",
      sizeBytes: 1,
      createdMs: 0,
      ranges: [{
        key: "t/0",
        baseOffset: 0,
        lastOffset: 9,
        position: 0,
        length: 1,
        maxTimestamp: 0,
      }],
    });
    const cache = new LogCache({
      capacityBytes: 1 << 20,
      waitTimeoutMs: 10,
      clock: systemClock,
    });
    const pm = new PartitionManager({
      wal,
      cache,
      streams,
      metadata,
      waiter: new FetchWaiter(),
      logger: silentLogger,
      nowMs: () => 0,
      walHighWaterBytes: 3 << 20,
      replication: {
        nodeId: 1,
        maxLagMessages: 1000,
        maxLagTimeMs: 10_000,
        ackTimeoutMs: 1000,
        clock: {
          nowMs: () => 0,
          setTimer: () => 0,
          clearTimer: () => {},
        },
      },
      tiering: {
        manifest,
        reader: new TieredReader(manifest, new MemoryObjectStore(), new BlockCache(1024)),
        removePartition: () => Promise.resolve(),
      },
    });
    // The WAL kept 0-1 and 6-7 (a segment in between was reclaimed), then 10-12 not yet stored.
    const entry = (b: Uint8Array): RecoveredEntry => ({
      streamId,
      baseOffset: 0n,
      payload: b,
      seq: 1,
      durableSeq: 0,
      segmentId: 1,
      position: 0,
    });
    await pm.recover([
      entry(await batchAt(0, 2, 7, 0)),
      entry(await batchAt(6, 2, 7, 6)),
      entry(await batchAt(10, 3, 7, 10)),
    ]);
    const p = pm.get("t", 0)!;
    assert.equal(p.log.logStartOffset, 0);
    assert.equal(p.log.logEndOffset, 13);
    assert.equal(p.log.highWatermark, 13);
    assert.equal(cache.firstOffset("t/0"), 10, "only the unstored batch is cached");
    // The producer's last batch is remembered, so its retry is a duplicate.
    const retry = await batchAt(0, 3, 7, 10);
    const r = await pm.produce("t", 0, retry);
    assert.equal(r.duplicate, true);
    assert.equal(r.baseOffset, 10);

    // A replica behind the stored end is told to skip to it, not sent the stored batches
    // (it reads object storage itself); from the stored end on it is served from the cache.
    const fetch = (fetchOffset: number) =>
      pm.readForReplica("t", 0, 1, {
        fetchOffset,
        currentLeaderEpoch: p.leaderEpoch,
        lastFetchedEpoch: -1,
      }, 1 << 20);
    const behind = await fetch(3);
    assert.equal(behind.kind, "skip");
    assert.equal(behind.kind === "skip" && behind.endOffset, 10);
    const current = await fetch(10);
    assert.equal(current.kind, "read");
    assert.equal(current.kind === "read" && current.batches.length, 1);
    await wal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("PartitionManager produce above the WAL high-water mark waits for reclaimed space, or fails after walFullWaitMs", async () => {
  const clock = new ManualClock();
  const segment = 64 * 1024;
  const { wal } = await Wal.open({
    path: "/wal",
    backend: new FakeWalBackend(),
    segmentSizeBytes: segment,
    capacityBytes: 8 * segment,
    spareSegment: false,
    clock,
  });
  const metadata = await LocalMetadata.open(
    { nodeId: 1, host: "h", port: 1, rack: null },
    memory(),
  );
  await metadata.createTopic("t", 1, 1);
  const streams = await StreamRegistry.open(memory());
  const pm = new PartitionManager({
    wal,
    cache: new LogCache({ capacityBytes: 8 << 20, waitTimeoutMs: 10, clock }),
    streams,
    metadata,
    waiter: new FetchWaiter(),
    logger: silentLogger,
    nowMs: () => clock.nowMs(),
    walHighWaterBytes: segment,
    walFullWaitMs: 1000,
    replication: {
      nodeId: 1,
      maxLagMessages: 1000,
      maxLagTimeMs: 10_000,
      ackTimeoutMs: 1000,
      clock,
    },
  });
  await pm.recover([]);
  const big = (base: number) =>
    buildBatch([{ value: new Uint8Array(segment - 8192).fill(base), timestamp: 1 }], {
      baseOffset: base,
    });
  await pm.produce("t", 0, await big(0), 1);
  await pm.produce("t", 0, await big(1), 1);
  assert.ok(wal.stats.usedBytes > segment, "the WAL is above its high-water mark");

  // Nothing frees space: the produce fails once walFullWaitMs of (virtual) time has passed.
  const refused = pm.produce("t", 0, await big(2), 1);
  refused.catch(() => {});
  await new Promise((r) => setTimeout(r, 0));
  clock.advance(1000);
  await assert.rejects(refused, /WAL is nearly full/);

  // Space freed by a checkpoint wakes a waiting produce, with no time passing.
  const timers = clock.pendingTimers;
  const waiting = pm.produce("t", 0, await big(2), 1);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(clock.pendingTimers, timers + 1, "the wait's deadline is on the injected clock");
  wal.checkpoint(await streams.ensure("t/0"), 2n);
  const r = await waiting;
  assert.equal(r.baseOffset, 2);
  assert.equal(clock.pendingTimers, timers, "woken by the reclaim, its deadline cancelled");
  await wal.close();
});
