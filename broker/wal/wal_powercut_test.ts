/**
 * Power cuts under the WAL: a seeded workload of concurrent appends of many sizes, over several
 * streams, with checkpoints that reclaim segments and a spare segment being prepared, runs on
 * the disk-seam backend over a CrashDisk that loses power at a seeded point. After each crash
 * the WAL must open and return every acknowledged entry that was not checkpointed, byte for
 * byte, and no entry it never wrote: a torn write is cut off by CRC. What survives of the
 * unacknowledged appends is a gap-free continuation of the acknowledged ones.
 */

import assert from "node:assert/strict";
import { CrashDisk } from "../../ops/crash_disk.ts";
import type { SeededRandom } from "../../ops/random.ts";
import { forEachPowercutSeed } from "../../tests/support/powercut.ts";
import { Wal } from "./wal.ts";
import { DiskWalBackend } from "./wal_disk_backend.ts";
import type { RecoveredEntry } from "./wal_recovery.ts";

const FILE = "broker/wal/wal_powercut_test.ts";
const SEGMENT = 16 * 1024;
const STREAMS = 4;

/** One append the test made: its offset is unique across streams, so it names the entry. */
interface _Entry {
  streamId: number;
  baseOffset: bigint;
  payload: Uint8Array;
}

interface _Model {
  /** Every append ever made, by base offset. */
  made: Map<bigint, _Entry>;
  /** Base offsets that must survive (acknowledged, or recovered before). */
  durable: Set<bigint>;
  /** Per stream: entries below this offset may be reclaimed. */
  checkpoints: bigint[];
  next: bigint;
}

function _payload(r: SeededRandom): Uint8Array {
  // Mostly small (many per 4 KiB block), some spanning blocks, a few filling most of a segment.
  const size = r.chance(0.1) ? r.between(4000, 12_000) : r.between(1, 900);
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = r.int(256);
  return bytes;
}

async function _open(disk: CrashDisk, dropped: { bytes: number }) {
  return await Wal.open({
    path: "/data/wal",
    backend: new DiskWalBackend(disk),
    segmentSizeBytes: SEGMENT,
    capacityBytes: 12 * SEGMENT,
    bufferSize: 8192,
    fullWaitMs: 20,
    logger: {
      info() {},
      warn(message, fields) {
        if (message === "WAL torn tail truncated") dropped.bytes += Number(fields?.droppedBytes);
      },
    },
  });
}

/** Appends in seeded bursts until the power goes; records what was acknowledged. */
async function _workload(r: SeededRandom, wal: Wal, disk: CrashDisk, m: _Model): Promise<void> {
  for (let burst = 0; burst < 25 && !disk.powerCut; burst++) {
    const appends = Array.from({ length: r.between(1, 6) }, () => {
      const entry = { streamId: r.int(STREAMS), baseOffset: m.next++, payload: _payload(r) };
      m.made.set(entry.baseOffset, entry);
      return wal.append(entry.streamId, entry.baseOffset, entry.payload).then(
        () => m.durable.add(entry.baseOffset),
        () => {
          // Failed at the cut (or after it): its bytes may or may not have reached the disk.
          // Refused before the cut (the WAL full behind the checkpoints): never written, so it
          // must never be recovered, and its seq goes to the next append.
          if (!disk.powerCut) m.made.delete(entry.baseOffset);
        },
      );
    });
    await Promise.all(appends);
    if (r.chance(0.3)) {
      const stream = r.int(STREAMS);
      // Checkpoints only move forward, as uploads do.
      const to = m.next - BigInt(r.int(20));
      if (to > m.checkpoints[stream]!) m.checkpoints[stream] = to;
      wal.checkpoint(stream, m.checkpoints[stream]!);
    }
  }
}

function _checkRecovered(recovered: RecoveredEntry[], m: _Model): void {
  const found = new Set<bigint>();
  let lastOffset = -1n;
  for (const e of recovered) {
    const made = m.made.get(e.baseOffset);
    assert.ok(made !== undefined, `recovered an entry never appended: offset ${e.baseOffset}`);
    assert.equal(e.streamId, made.streamId, `stream of offset ${e.baseOffset}`);
    assert.deepEqual(e.payload, made.payload, `payload of offset ${e.baseOffset}`);
    assert.ok(e.baseOffset > lastOffset, "recovered entries are out of append order");
    lastOffset = e.baseOffset;
    found.add(e.baseOffset);
  }
  const reclaimable = (e: _Entry) => e.baseOffset < m.checkpoints[e.streamId]!;
  for (const offset of m.durable) {
    const e = m.made.get(offset)!;
    assert.ok(found.has(offset) || reclaimable(e), `acknowledged entry ${offset} was lost`);
  }
  // No hole: every entry appended before the last one recovered is there (or reclaimable).
  for (const [offset, e] of m.made) {
    if (offset < lastOffset && !found.has(offset) && !reclaimable(e)) {
      assert.fail(`entry ${offset} is missing before recovered entry ${lastOffset}`);
    }
  }
}

async function _round(r: SeededRandom, disk: CrashDisk, m: _Model, dropped: { bytes: number }) {
  const { wal, recovered } = await _open(disk, dropped);
  _checkRecovered(recovered, m);
  // Recovered entries are durable now, and the unacknowledged ones not recovered are gone for
  // good (their seqs are reused). The broker checkpoints again what it knows is uploaded.
  for (const e of recovered) m.durable.add(e.baseOffset);
  for (const offset of m.made.keys()) if (!m.durable.has(offset)) m.made.delete(offset);
  m.checkpoints.forEach((offset, stream) => wal.checkpoint(stream, offset));
  disk.cutPowerAfter(r.int(120));
  await _workload(r, wal, disk, m);
  disk.cutPowerAfter(0);
  await wal.close().catch(() => {});
  disk.crash();
}

Deno.test("Wal keeps every acknowledged entry through power cuts and cuts torn tails by CRC", async () => {
  let tornBytes = 0;
  await forEachPowercutSeed(FILE, 40, async (r, seed) => {
    // Odd seeds lose every unsynced change; even ones keep a torn prefix of them.
    const disk = seed % 2 === 0 ? new CrashDisk({ torn: true, random: r }) : new CrashDisk();
    const m: _Model = {
      made: new Map(),
      durable: new Set(),
      checkpoints: Array.from({ length: STREAMS }, () => 0n),
      next: 0n,
    };
    const dropped = { bytes: 0 };
    for (let round = 0; round < 3; round++) await _round(r, disk, m, dropped);
    const { wal, recovered } = await _open(disk, dropped);
    _checkRecovered(recovered, m);
    await wal.close();
    tornBytes += dropped.bytes;
  });
  if (Deno.env.get("RUSTMQ_POWERCUT_SEED") === undefined) {
    assert.ok(tornBytes > 0, "no run cut a torn tail: the torn path was not exercised");
  }
});
