import assert from "node:assert/strict";
import { backoffMs, RowBatcher } from "./row_batcher.ts";

Deno.test("batcher: cuts by rows", () => {
  const b = new RowBatcher<number>({ maxRows: 3, maxBytes: 1000, maxLatencyMs: 100 });
  assert.deepEqual(b.add(1, 10, 0), []);
  assert.deepEqual(b.add(2, 10, 0), []);
  assert.deepEqual(b.add(3, 10, 0).map((x) => x.items), [[1, 2, 3]]);
  assert.equal(b.size(), 0);
});

Deno.test("batcher: cuts by bytes, before an item would overflow", () => {
  const b = new RowBatcher<number>({ maxRows: 100, maxBytes: 100, maxLatencyMs: 100 });
  b.add(1, 60, 0);
  assert.deepEqual(b.add(2, 60, 0).map((x) => [x.items, x.bytes]), [[[1], 60]]);
  assert.deepEqual(b.add(3, 40, 0).map((x) => [x.items, x.bytes]), [[[2, 3], 100]]);
  assert.deepEqual(b.add(4, 500, 0).map((x) => x.items), [[4]]); // one big row goes alone
});

Deno.test("batcher: cuts by latency", () => {
  const b = new RowBatcher<number>({ maxRows: 100, maxBytes: 1000, maxLatencyMs: 50 });
  assert.equal(b.due(0), null);
  b.add(1, 1, 10);
  b.add(2, 1, 30);
  assert.equal(b.msUntilDue(30), 30);
  assert.equal(b.due(59), null);
  assert.deepEqual(b.due(60)?.items, [1, 2]);
  assert.equal(b.msUntilDue(60), Infinity);
  b.add(3, 1, 70);
  assert.deepEqual(b.flush()?.items, [3]);
  assert.equal(b.flush(), null);
});

Deno.test("backoff: exponential, capped, jittered within [ceiling/2, ceiling)", () => {
  for (let a = 0; a < 8; a++) {
    const ceiling = Math.min(30000, 1000 * 2 ** a);
    for (const r of [0, 0.3, 0.99]) {
      const v = backoffMs(a, 1000, 30000, () => r);
      assert.ok(v >= ceiling / 2 && v < ceiling, `${a} ${r} ${v}`);
    }
  }
});
