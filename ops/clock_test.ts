import assert from "node:assert/strict";
import { every, ManualClock, sleep, systemClock } from "./clock.ts";

Deno.test("sleep on the system clock rejects at once when aborted, and holds no timer", async () => {
  const controller = new AbortController();
  const slept = sleep(systemClock, 60_000, controller.signal);
  controller.abort(new Error("wake"));
  await assert.rejects(slept, /wake/);
  const aborted = new AbortController();
  aborted.abort(new Error("already"));
  await assert.rejects(sleep(systemClock, 60_000, aborted.signal), /already/);
});

Deno.test("ManualClock fires timers in deadline order, each at its own time, only on advance", () => {
  const clock = new ManualClock(100);
  const seen: string[] = [];
  const c = clock.setTimer(5, () => seen.push("cancelled"));
  clock.setTimer(30, () => seen.push(`b@${clock.nowMs()}`));
  clock.setTimer(10, () => {
    seen.push(`a@${clock.nowMs()}`);
    clock.setTimer(5, () => seen.push(`a2@${clock.nowMs()}`));
  });
  clock.clearTimer(c);
  assert.deepEqual(seen, []);
  clock.advance(29);
  assert.deepEqual(seen, ["a@110", "a2@115"]);
  clock.advance(1);
  assert.deepEqual(seen, ["a@110", "a2@115", "b@130"]);
  assert.equal(clock.nowMs(), 130);
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("every ticks on its interval until stopped, and never overlaps a slow tick", async () => {
  const clock = new ManualClock();
  let ticks = 0;
  let release: () => void = () => {};
  const stop = every(clock, 10, () => {
    ticks++;
    return new Promise<void>((r) => (release = r));
  });
  clock.advance(35);
  assert.equal(ticks, 1, "the first tick has not finished, so no second one is scheduled");
  release();
  await new Promise((r) => setTimeout(r, 0));
  clock.advance(10);
  assert.equal(ticks, 2);
  stop();
  release();
  await new Promise((r) => setTimeout(r, 0));
  clock.advance(100);
  assert.equal(ticks, 2);
  assert.equal(clock.pendingTimers, 0);
});
