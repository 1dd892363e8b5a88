import assert from "node:assert/strict";
import { FileStorage } from "./file_storage.ts";
import { SeededRandom } from "../../ops/random.ts";
import { MemoryStorage, type RaftStorage } from "./storage.ts";
import type { Entry } from "./types.ts";

function _entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) {
    out.push({ index: i, term, kind: "normal", data: `t${term}-${i}` });
  }
  return out;
}

interface Backend {
  name: string;
  /** A fresh storage, and a way to reopen the same durable state. */
  create(): Promise<
    { storage: RaftStorage; reopen(): Promise<RaftStorage>; cleanup(): Promise<void> }
  >;
}

const BACKENDS: Backend[] = [
  {
    name: "MemoryStorage",
    create() {
      const storage = new MemoryStorage();
      return Promise.resolve({
        storage,
        reopen: () => Promise.resolve(storage),
        cleanup: () => Promise.resolve(),
      });
    },
  },
  {
    name: "FileStorage",
    async create() {
      const dir = await Deno.makeTempDir({ prefix: "raft_storage_" });
      // Tiny segments so that every test crosses segment boundaries.
      const options = { segmentBytesMax: 200 };
      return {
        storage: await FileStorage.open(dir, options),
        reopen: () => FileStorage.open(dir, options),
        cleanup: () => Deno.remove(dir, { recursive: true }),
      };
    },
  },
];

for (const backend of BACKENDS) {
  Deno.test(`${backend.name} returns what it saved after a reopen`, async () => {
    const { storage, reopen, cleanup } = await backend.create();
    await storage.save({
      snapshot: null,
      entries: _entries(1, 10, 1),
      hardState: { term: 1, vote: "n1", commit: 4 },
    });
    const loaded = await (await reopen()).load();
    assert.deepEqual(loaded.entries, _entries(1, 10, 1));
    assert.deepEqual(loaded.hardState, { term: 1, vote: "n1", commit: 4 });
    await cleanup();
  });

  Deno.test(`${backend.name} replaces a conflicting suffix`, async () => {
    const { storage, reopen, cleanup } = await backend.create();
    await storage.save({ snapshot: null, entries: _entries(1, 10, 1), hardState: null });
    await storage.save({
      snapshot: null,
      entries: _entries(4, 6, 2),
      hardState: { term: 2, vote: null, commit: 3 },
    });
    const loaded = await (await reopen()).load();
    assert.deepEqual(loaded.entries, [..._entries(1, 3, 1), ..._entries(4, 6, 2)]);
    await cleanup();
  });

  Deno.test(`${backend.name} keeps the suffix after a local compaction`, async () => {
    const { storage, reopen, cleanup } = await backend.create();
    await storage.save({
      snapshot: null,
      entries: _entries(1, 20, 1),
      hardState: { term: 1, vote: null, commit: 20 },
    });
    await storage.save({
      snapshot: { index: 15, term: 1, voters: ["n1"], data: "s15" },
      entries: [],
      hardState: null,
    });
    let loaded = await (await reopen()).load();
    assert.equal(loaded.snapshot.data, "s15");
    assert.deepEqual(loaded.entries, _entries(16, 20, 1));
    await storage.save({ snapshot: null, entries: _entries(21, 22, 1), hardState: null });
    loaded = await (await reopen()).load();
    assert.deepEqual(loaded.entries, _entries(16, 22, 1));
    await cleanup();
  });

  Deno.test(`${backend.name} drops the whole log for a leader's snapshot`, async () => {
    const { storage, reopen, cleanup } = await backend.create();
    await storage.save({ snapshot: null, entries: _entries(1, 8, 1), hardState: null });
    await storage.save({
      snapshot: { index: 30, term: 3, voters: ["n1", "n2"], data: "s30" },
      entries: [],
      hardState: { term: 3, vote: null, commit: 30 },
    });
    await storage.save({ snapshot: null, entries: _entries(31, 33, 3), hardState: null });
    const loaded = await (await reopen()).load();
    assert.equal(loaded.snapshot.index, 30);
    assert.deepEqual(loaded.snapshot.voters, ["n1", "n2"]);
    assert.deepEqual(loaded.entries, _entries(31, 33, 3));
    await cleanup();
  });
}

Deno.test("MemoryStorage crash keeps synced data and at most a torn prefix of the rest", () => {
  for (let seed = 1; seed <= 50; seed++) {
    const s = new MemoryStorage();
    s.write({
      snapshot: null,
      entries: _entries(1, 5, 1),
      hardState: { term: 1, vote: null, commit: 2 },
    });
    s.sync();
    s.write({
      snapshot: null,
      entries: _entries(6, 12, 1),
      hardState: { term: 2, vote: "n2", commit: 9 },
    });
    s.crash(new SeededRandom(seed));
    const loaded = s.loadSync();
    assert.ok(loaded.entries.length >= 5 && loaded.entries.length <= 12);
    assert.deepEqual(loaded.entries, _entries(1, loaded.entries.length, 1));
    // The new hard state survives only together with every entry written before it.
    if (loaded.hardState.term === 2) assert.equal(loaded.entries.length, 12);
  }
});
