import assert from "node:assert/strict";
import { cacheBatch, reserveCache } from "./cache_stage.ts";
import { ledPartition, stageBatch } from "./stage_fixture.ts";
import { LogCache } from "../log/log_cache.ts";
import { ManualClock } from "../../ops/clock.ts";

function cacheOf(capacityBytes = 1 << 20) {
  return new LogCache({ capacityBytes, waitTimeoutMs: 10, clock: new ManualClock() });
}

Deno.test("reserveCache returns the admission's answer and keeps the reservation for cacheBatch", async () => {
  const { p } = ledPartition();
  const cache = cacheOf();
  const batch = await stageBatch(2);
  assert.equal(await reserveCache(cache, batch, () => "admitted"), "admitted");
  assert.equal(cache.reservedBytes, batch.length);
  p.log.assign(batch);
  cacheBatch(cache, p, batch);
  assert.equal(cache.reservedBytes, 0);
  assert.deepEqual([...cache.batches(p.key)], [batch]);
  p.leader!.close();
});

Deno.test("reserveCache gives the reservation back when the admission refuses", async () => {
  const cache = cacheOf();
  const batch = await stageBatch(2);
  await assert.rejects(
    reserveCache(cache, batch, () => {
      throw new Error("WAL failed");
    }),
    /WAL failed/,
  );
  assert.equal(cache.reservedBytes, 0);
});
