import assert from "node:assert/strict";
import { createDefaultPartitioner, partitionForKey } from "./partitioner.ts";
import { murmur2, toPositive } from "./murmur2.ts";

const enc = new TextEncoder();

Deno.test("partitionForKey is toPositive(murmur2(key)) % numPartitions", () => {
  for (const key of ["21", "foobar", "a-little-bit-long-string", ""]) {
    const bytes = enc.encode(key);
    for (const n of [1, 3, 7, 100]) {
      assert.equal(partitionForKey(bytes, n), toPositive(murmur2(bytes)) % n);
    }
  }
  // Utils.murmur2("foobar") = -790332482; toPositive = 1357151166; % 3 = 0.
  assert.equal(partitionForKey(enc.encode("foobar"), 3), 1357151166 % 3);
});

Deno.test("partitionForKey rejects a non-positive partition count", () => {
  assert.throws(() => partitionForKey(enc.encode("k"), 0), RangeError);
});

Deno.test("createDefaultPartitioner hashes keys and sticks null keys per topic", () => {
  const partition = createDefaultPartitioner({ stickyRecords: 3 });
  const key = enc.encode("user-1");
  assert.equal(partition("a", key, 5), partitionForKey(key, 5));
  const nullPicks = Array.from({ length: 7 }, () => partition("a", null, 2));
  assert.deepEqual(nullPicks, [0, 0, 0, 1, 1, 1, 0]);
  assert.equal(partition("b", null, 2), 0, "each topic has its own sticky state");
});
