import assert from "node:assert/strict";
import { FaultyObjectStore } from "./faulty_object_store.ts";
import { MemoryObjectStore } from "./memory_object_store.ts";
import { systemClock } from "../../ops/clock.ts";
import { SeededRandom } from "../../ops/random.ts";
import { ObjectStoreUnavailableError } from "./object_store.ts";

Deno.test("FaultyObjectStore injects the configured share of failures from its seed", async () => {
  const run = async (seed: number) => {
    const store = new FaultyObjectStore(new MemoryObjectStore(), {
      random: new SeededRandom(seed),
      clock: systemClock,
      failureRate: 0.3,
    });
    const outcomes: boolean[] = [];
    for (let i = 0; i < 1000; i += 1) {
      outcomes.push(await store.head("k").then(() => true, () => false));
    }
    return { outcomes, counts: store.counts };
  };
  const first = await run(11);
  const again = await run(11);
  assert.deepEqual(first.outcomes, again.outcomes, "same seed, same faults");
  assert.ok(first.counts.failed > 250 && first.counts.failed < 350, String(first.counts.failed));
  assert.equal(first.counts.failed + first.counts.passed, 1000);
});

Deno.test("FaultyObjectStore loses answers after the store did the work", async () => {
  const inner = new MemoryObjectStore();
  const store = new FaultyObjectStore(inner, {
    random: new SeededRandom(1),
    clock: systemClock,
    lostAnswerRate: 1,
  });
  await assert.rejects(store.put("k", new Uint8Array([5])), ObjectStoreUnavailableError);
  assert.deepEqual(await inner.get("k"), new Uint8Array([5]));
});

Deno.test("FaultyObjectStore stalls until the caller aborts", async () => {
  const store = new FaultyObjectStore(new MemoryObjectStore(), {
    random: new SeededRandom(1),
    clock: systemClock,
    stallRate: 1,
    stallMs: 60_000,
  });
  const controller = new AbortController();
  const pending = store.head("k", { signal: controller.signal });
  controller.abort(new Error("timed out"));
  await assert.rejects(pending, /timed out/);
  assert.equal(store.counts.stalled, 1);
});

Deno.test("FaultyObjectStore rejects rates outside [0, 1] or above 1 in total", () => {
  const base = { random: new SeededRandom(1), clock: systemClock };
  const inner = new MemoryObjectStore();
  assert.throws(() => new FaultyObjectStore(inner, { ...base, failureRate: 1.5 }), RangeError);
  assert.throws(
    () => new FaultyObjectStore(inner, { ...base, failureRate: 0.6, stallRate: 0.6 }),
    RangeError,
  );
});
