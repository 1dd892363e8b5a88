import assert from "node:assert/strict";
import { OffsetTracker } from "./offset_tracker.ts";

Deno.test("tracker: commits only the done prefix, per partition", () => {
  const t = new OffsetTracker();
  for (const o of [5, 6, 7, 8]) t.track("a", 0, o);
  t.track("a", 1, 100);
  t.done("a", 0, 7); // a later batch finished first
  assert.deepEqual(t.advanced(), []);
  t.done("a", 0, 5);
  assert.deepEqual(t.advanced(), [{ topic: "a", partition: 0, offset: 6 }]);
  t.done("a", 0, 6);
  t.done("a", 1, 100);
  assert.deepEqual(t.advanced(), [
    { topic: "a", partition: 0, offset: 8 },
    { topic: "a", partition: 1, offset: 101 },
  ]);
  assert.deepEqual(t.advanced(), []);
  assert.equal(t.pending(), 1);
  assert.throws(() => t.track("a", 0, 8), RangeError);
});

Deno.test("tracker: a long run stays bounded and correct", () => {
  const t = new OffsetTracker();
  for (let o = 0; o < 5000; o++) t.track("a", 0, o);
  for (let o = 0; o < 5000; o++) t.done("a", 0, o);
  assert.deepEqual(t.advanced(), [{ topic: "a", partition: 0, offset: 5000 }]);
  assert.equal(t.pending(), 0);
});
