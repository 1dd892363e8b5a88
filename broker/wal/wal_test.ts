import assert from "node:assert/strict";
import { Wal, type WalOptions } from "./wal.ts";
import { WalClosedError, WalDiskFullError, WalFullError } from "./wal_errors.ts";
import { FakeWalBackend } from "./wal_fake_backend.ts";
import { ManualClock } from "../../ops/clock.ts";
import { segmentFileName } from "./wal_format.ts";

const SEGMENT = 64 * 1024;

function options(disk: FakeWalBackend, extra: Partial<WalOptions> = {}): WalOptions {
  return {
    path: "/wal",
    backend: disk,
    segmentSizeBytes: SEGMENT,
    capacityBytes: 8 * SEGMENT,
    spareSegment: false,
    ...extra,
  };
}

const payload = (n: number, fill = 1) => new Uint8Array(n).fill(fill);
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("Wal coalesces many concurrent appends into few writes", async () => {
  const disk = new FakeWalBackend({ inflightMax: 1 });
  const { wal } = await Wal.open(options(disk));
  disk.hold();
  const appends = Array.from({ length: 200 }, (_, i) => wal.append(i % 7, BigInt(i), payload(100)));
  await tick();
  assert.equal(disk.heldCount, 1, "appends made in one burst share one write");
  // Appends that come while it is in flight wait and go out together next.
  appends.push(...Array.from({ length: 50 }, (_, i) => wal.append(1, BigInt(i), payload(100))));
  await tick();
  assert.equal(disk.heldCount, 1);
  disk.release();
  const results = await Promise.all(appends);
  assert.deepEqual(results.map((r) => r.seq), Array.from({ length: 250 }, (_, i) => i + 1));
  assert.equal(disk.writes, 2);
  assert.equal(wal.stats.appends, 250);
  await wal.close();
});

Deno.test("Wal keeps several writes in flight and acknowledges in order", async () => {
  const disk = new FakeWalBackend({ inflightMax: 4 });
  const { wal } = await Wal.open(options(disk, { bufferSize: 200 }));
  disk.hold();
  const order: number[] = [];
  const appends = Array.from(
    { length: 12 },
    (_, i) => wal.append(1, BigInt(i), payload(100)).then((r) => order.push(r.seq)),
  );
  await tick();
  assert.equal(disk.heldCount, 4);
  disk.release();
  await Promise.all(appends);
  assert.deepEqual(order, Array.from({ length: 12 }, (_, i) => i + 1));
  assert.equal(disk.maxInflightSeen, 4);
  await wal.close();
});

Deno.test("Wal append waits while full, then fails with WalFullError", async () => {
  const disk = new FakeWalBackend();
  const clock = new ManualClock();
  const { wal } = await Wal.open(
    options(disk, { capacityBytes: 2 * SEGMENT, clock, fullWaitMs: 5000, bufferSize: SEGMENT }),
  );
  const big = payload(SEGMENT - 8192);
  await wal.append(1, 0n, big);
  await wal.append(1, 1n, big);
  let settled: unknown = "pending";
  const outcomeNow = (): unknown => settled;
  wal.append(1, 2n, big).then((r) => settled = r, (e) => settled = e);
  await tick();
  clock.advance(4999);
  await tick();
  assert.equal(outcomeNow(), "pending");
  clock.advance(1);
  await tick();
  const outcome = outcomeNow();
  assert.ok(outcome instanceof WalFullError, `got ${outcome}`);
  assert.equal(outcome.retriable, true);
  assert.equal(outcome.code, "WAL_FULL");
  assert.match(outcome.message, /^Cannot append to the WAL as it is full: 131072 of 131072 bytes/);
  await wal.close();
});

Deno.test("Wal checkpoint frees a segment and a waiting append proceeds", async () => {
  const disk = new FakeWalBackend();
  const clock = new ManualClock();
  const { wal } = await Wal.open(
    options(disk, { capacityBytes: 2 * SEGMENT, clock, bufferSize: SEGMENT }),
  );
  const big = payload(SEGMENT - 8192);
  await wal.append(1, 0n, big);
  await wal.append(2, 0n, big);
  const waiting = wal.append(3, 0n, big);
  await tick();
  wal.checkpoint(1, 1n);
  assert.deepEqual(await waiting, { seq: 3 });
  assert.equal(disk.files.has(`/wal/${segmentFileName(1)}`), false);
  assert.equal(disk.files.has(`/wal/${segmentFileName(3)}`), true);
  await wal.close();
  const { recovered, wal: again } = await Wal.open(options(disk, { capacityBytes: 2 * SEGMENT }));
  assert.deepEqual(recovered.map((e) => [e.seq, e.streamId]), [[2, 2], [3, 3]]);
  await again.close();
});

Deno.test("Wal whenSpaceFreed wakes on reclaim, not before, and on its timeout otherwise", async () => {
  const disk = new FakeWalBackend();
  const clock = new ManualClock();
  const { wal } = await Wal.open(
    options(disk, { capacityBytes: 4 * SEGMENT, clock, bufferSize: SEGMENT }),
  );
  const big = payload(SEGMENT - 8192);
  await wal.append(1, 0n, big);
  await wal.append(2, 0n, big);
  const usedBefore = wal.stats.usedBytes;
  const timersBefore = clock.pendingTimers;
  let woke = false;
  const freed = wal.whenSpaceFreed(60_000).then(() => woke = true);
  await tick();
  assert.equal(woke, false, "nothing was reclaimed yet");
  wal.checkpoint(1, 1n);
  await freed;
  assert.ok(wal.stats.usedBytes < usedBefore, "woken because space was freed");
  assert.equal(clock.pendingTimers, timersBefore, "a woken wait cancels its timer");
  let timedOut = false;
  const idle = wal.whenSpaceFreed(500).then(() => timedOut = true);
  clock.advance(499);
  await tick();
  assert.equal(timedOut, false);
  clock.advance(1);
  await idle;
  assert.equal(clock.pendingTimers, timersBefore, "a timed-out wait leaves no timer");
  await wal.close();
  assert.equal(await wal.whenSpaceFreed(60_000), undefined, "a closed WAL never blocks a waiter");
});

Deno.test("Wal surfaces ENOSPC as WalDiskFullError and keeps working", async () => {
  const disk = new FakeWalBackend();
  const { wal } = await Wal.open(options(disk));
  await wal.append(1, 0n, payload(10));
  disk.failNextWrite(Object.assign(new Error("No space left on device"), { code: "ENOSPC" }));
  await assert.rejects(wal.append(1, 1n, payload(10)), (error: unknown) => {
    assert.ok(error instanceof WalDiskFullError);
    assert.equal(error.retriable, true);
    return true;
  });
  await tick();
  assert.deepEqual(await wal.append(1, 1n, payload(10, 2)), { seq: 2 });
  await wal.close();
  const { recovered, wal: again } = await Wal.open(options(disk));
  assert.deepEqual(recovered.map((e) => [e.seq, e.baseOffset, e.payload[0]]), [[1, 0n, 1], [
    2,
    1n,
    2,
  ]]);
  await again.close();
});

Deno.test("Wal.open recovers entries, cuts a torn tail and logs the bytes dropped", async () => {
  const disk = new FakeWalBackend();
  const { wal } = await Wal.open(options(disk));
  for (let i = 0; i < 3; i++) await wal.append(9, BigInt(i * 10), payload(300, i + 1));
  await wal.close();
  const path = `/wal/${segmentFileName(1)}`;
  const file = disk.files.get(path)!;
  file[4096 * 3 + 100] = file[4096 * 3 + 100]! ^ 0x55; // inside the last commit
  const lines: [string, Record<string, unknown> | undefined][] = [];
  const logger = { info: (m: string, f?: Record<string, unknown>) => lines.push([m, f]) };
  const { recovered, wal: again } = await Wal.open(options(disk, { logger }));
  assert.deepEqual(recovered.map((e) => [e.seq, e.baseOffset]), [[1, 0n], [2, 10n]]);
  const torn = lines.find(([m]) => m === "WAL torn tail truncated");
  assert.ok(torn !== undefined && (torn[1]!.droppedBytes as number) > 0);
  assert.ok(lines.some(([m, f]) => m === "WAL backend selected" && f?.backend === "fake"));
  assert.deepEqual(await again.append(9, 20n, payload(1)), { seq: 3 });
  await again.close();
});

Deno.test("Wal without fsyncOnWrite syncs every flushIntervalMs", async () => {
  const disk = new FakeWalBackend();
  const clock = new ManualClock();
  const { wal } = await Wal.open(
    options(disk, { fsyncOnWrite: false, flushIntervalMs: 100, clock }),
  );
  await wal.append(1, 0n, payload(10));
  assert.equal(disk.syncs, 0);
  clock.advance(100);
  await tick();
  assert.equal(disk.syncs, 1);
  clock.advance(100);
  await tick();
  assert.equal(disk.syncs, 1); // nothing new to sync
  await wal.close();
});

Deno.test("Wal rejects appends after close and invalid input up front", async () => {
  const disk = new FakeWalBackend();
  const { wal } = await Wal.open(options(disk));
  assert.throws(() => wal.append(-1, 0n, payload(1)), RangeError);
  assert.throws(() => wal.append(1, 0n, payload(SEGMENT)), RangeError);
  await wal.close();
  await assert.rejects(wal.append(1, 0n, payload(1)), WalClosedError);
  await assert.rejects(
    Wal.open(options(disk, { segmentSizeBytes: 10000 })),
    /segmentSizeBytes must be a multiple of 4096/,
  );
  await assert.rejects(Wal.open(options(disk, { capacityBytes: SEGMENT })), RangeError);
});

Deno.test("Wal keeps a zero-filled spare and uses it for the next segment", async () => {
  const disk = new FakeWalBackend();
  const { wal } = await Wal.open(options(disk, { spareSegment: true, bufferSize: SEGMENT }));
  await tick();
  assert.equal(disk.files.get("/wal/spare.ready")?.length, SEGMENT);
  await wal.append(1, 0n, payload(100));
  assert.equal(disk.files.get(`/wal/${segmentFileName(1)}`)?.length, SEGMENT);
  await wal.close();
  assert.equal(disk.files.get("/wal/spare.ready")?.length, SEGMENT); // the next one
});

Deno.test("Wal zero-fills the next spare only while no append is being written", async () => {
  const disk = new FakeWalBackend();
  const clock = new ManualClock();
  const { wal } = await Wal.open(
    options(disk, { spareSegment: true, bufferSize: SEGMENT, clock }),
  );
  await tick();
  assert.ok(disk.files.has("/wal/spare.ready"));
  disk.hold();
  const first = wal.append(1, 0n, payload(100)); // takes the spare: the next one starts
  for (let i = 0; i < 5; i++) await tick();
  assert.ok(!disk.files.has("/wal/spare.ready"), "the spare waits while the append is written");
  disk.release();
  await first;
  for (let i = 0; i < 5 && !disk.files.has("/wal/spare.ready"); i++) await tick();
  assert.ok(disk.files.has("/wal/spare.ready"), "and goes ahead once the disk is idle");

  // Under a write that never ends, the spare still progresses after the pace bound.
  await wal.append(1, 1n, payload(40_000));
  disk.hold();
  const second = wal.append(1, 2n, payload(40_000)); // does not fit in segment 1: it rolls
  for (let i = 0; i < 5; i++) await tick();
  assert.ok(!disk.files.has("/wal/spare.ready"));
  clock.advance(25);
  for (let i = 0; i < 5 && !disk.files.has("/wal/spare.ready"); i++) await tick();
  assert.ok(disk.files.has("/wal/spare.ready"), "the bound let it through");
  disk.release();
  await second;
  await wal.close();
});

Deno.test("Wal rejects a large append whose second part fails, and recovery stays clean", async () => {
  const disk = new FakeWalBackend();
  const { wal } = await Wal.open(
    options(disk, { segmentSizeBytes: 1 << 20, capacityBytes: 8 << 20 }),
  );
  await wal.append(1, 0n, payload(300_000, 1));
  disk.failNextWrite(Object.assign(new Error("No space left on device"), { code: "ENOSPC" }));
  await assert.rejects(wal.append(1, 1n, payload(300_000, 2)), WalDiskFullError);
  await tick();
  await wal.append(1, 1n, payload(300_000, 3));
  await wal.close();
  const { recovered, wal: again } = await Wal.open(
    options(disk, { segmentSizeBytes: 1 << 20, capacityBytes: 8 << 20 }),
  );
  assert.deepEqual(recovered.map((e) => [e.seq, e.payload[0], e.payload.length]), [
    [1, 1, 300_000],
    [
      2,
      3,
      300_000,
    ],
  ]);
  await again.close();
});

Deno.test("Wal rejects every append behind a failed write, so no stream is left with a hole", async () => {
  const disk = new FakeWalBackend({ inflightMax: 1 });
  const lines: string[] = [];
  const logger = {
    info: (m: string) => lines.push(m),
    warn: (m: string) => lines.push(m),
    debug: () => {},
    error: (m: string) => lines.push(m),
  };
  const { wal } = await Wal.open(options(disk, { logger }));
  await wal.append(1, 0n, payload(10));
  disk.hold();
  const first = wal.append(1, 1n, payload(10)); // goes out alone, held
  await tick();
  const queued = [wal.append(1, 2n, payload(10)), wal.append(2, 0n, payload(10))];
  disk.failNextWrite(Object.assign(new Error("No space left on device"), { code: "ENOSPC" }));
  disk.release();
  const settled = await Promise.allSettled([first, ...queued]);
  assert.deepEqual(settled.map((s) => s.status), ["rejected", "rejected", "rejected"]);
  for (const s of settled) {
    assert.ok((s as PromiseRejectedResult).reason instanceof WalDiskFullError);
  }
  assert.equal(wal.diskFull, true);
  await tick();
  assert.deepEqual(await wal.append(1, 1n, payload(10, 3)), { seq: 2 });
  assert.equal(wal.diskFull, false, "the next write that succeeds clears the state");
  assert.deepEqual(lines.filter((l) => l.startsWith("WAL disk")), [
    "WAL disk is full: appends fail until space is freed",
    "WAL disk has room again: appends resumed",
  ]);
  await wal.close();
  const { recovered, wal: again } = await Wal.open(options(disk));
  assert.deepEqual(recovered.map((e) => [e.streamId, e.baseOffset, e.payload[0]]), [
    [1, 0n, 1],
    [1, 1n, 3],
  ]);
  await again.close();
});
