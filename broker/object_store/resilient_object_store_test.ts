import assert from "node:assert/strict";
import { FaultyObjectStore } from "./faulty_object_store.ts";
import { LocalObjectStore } from "./local_object_store.ts";
import { MemoryObjectStore } from "./memory_object_store.ts";
import { type Clock, systemClock, type TimerHandle } from "../../ops/clock.ts";
import { SeededRandom } from "../../ops/random.ts";
import {
  type ObjectMetadata,
  ObjectNotFoundError,
  type ObjectStore,
  ObjectStoreOverloadedError,
  ObjectStoreUnavailableError,
  type PutOptions,
} from "./object_store.ts";
import { patternBytes } from "./object_store_conformance.ts";
import { ResilientObjectStore } from "./resilient_object_store.ts";

/** The default per-attempt timer, which the virtual clock sees next to the backoff sleeps. */
const ATTEMPT_TIMEOUT_DEFAULT_MS = 30_000;

/**
 * Virtual time: `sleep` registers a timer; `run` lets all pending I/O-free work settle
 * (one real macrotask drains every microtask), then jumps to the earliest timer, until the
 * awaited promise settles. Runs are therefore exact and instant.
 */
class VirtualClock implements Clock {
  #now = 0;
  #timers: { at: number; seq: number; fn: () => void }[] = [];
  #seq = 0;
  readonly sleeps: number[] = [];

  nowMs(): number {
    return this.#now;
  }

  monotonicMs(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    this.sleeps.push(ms);
    const timer = { at: this.#now + ms, seq: this.#seq++, fn };
    this.#timers.push(timer);
    return timer.seq;
  }

  clearTimer(handle: TimerHandle): void {
    this.#timers = this.#timers.filter((t) => t.seq !== handle);
  }

  async run<T>(promise: Promise<T>): Promise<T> {
    let settled = false;
    const watched = promise.finally(() => {
      settled = true;
    });
    watched.catch(() => {});
    for (let steps = 0; !settled; steps += 1) {
      assert.ok(steps < 1_000_000, "virtual clock ran away");
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (settled) break;
      this.#timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.#timers.shift();
      if (next === undefined) continue;
      this.#now = next.at;
      next.fn();
    }
    return await watched;
  }
}

/** Counts calls reaching the wrapped store and how many puts overlap. */
class CountingStore extends MemoryObjectStore {
  calls = 0;
  putsInFlight = 0;
  putsInFlightMax = 0;
  putGate: Promise<void> = Promise.resolve();

  override async put(key: string, bytes: Uint8Array, _options?: PutOptions) {
    this.calls += 1;
    this.putsInFlight += 1;
    this.putsInFlightMax = Math.max(this.putsInFlightMax, this.putsInFlight);
    try {
      await this.putGate;
      return await super.put(key, bytes);
    } finally {
      this.putsInFlight -= 1;
    }
  }

  override get(key: string) {
    this.calls += 1;
    return super.get(key);
  }
}

Deno.test("ResilientObjectStore completes puts and gets through 30% failures and stalls", async () => {
  const clock = new VirtualClock();
  const inner = new MemoryObjectStore();
  const faulty = new FaultyObjectStore(inner, {
    random: new SeededRandom(20261127),
    clock,
    failureRate: 0.15,
    stallRate: 0.1,
    lostAnswerRate: 0.05,
    stallMs: 60_000,
  });
  const store = new ResilientObjectStore(faulty, {
    clock,
    random: new SeededRandom(7),
    attemptTimeoutMs: 1_000,
    attemptsMax: 10,
    maxConcurrentUploads: 4,
  });
  const objects = Array.from({ length: 100 }, (_, i) => patternBytes(100 + i, i));
  await clock.run(Promise.all(objects.map((bytes, i) => store.put(`k/${i}`, bytes))));
  const got = await clock.run(Promise.all(objects.map((_, i) => store.get(`k/${i}`))));
  got.forEach((bytes, i) => assert.deepEqual(bytes, objects[i]));
  // The faults really happened, and were absorbed by retries and timeouts.
  assert.ok(faulty.counts.failed >= 15, JSON.stringify(faulty.counts));
  assert.ok(faulty.counts.stalled >= 10, JSON.stringify(faulty.counts));
  assert.ok(faulty.counts.lostAnswers >= 3, JSON.stringify(faulty.counts));
  assert.equal(store.stats.timeouts, faulty.counts.stalled);
  assert.equal(store.stats.exhausted, 0);
  assert.ok(store.stats.uploadsInFlightMax <= 4);
});

Deno.test("ResilientObjectStore fails with a retriable typed error when the store is down", async () => {
  const clock = new VirtualClock();
  const faulty = new FaultyObjectStore(new MemoryObjectStore(), {
    random: new SeededRandom(1),
    clock,
  });
  faulty.setDown(true);
  const store = new ResilientObjectStore(faulty, {
    clock,
    random: new SeededRandom(2),
    attemptsMax: 4,
    backoffBaseMs: 100,
    backoffMaxMs: 250,
  });
  await assert.rejects(clock.run(store.put("k", new Uint8Array(1))), (error: unknown) => {
    assert.ok(error instanceof ObjectStoreUnavailableError, String(error));
    assert.equal(error.retriable, true);
    assert.match(
      error.message,
      /^Cannot put object 'k' into memory store as 4 attempts failed; the last with: Cannot put/,
    );
    return true;
  });
  assert.equal(faulty.counts.refusedWhileDown, 4);
  assert.equal(store.stats.exhausted, 1);
  // Three backoffs with full jitter under caps 100, 200, 250 (the rest are attempt timers).
  const backoffs = clock.sleeps.filter((ms) => ms !== ATTEMPT_TIMEOUT_DEFAULT_MS);
  assert.equal(backoffs.length, 3);
  [100, 200, 250].forEach((cap, i) => assert.ok((backoffs[i] ?? -1) < cap));
  // Once the store is back the same call succeeds.
  faulty.setDown(false);
  await clock.run(store.put("k", new Uint8Array(1)));
});

Deno.test("ResilientObjectStore never retries not-found or programmer errors", async () => {
  const clock = new VirtualClock();
  const inner = new CountingStore();
  const store = new ResilientObjectStore(inner, { clock, random: new SeededRandom(3) });
  await assert.rejects(clock.run(store.get("missing")), ObjectNotFoundError);
  assert.equal(inner.calls, 1);
  await assert.rejects(clock.run(store.put("../bad", new Uint8Array(1))), RangeError);
  assert.equal(inner.calls, 2);
  const broken: ObjectStore = Object.assign(new MemoryObjectStore(), {
    head: () => Promise.reject(new TypeError("bug")),
  });
  const wrapped = new ResilientObjectStore(broken, { clock, random: new SeededRandom(3) });
  await assert.rejects(clock.run(wrapped.head("k")), TypeError);
  assert.equal(wrapped.stats.attempts, 1);
  const backoffs = clock.sleeps.filter((ms) => ms !== ATTEMPT_TIMEOUT_DEFAULT_MS);
  assert.equal(backoffs.length, 0, "no backoff happened");
});

Deno.test("ResilientObjectStore aborts a stalled attempt at the timeout and retries", async () => {
  const clock = new VirtualClock();
  const inner = new MemoryObjectStore();
  await inner.put("k", new Uint8Array([9]));
  const signals: AbortSignal[] = [];
  const stallFirst: ObjectStore = Object.assign(Object.create(inner) as MemoryObjectStore, {
    get: (key: string, options: { signal?: AbortSignal } = {}) => {
      if (options.signal !== undefined) signals.push(options.signal);
      if (signals.length > 1) return inner.get(key);
      return new Promise<Uint8Array>((_, reject) =>
        options.signal?.addEventListener("abort", () => reject(options.signal?.reason))
      );
    },
  });
  const store = new ResilientObjectStore(stallFirst, {
    clock,
    random: new SeededRandom(4),
    attemptTimeoutMs: 500,
  });
  assert.deepEqual(await clock.run(store.get("k")), new Uint8Array([9]));
  assert.equal(signals.length, 2);
  assert.equal(signals[0]?.aborted, true, "the stalled request was aborted");
  assert.equal(store.stats.timeouts, 1);
  assert.ok(clock.nowMs() >= 500);
});

Deno.test("ResilientObjectStore keeps at most maxConcurrentUploads puts in flight", async () => {
  const clock = new VirtualClock();
  const inner = new CountingStore();
  let open!: () => void;
  inner.putGate = new Promise((resolve) => (open = resolve));
  const store = new ResilientObjectStore(inner, {
    clock,
    random: new SeededRandom(5),
    maxConcurrentUploads: 3,
    uploadQueueMax: 20,
  });
  const puts = Array.from({ length: 10 }, (_, i) => store.put(`u/${i}`, new Uint8Array([i])));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(inner.putsInFlight, 3);
  assert.equal(store.uploadsInFlight, 3);
  assert.equal(store.uploadsQueued, 7);
  open();
  const results: ObjectMetadata[] = await clock.run(Promise.all(puts));
  assert.equal(results.length, 10);
  assert.equal(inner.putsInFlightMax, 3);
  assert.equal(store.uploadsInFlight, 0);
  assert.equal(store.uploadsQueued, 0);
});

Deno.test("ResilientObjectStore rejects puts beyond the upload queue as overloaded", async () => {
  const clock = new VirtualClock();
  const inner = new CountingStore();
  let open!: () => void;
  inner.putGate = new Promise((resolve) => (open = resolve));
  const store = new ResilientObjectStore(inner, {
    clock,
    random: new SeededRandom(6),
    maxConcurrentUploads: 1,
    uploadQueueMax: 2,
  });
  const accepted = [0, 1, 2].map((i) => store.put(`q/${i}`, new Uint8Array([i])));
  await assert.rejects(store.put("q/3", new Uint8Array([3])), (error: unknown) => {
    assert.ok(error instanceof ObjectStoreOverloadedError);
    assert.equal(error.retriable, true);
    assert.equal(error.code, "OBJECT_STORE_OVERLOADED");
    return true;
  });
  open();
  await clock.run(Promise.all(accepted));
});

Deno.test("ResilientObjectStore backs off with full jitter under an exponential cap", async () => {
  const clock = new VirtualClock();
  const faulty = new FaultyObjectStore(new MemoryObjectStore(), {
    random: new SeededRandom(8),
    clock,
  });
  faulty.setDown(true);
  const store = new ResilientObjectStore(faulty, {
    clock,
    random: { next: () => 0.5, uuid: () => "" },
    attemptsMax: 6,
    backoffBaseMs: 100,
    backoffMaxMs: 1_000,
  });
  await assert.rejects(clock.run(store.head("k")), ObjectStoreUnavailableError);
  const backoffs = clock.sleeps.filter((ms) => ms !== ATTEMPT_TIMEOUT_DEFAULT_MS);
  assert.deepEqual(backoffs, [50, 100, 200, 400, 500]);
});

Deno.test("ResilientObjectStore validates its options", () => {
  const inner = new MemoryObjectStore();
  const base = { clock: systemClock, random: new SeededRandom(1) };
  assert.throws(() => new ResilientObjectStore(inner, { ...base, attemptsMax: 0 }), RangeError);
  assert.throws(
    () => new ResilientObjectStore(inner, { ...base, maxConcurrentUploads: 0 }),
    RangeError,
  );
  assert.throws(
    () => new ResilientObjectStore(inner, { ...base, attemptTimeoutMs: 1.5 }),
    RangeError,
  );
});

Deno.test("ResilientObjectStore over a faulty LocalObjectStore keeps every object intact", async () => {
  const rootDir = await Deno.makeTempDir({ prefix: "rustmq-resilient-" });
  const local = new LocalObjectStore({ rootDir });
  // Real time, short stalls: proves the wrapper against real I/O and real timers.
  const faulty = new FaultyObjectStore(local, {
    random: new SeededRandom(99),
    clock: systemClock,
    failureRate: 0.2,
    stallRate: 0.1,
    stallMs: 200,
  });
  const store = new ResilientObjectStore(faulty, {
    clock: systemClock,
    random: new SeededRandom(100),
    attemptTimeoutMs: 50,
    attemptsMax: 10,
    backoffBaseMs: 1,
    backoffMaxMs: 5,
    maxConcurrentUploads: 4,
  });
  try {
    const objects = Array.from({ length: 40 }, (_, i) => patternBytes(4096 + i, i));
    await Promise.all(objects.map((bytes, i) => store.put(`obj/${i}`, bytes)));
    for (let i = 0; i < objects.length; i += 1) {
      assert.deepEqual(await store.get(`obj/${i}`), objects[i]);
    }
    assert.ok(faulty.counts.failed > 0 && faulty.counts.stalled > 0, JSON.stringify(faulty.counts));
    assert.ok(store.stats.uploadsInFlightMax <= 4);
  } finally {
    await Deno.remove(rootDir, { recursive: true });
  }
});
