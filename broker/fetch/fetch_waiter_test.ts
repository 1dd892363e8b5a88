import assert from "node:assert/strict";
import { FetchWaiter } from "./fetch_waiter.ts";
import type { Clock, TimerHandle } from "../../ops/clock.ts";

/** Timers that fire only when the test fires them all. */
function manualTimers() {
  const pending = new Map<TimerHandle, () => void>();
  let next = 0;
  const timers: Pick<Clock, "setTimer" | "clearTimer"> = {
    setTimer: (_ms, fn) => {
      pending.set(++next, fn);
      return next;
    },
    clearTimer: (h) => void pending.delete(h),
  };
  return { timers, fireAll: () => [...pending.values()].forEach((f) => f()), pending };
}

Deno.test("FetchWaiter wakes only the fetches watching the notified partition", async () => {
  const t = manualTimers();
  const w = new FetchWaiter({ clock: t.timers });
  let aDone: boolean | undefined;
  let bDone: boolean | undefined;
  w.wait(["a/0", "a/1"], 500).then((v) => (aDone = v));
  w.wait(["b/0"], 500).then((v) => (bDone = v));
  assert.equal(w.parked, 2);
  w.notify("a/1");
  await Promise.resolve();
  assert.equal(aDone, true);
  assert.equal(bDone, undefined);
  assert.equal(w.parked, 1);
  assert.equal(t.pending.size, 1, "the woken fetch's timer was cleared");
  t.fireAll();
  await Promise.resolve();
  assert.equal(bDone, false);
  assert.equal(w.parked, 0);
});

Deno.test("FetchWaiter returns at once for a zero wait or when the parking limit is reached", async () => {
  const t = manualTimers();
  const w = new FetchWaiter({ clock: t.timers, parkedMax: 1 });
  assert.equal(await w.wait(["a/0"], 0), false);
  const first = w.wait(["a/0"], 100);
  assert.equal(await w.wait(["a/0"], 100), false);
  w.wakeAll();
  assert.equal(await first, false);
  assert.equal(w.parked, 0);
});

Deno.test("FetchWaiter does not park a fetch whose partition was notified after it read", async () => {
  const t = manualTimers();
  const w = new FetchWaiter({ clock: t.timers });
  const seen = w.version(["a/0", "b/0"]);
  w.notify("c/0"); // another partition: still parks
  let parked: boolean | undefined;
  w.wait(["a/0", "b/0"], 500, seen).then((v) => (parked = v));
  assert.equal(w.parked, 1);
  w.wakeAll();
  await Promise.resolve();
  assert.equal(parked, false);

  const before = w.version(["a/0", "b/0"]);
  w.notify("b/0"); // lands between the fetch's read and its wait
  assert.notEqual(w.version(["a/0", "b/0"]), before);
  assert.equal(await w.wait(["a/0", "b/0"], 500, before), true, "returns at once, woken");
  assert.equal(w.parked, 0);
  assert.equal(t.pending.size, 0, "no timer was set");
});
