import assert from "node:assert/strict";
import { StorageCorruptError } from "./errors.ts";
import { FileStorage } from "./file_storage.ts";
import { RaftNode } from "./node.ts";
import { SeededRandom } from "../../ops/random.ts";
import type { Entry } from "./types.ts";

function _entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) {
    out.push({ index: i, term, kind: "normal", data: `t${term}-${i}` });
  }
  return out;
}

async function _segments(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".seg")) names.push(e.name);
  return names.sort();
}

Deno.test("FileStorage truncates a torn tail on load and keeps appending after it", async () => {
  const dir = await Deno.makeTempDir();
  const s = await FileStorage.open(dir);
  await s.save({
    snapshot: null,
    entries: _entries(1, 5, 1),
    hardState: { term: 1, vote: null, commit: 3 },
  });
  const [segment] = await _segments(dir);
  const path = `${dir}/${segment}`;
  const size = (await Deno.stat(path)).size;
  // A crash mid-append: the last record lost its final 3 bytes.
  await Deno.truncate(path, size - 3);
  const reopened = await FileStorage.open(dir);
  assert.ok(reopened.tornBytesTruncated > 0);
  assert.deepEqual((await reopened.load()).entries, _entries(1, 4, 1));
  await reopened.save({ snapshot: null, entries: _entries(5, 7, 1), hardState: null });
  assert.deepEqual((await (await FileStorage.open(dir)).load()).entries, _entries(1, 7, 1));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("FileStorage truncates a tail whose checksum is wrong", async () => {
  const dir = await Deno.makeTempDir();
  const s = await FileStorage.open(dir);
  await s.save({ snapshot: null, entries: _entries(1, 3, 1), hardState: null });
  const path = `${dir}/${(await _segments(dir))[0]}`;
  const bytes = await Deno.readFile(path);
  bytes[bytes.length - 2]! ^= 0xff;
  await Deno.writeFile(path, bytes);
  const reopened = await FileStorage.open(dir);
  assert.deepEqual((await reopened.load()).entries, _entries(1, 2, 1));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("FileStorage refuses damage inside an older segment", async () => {
  const dir = await Deno.makeTempDir();
  const s = await FileStorage.open(dir, { segmentBytesMax: 100 });
  await s.save({ snapshot: null, entries: _entries(1, 12, 1), hardState: null });
  const names = await _segments(dir);
  assert.ok(names.length >= 3);
  const path = `${dir}/${names[0]}`;
  const bytes = await Deno.readFile(path);
  bytes[10]! ^= 0xff;
  await Deno.writeFile(path, bytes);
  await assert.rejects(FileStorage.open(dir, { segmentBytesMax: 100 }), StorageCorruptError);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("FileStorage refuses a damaged hard state file", async () => {
  const dir = await Deno.makeTempDir();
  const s = await FileStorage.open(dir);
  await s.save({ snapshot: null, entries: [], hardState: { term: 5, vote: "n2", commit: 0 } });
  const bytes = await Deno.readFile(`${dir}/hardstate`);
  bytes[bytes.length - 1]! ^= 0x01;
  await Deno.writeFile(`${dir}/hardstate`, bytes);
  await assert.rejects(FileStorage.open(dir), StorageCorruptError);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("FileStorage rolls segments and deletes those a snapshot covers", async () => {
  const dir = await Deno.makeTempDir();
  const s = await FileStorage.open(dir, { segmentBytesMax: 100 });
  await s.save({
    snapshot: null,
    entries: _entries(1, 30, 1),
    hardState: { term: 1, vote: null, commit: 30 },
  });
  const before = (await _segments(dir)).length;
  await s.save({
    snapshot: { index: 25, term: 1, voters: ["n1"], data: "" },
    entries: [],
    hardState: null,
  });
  const after = (await _segments(dir)).length;
  assert.ok(after < before, `${after} segments after compaction, ${before} before`);
  const loaded = await (await FileStorage.open(dir, { segmentBytesMax: 100 })).load();
  assert.deepEqual(loaded.entries, _entries(26, 30, 1));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("FileStorage ignores leftover segments of a log a leader's snapshot replaced", async () => {
  const dir = await Deno.makeTempDir();
  const s = await FileStorage.open(dir);
  await s.save({ snapshot: null, entries: _entries(1, 5, 1), hardState: null });
  const leftover = await Deno.readFile(`${dir}/${(await _segments(dir))[0]}`);
  await s.save({
    snapshot: { index: 9, term: 2, voters: ["n1"], data: "" },
    entries: [],
    hardState: null,
  });
  // As if the process died after renaming the snapshot but before deleting the old segment.
  await Deno.writeFile(`${dir}/log-00000000000000000001.seg`, leftover);
  const loaded = await (await FileStorage.open(dir)).load();
  assert.equal(loaded.snapshot.index, 9);
  assert.deepEqual(loaded.entries, []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("FileStorage removes temporary files left by an interrupted atomic write", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/hardstate.tmp`, "half written");
  const s = await FileStorage.open(dir);
  assert.deepEqual((await s.load()).hardState, { term: 0, vote: null, commit: 0 });
  await assert.rejects(Deno.stat(`${dir}/hardstate.tmp`), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("FileStorage rejects invalid options with a RangeError", async () => {
  await assert.rejects(FileStorage.open("/nonexistent-never", { segmentBytesMax: 0 }), RangeError);
});

Deno.test("FileStorage brings a RaftNode back with its term, vote, log and snapshot", async () => {
  const dir = await Deno.makeTempDir();
  const start = async () =>
    new RaftNode({
      id: "n1",
      random: new SeededRandom(1),
      bootstrapVoters: ["n1"],
      state: await (await FileStorage.open(dir, { segmentBytesMax: 256 })).load(),
    });
  const storage = await FileStorage.open(dir, { segmentBytesMax: 256 });
  const drive = async (node: RaftNode) => {
    const applied: string[] = [];
    while (node.hasReady()) {
      const rd = node.ready();
      await storage.save({ snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState });
      for (const e of rd.committedEntries) if (e.data !== "") applied.push(e.data);
      node.advance(rd);
    }
    return applied;
  };
  const node = await start();
  for (let i = 0; i < 40 && node.status().role !== "leader"; i++) {
    node.tick();
    await drive(node);
  }
  for (let i = 0; i < 20; i++) node.propose(`cmd-${i}`);
  await drive(node);
  node.compact(10, "state@10");
  await drive(node);
  const before = node.status();

  const again = await start();
  const after = again.status();
  assert.equal(after.term, before.term);
  assert.equal(after.vote, before.vote);
  assert.equal(after.lastIndex, before.lastIndex);
  assert.equal(after.snapshotIndex, 10);
  const rd = again.ready();
  assert.equal(rd.snapshotToApply?.data, "state@10");
  again.advance(rd);
  // Everything after the snapshot is applied again, from the log on disk.
  const replayed = await drive(again);
  assert.deepEqual(replayed, Array.from({ length: 11 }, (_, i) => `cmd-${i + 9}`));
  await Deno.remove(dir, { recursive: true });
});
