/**
 * Seeded damage: cut the WAL at random bytes and flip bytes in its tail or in its middle, then
 * check the documented behaviour. Prints the seed; rerun one with WAL_CORRUPTION_SEED=<n>.
 */
import assert from "node:assert/strict";
import { Wal, type WalOptions } from "./wal.ts";
import { WalCorruptionError } from "./wal_errors.ts";
import { FakeWalBackend } from "./wal_fake_backend.ts";
import { ENTRY_HEADER_BYTES, segmentFileName } from "./wal_format.ts";
import type { RecoveredEntry } from "./wal_recovery.ts";

const SEGMENT = 64 * 1024;
const ROUNDS = 60;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const options = (disk: FakeWalBackend): WalOptions => ({
  path: "/wal",
  backend: disk,
  segmentSizeBytes: SEGMENT,
  capacityBytes: 16 * SEGMENT,
  spareSegment: false,
  bufferSize: 16 * 1024,
});

interface Written {
  entries: RecoveredEntry[];
  lastCommitStart: number;
  lastSegment: string;
}

/** Writes groups of concurrent appends (each group awaited), then one final lone append. */
async function writeLog(disk: FakeWalBackend, random: () => number): Promise<Written> {
  const { wal } = await Wal.open(options(disk));
  let offset = 0n;
  const groups = 4 + Math.floor(random() * 8);
  for (let g = 0; g < groups; g++) {
    const size = 1 + Math.floor(random() * 8);
    await Promise.all(Array.from({ length: size }, () => {
      const payload = new Uint8Array(10 + Math.floor(random() * 6000)).map(() => random() * 256);
      return wal.append(Math.floor(random() * 4), offset++, payload);
    }));
  }
  const names = () => [...disk.files.keys()].sort();
  const before = names().at(-1)!;
  const lengthBefore = disk.files.get(before)!.length;
  await wal.append(0, offset, new Uint8Array(100).fill(7));
  await wal.close();
  const { wal: reopened, recovered } = await Wal.open(options(disk));
  await reopened.close();
  // The final append may have rolled into a new segment, header block included.
  const lastSegment = names().at(-1)!;
  const lastCommitStart = lastSegment === before ? lengthBefore : 0;
  return { entries: recovered, lastCommitStart, lastSegment };
}

function entryEnd(entry: RecoveredEntry): number {
  return entry.position + ENTRY_HEADER_BYTES + entry.payload.length;
}

/** Recovers after damage and checks the result is a prefix holding everything before it. */
async function recoverAfter(disk: FakeWalBackend, written: Written, damageAt: number) {
  const { wal, recovered } = await Wal.open(options(disk));
  await wal.close();
  const intact = written.entries.filter((e) =>
    `/wal/${segmentFileName(e.segmentId)}` !== written.lastSegment || entryEnd(e) <= damageAt
  );
  assert.ok(recovered.length >= intact.length, `lost ${intact.length - recovered.length} entries`);
  recovered.forEach((entry, k) => {
    const original = written.entries[k]!;
    assert.equal(entry.seq, original.seq);
    assert.equal(entry.baseOffset, original.baseOffset);
    assert.deepEqual(entry.payload, original.payload);
  });
}

const seed = Number(Deno.env.get("WAL_CORRUPTION_SEED") ?? Date.now() % 1_000_000);

Deno.test(`Wal recovery keeps everything before random truncation (seed ${seed})`, async () => {
  console.log(`wal corruption seed: ${seed}`);
  const random = mulberry32(seed);
  for (let round = 0; round < ROUNDS; round++) {
    const disk = new FakeWalBackend();
    const written = await writeLog(disk, random);
    const file = disk.files.get(written.lastSegment)!;
    const cut = Math.floor(random() * (file.length + 1));
    disk.files.set(written.lastSegment, file.slice(0, cut));
    await recoverAfter(disk, written, cut);
  }
});

Deno.test(`Wal recovery cuts flipped bytes in the tail and keeps what precedes them (seed ${seed})`, async () => {
  const random = mulberry32(seed + 1);
  for (let round = 0; round < ROUNDS; round++) {
    const disk = new FakeWalBackend();
    const written = await writeLog(disk, random);
    const file = disk.files.get(written.lastSegment)!;
    const span = file.length - written.lastCommitStart;
    let first = file.length;
    for (let flips = 1 + Math.floor(random() * 3); flips > 0; flips--) {
      const at = written.lastCommitStart + Math.floor(random() * span);
      file[at] = file[at]! ^ (1 + Math.floor(random() * 255));
      first = Math.min(first, at);
    }
    await recoverAfter(disk, written, first);
  }
});

Deno.test(`Wal recovery refuses acknowledged entries damaged before the tail (seed ${seed})`, async () => {
  const random = mulberry32(seed + 2);
  for (let round = 0; round < ROUNDS; round++) {
    const disk = new FakeWalBackend();
    const written = await writeLog(disk, random);
    // Any entry of an earlier group: later groups were issued after it was durable.
    const victims = written.entries.slice(0, -1).filter((e) =>
      e.durableSeq < written.entries.at(-1)!.durableSeq
    );
    const victim = victims[Math.floor(random() * victims.length)]!;
    const path = `/wal/${segmentFileName(victim.segmentId)}`;
    const file = disk.files.get(path)!;
    const at = victim.position +
      Math.floor(random() * (ENTRY_HEADER_BYTES + victim.payload.length));
    file[at] = file[at]! ^ 0x5a;
    await assert.rejects(Wal.open(options(disk)), (error: unknown) => {
      assert.ok(error instanceof WalCorruptionError, `${error}`);
      assert.equal(error.segmentPath, path);
      assert.equal(error.position, victim.position);
      return true;
    });
  }
});
