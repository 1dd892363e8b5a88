import assert from "node:assert/strict";
import { BlockCache } from "./block_cache.ts";
import { SeededRandom } from "../../ops/random.ts";

const block = (n = 4) => () => Promise.resolve(new Uint8Array(n));

Deno.test("BlockCache Lru evicts the least recently used block", async () => {
  const c = new BlockCache(8);
  await c.get("a", block());
  await c.get("b", block());
  await c.get("a", block());
  await c.get("c", block());
  assert.deepEqual([c.has("a"), c.has("b"), c.has("c")], [true, false, true]);
});

Deno.test("BlockCache Lfu evicts the least frequently hit block, not the oldest", async () => {
  const c = new BlockCache(8, { policy: "Lfu" });
  await c.get("a", block());
  for (let i = 0; i < 3; i++) await c.get("a", block());
  await c.get("b", block());
  await c.get("b", block());
  // LRU would now evict a (least recently used); LFU keeps it: 3 hits against 1.
  await c.get("c", block());
  assert.deepEqual([c.has("a"), c.has("b"), c.has("c")], [true, false, true]);
  assert.equal(c.stats.evictions, 1);
});

Deno.test("BlockCache Random evicts blocks drawn from its Random, reproducibly", async () => {
  const run = async (seed: number) => {
    const c = new BlockCache(40, { policy: "Random", random: new SeededRandom(seed) });
    for (let i = 0; i < 40; i++) await c.get(`b${i}`, block());
    return [...Array(40).keys()].filter((i) => c.has(`b${i}`)).join(",");
  };
  const first = await run(1);
  assert.equal(first, await run(1));
  assert.equal(first.split(",").length, 10);
  // LRU would keep exactly the last ten; a random policy keeps older blocks too.
  assert.notEqual(first, "30,31,32,33,34,35,36,37,38,39");
});

Deno.test("BlockCache refuses the Random policy without a source of randomness", () => {
  assert.throws(() => new BlockCache(8, { policy: "Random" }), RangeError);
});

Deno.test("BlockCache resize evicts down to the new bound at once", async () => {
  const c = new BlockCache(16);
  for (const id of ["a", "b", "c", "d"]) await c.get(id, block());
  c.resize(8);
  assert.equal(c.usedBytes, 8);
  assert.deepEqual([c.has("a"), c.has("b"), c.has("c"), c.has("d")], [false, false, true, true]);
  c.resize(0);
  assert.equal(c.usedBytes, 0);
});
