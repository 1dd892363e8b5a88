import assert from "node:assert/strict";
import { AppendRollbacks } from "./append_rollback.ts";
import { LogCache } from "./log/log_cache.ts";
import { PartitionLog } from "./log/partition_log.ts";
import { ProducerStateTable } from "./produce/producer_state.ts";
import type { HostedPartition } from "./partition_manager.ts";
import { WalDiskFullError, WalIoError } from "./wal/wal_errors.ts";
import { buildBatch } from "../protocol/record/record_batch.ts";
import { silentLogger } from "../ops/logger.ts";
import { systemClock } from "../ops/clock.ts";

const full = () =>
  new WalDiskFullError("/wal", Object.assign(new Error("full"), { code: "ENOSPC" }));

function setup() {
  const cache = new LogCache({
    capacityBytes: 1 << 20,
    waitTimeoutMs: 0,
    clock: systemClock,
  });
  const p = {
    key: "t/0",
    log: new PartitionLog({ nowMs: () => 0 }),
    producers: new ProducerStateTable(),
  } as unknown as HostedPartition;
  const unsafe: Error[] = [];
  const rb = new AppendRollbacks(cache, silentLogger, (e) => unsafe.push(e));
  /** Assigns offsets to a 2-record batch, as the partition manager does before the WAL write. */
  const append = async () => {
    const batch = await buildBatch([{ value: new Uint8Array([1]), timestamp: 0 }, {
      value: new Uint8Array([2]),
      timestamp: 0,
    }]);
    rb.checkAppendable(p);
    const a = p.log.assign(batch);
    p.producers.record({
      producerId: 7,
      producerEpoch: 0,
      baseSequence: a.baseOffset,
      lastOffsetDelta: 1,
    }, a.baseOffset);
    await cache.append(p.key, batch);
    rb.issued(p);
    return a.baseOffset;
  };
  return { cache, p, rb, unsafe, append };
}

Deno.test("AppendRollbacks cuts to the lowest rejected offset once all in flight settled, in any order", async () => {
  const { p, rb, append, cache } = setup();
  const a = await append(); // 0
  const b = await append(); // 2
  const c = await append(); // 4
  const d = await append(); // 6
  assert.equal(rb.settled(p, a, null), true);
  // A later append is rejected first (the WAL refuses at once while it repairs) ...
  assert.equal(rb.settled(p, d, full()), true);
  assert.equal(p.log.logEndOffset, 8, "no cut while appends are still in flight");
  assert.throws(() => rb.checkAppendable(p), /being undone/);
  assert.equal(rb.settled(p, c, full()), true);
  // ... and the cut goes to the first rejected one when the last settles.
  assert.equal(rb.settled(p, b, full()), true);
  assert.equal(p.log.logEndOffset, b);
  assert.equal([...cache.batches(p.key)].length, 1, "the cache lost the rejected batches too");
  // The producer's retry of a rejected batch is appended again, not answered as a duplicate.
  assert.equal(
    p.producers.check({ producerId: 7, producerEpoch: 0, baseSequence: b, lastOffsetDelta: 1 })
      .kind,
    "append",
  );
  assert.equal(await append(), b, "the next append reuses the offsets: no hole");
});

Deno.test("AppendRollbacks leaves other failures and batches a follower may hold to the caller", async () => {
  const { p, rb, append, unsafe } = setup();
  const a = await append();
  assert.equal(rb.settled(p, a, new WalIoError("write", new Error("EIO"))), false);
  const b = await append();
  rb.served(p, p.log.logEndOffset);
  assert.equal(rb.settled(p, b, full()), true);
  assert.equal(unsafe.length, 1, "a follower may have copied it: cutting would diverge");
  assert.equal(p.log.logEndOffset, b + 2);
});
