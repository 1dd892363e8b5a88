import assert from "node:assert/strict";
import { ProducePipeline } from "./produce_pipeline.ts";
import { AppendGate } from "./wal_append_stage.ts";
import { ledPartition, stageBatch } from "./stage_fixture.ts";
import { AppendRollbacks } from "../append_rollback.ts";
import { LogCache } from "../log/log_cache.ts";
import { ManualClock } from "../../ops/clock.ts";
import { silentLogger } from "../../ops/logger.ts";
import { readBatchHeader } from "../../protocol/record/record_batch.ts";
import type { WalStats } from "../wal/wal.ts";
import type { ProduceTransform } from "./transform_stage.ts";
import { KafkaProtocolError } from "../broker_errors.ts";

/** A pipeline over a WAL that holds every append until the test releases it. */
function pipelineOn(transform?: ProduceTransform) {
  const clock = new ManualClock();
  const cache = new LogCache({ capacityBytes: 1 << 20, waitTimeoutMs: 10, clock });
  const appends: { baseOffset: bigint; release: () => void }[] = [];
  const wal = {
    get stats() {
      return { usedBytes: 0 } as WalStats;
    },
    whenSpaceFreed: () => Promise.resolve(),
    append: (_s: number, baseOffset: bigint) =>
      new Promise<never>((resolve) =>
        appends.push({ baseOffset, release: () => resolve(undefined as never) })
      ),
  };
  const gate = new AppendGate({
    wal,
    highWaterBytes: 100,
    nowMs: () => clock.nowMs(),
    logger: silentLogger,
  });
  const rollbacks = new AppendRollbacks(cache, silentLogger, (e) => gate.fail(e));
  const woken: string[] = [];
  const pipeline = new ProducePipeline({
    nodeId: 1,
    wal,
    cache,
    waiter: { notify: (k) => void woken.push(k) },
    gate,
    rollbacks,
    ...(transform === undefined ? {} : { transform }),
    stillHosted: () => true,
  });
  return { pipeline, cache, appends, woken };
}

/** Lets the pipeline run up to its next wait. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

Deno.test("ProducePipeline assigns, caches and submits pipelined batches in order, answering after the WAL", async () => {
  const { p } = ledPartition();
  const { pipeline, cache, appends, woken } = pipelineOn();
  const first = pipeline.produce(p, await stageBatch(2, { producerId: 3 }), 1, false);
  const second = pipeline.produce(
    p,
    await stageBatch(1, { producerId: 3, baseSequence: 2 }),
    1,
    false,
  );
  await settle();
  assert.deepEqual(appends.map((a) => a.baseOffset), [0n, 2n]);
  assert.deepEqual([...cache.batches(p.key)].map((b) => readBatchHeader(b).baseOffset), [0, 2]);
  assert.deepEqual(woken, []);
  appends[0]!.release();
  appends[1]!.release();
  assert.equal((await first).baseOffset, 0);
  assert.deepEqual({ ...(await second), logAppendTimeMs: 0 }, {
    baseOffset: 2,
    lastOffset: 2,
    logAppendTimeMs: 0,
    logStartOffset: 0,
    duplicate: false,
  });
  assert.deepEqual(woken, ["t/0", "t/0"]);
  assert.equal(p.log.highWatermark, 3);
  p.leader!.close();
});

Deno.test("ProducePipeline answers a retry from the original append without writing it again", async () => {
  const { p } = ledPartition();
  const { pipeline, cache, appends } = pipelineOn();
  const batch = await stageBatch(2, { producerId: 3 });
  const original = pipeline.produce(p, batch.slice(), 1, false);
  await settle();
  const retry = pipeline.produce(p, batch.slice(), 1, false);
  await settle();
  assert.equal(appends.length, 1);
  assert.equal(cache.reservedBytes, 0);
  appends[0]!.release();
  await original;
  const r = await retry;
  assert.equal(r.duplicate, true);
  assert.equal(r.baseOffset, 0);
  p.leader!.close();
});

Deno.test("ProducePipeline stores nothing for a batch the transform dropped, and refuses a gap", async () => {
  const { p } = ledPartition();
  const { pipeline, cache, appends } = pipelineOn(() =>
    Promise.resolve({ batch: null, recordsIn: 2 })
  );
  const r = await pipeline.produce(p, await stageBatch(2, { producerId: 3 }), 1, false);
  assert.equal(r.duplicate, false);
  assert.equal(appends.length, 0);
  assert.equal(p.log.logEndOffset, 0);
  const gap = pipelineOn();
  await assert.rejects(
    gap.pipeline.produce(p, await stageBatch(1, { producerId: 3, baseSequence: 9 }), 1, false),
    (e) => e instanceof KafkaProtocolError && e.code === "OUT_OF_ORDER_SEQUENCE_NUMBER",
  );
  assert.equal(gap.cache.reservedBytes, 0);
  assert.equal(cache.reservedBytes, 0);
  p.leader!.close();
});
