import assert from "node:assert/strict";
import { LatencyRecorder } from "./latency_recorder.ts";

Deno.test("LatencyRecorder computes nearest-rank percentiles", () => {
  const recorder = new LatencyRecorder(10_000);
  for (let i = 1000; i >= 1; i--) recorder.record(i);
  const s = recorder.summary();
  assert.deepEqual([s.p50, s.p99, s.p999, s.max], [500, 990, 999, 1000]);
  assert.equal(s.avg, 500.5);
});

Deno.test("LatencyRecorder keeps at most capacity samples but the true max", () => {
  let seed = 1;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const recorder = new LatencyRecorder(100, random);
  for (let i = 0; i < 10_000; i++) recorder.record(i === 5000 ? 1e6 : 1);
  assert.equal(recorder.count, 10_000);
  assert.equal(recorder.summary().max, 1e6);
  assert.equal(recorder.summary().p50, 1);
});

Deno.test("LatencyRecorder summary is zero before any sample", () => {
  assert.deepEqual(new LatencyRecorder(1).summary(), { p50: 0, p99: 0, p999: 0, max: 0, avg: 0 });
  assert.throws(() => new LatencyRecorder(0), RangeError);
});
