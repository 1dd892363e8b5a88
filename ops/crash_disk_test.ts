import assert from "node:assert/strict";
import { CrashDisk, PowerCutError } from "./crash_disk.ts";
import { writeFileAtomic } from "./disk.ts";
import { SeededRandom } from "./random.ts";

const bytes = (...b: number[]) => new Uint8Array(b);
const names = async (disk: CrashDisk, dir: string) =>
  (await disk.readDir(dir)).map((e) => e.name).sort();

async function diskWithDir(): Promise<CrashDisk> {
  const disk = new CrashDisk();
  await disk.mkdir("/d", { recursive: true });
  await disk.syncDir("/");
  return disk;
}

Deno.test("crash keeps synced contents and drops unsynced writes", async () => {
  const disk = await diskWithDir();
  const f = await disk.open("/d/a", { write: true, create: true });
  await disk.syncDir("/d");
  await f.writeAt(bytes(1, 2), 0);
  await f.sync();
  await f.writeAt(bytes(3), 2);
  await disk.truncate("/d/a", 1);
  assert.deepEqual(await disk.readFile("/d/a"), bytes(1));
  disk.crash();
  assert.deepEqual(await disk.readFile("/d/a"), bytes(1, 2));
  await assert.rejects(f.writeAt(bytes(9), 0), Deno.errors.BadResource);
});

Deno.test("a new file, a mkdir, a rename and a remove need a directory sync", async () => {
  const disk = await diskWithDir();
  const f = await disk.open("/d/new", { write: true, create: true });
  await f.writeAt(bytes(7), 0);
  await f.sync(); // the contents, not the entry
  await disk.mkdir("/d/sub");
  await disk.syncDir("/d/sub");
  disk.crash();
  assert.deepEqual(await names(disk, "/d"), []);

  await writeFileAtomic(disk, "/d/x", bytes(1));
  await writeFileAtomic(disk, "/d/y", bytes(2));
  await disk.rename("/d/y", "/d/x");
  await disk.remove("/d/x.tmp").catch(() => {});
  disk.crash();
  assert.deepEqual(await disk.readFile("/d/x"), bytes(1), "an unsynced rename is undone");
  assert.deepEqual(await disk.readFile("/d/y"), bytes(2));

  await disk.remove("/d/y");
  disk.crash();
  assert.deepEqual(await names(disk, "/d"), ["x", "y"], "an unsynced remove is undone");
  await disk.remove("/d/y");
  await disk.syncDir("/d");
  disk.crash();
  assert.deepEqual(await names(disk, "/d"), ["x"]);
});

Deno.test("errors are Deno's, and a non-empty directory is not removed", async () => {
  const disk = await diskWithDir();
  await assert.rejects(disk.readFile("/d/none"), Deno.errors.NotFound);
  await assert.rejects(disk.open("/d/none", { read: true }), Deno.errors.NotFound);
  await writeFileAtomic(disk, "/d/a", bytes(1));
  await assert.rejects(
    disk.open("/d/a", { write: true, createNew: true }),
    Deno.errors.AlreadyExists,
  );
  await assert.rejects(disk.mkdir("/d/a/b", { recursive: true }), Deno.errors.NotADirectory);
  await assert.rejects(disk.remove("/d"), /not empty/);
  await assert.rejects(disk.mkdir("/d"), Deno.errors.AlreadyExists);
  const a = await disk.stat("/d/a");
  await writeFileAtomic(disk, "/d/a", bytes(2));
  assert.notEqual((await disk.stat("/d/a")).ino, a.ino, "a rename over a path changes its inode");
});

Deno.test("cutPowerAfter fails every call from the chosen mutation until the crash", async () => {
  const disk = await diskWithDir();
  disk.cutPowerAfter(2);
  const f = await disk.open("/d/a", { write: true, create: true });
  await f.writeAt(bytes(1), 0);
  await assert.rejects(f.sync(), PowerCutError);
  await assert.rejects(disk.readFile("/d/a"), PowerCutError);
  assert.ok(disk.powerCut);
  disk.crash();
  assert.ok(!disk.powerCut);
  assert.deepEqual(await names(disk, "/d"), []);
});

Deno.test("torn crashes keep a seeded prefix of unsynced changes and never lose synced ones", async () => {
  const outcomes = new Set<string>();
  for (let seed = 1; seed <= 40; seed++) {
    const run = async () => {
      const disk = new CrashDisk({ torn: true, random: new SeededRandom(seed) });
      await disk.mkdir("/d", { recursive: true });
      await disk.syncDir("/");
      const f = await disk.open("/d/log", { write: true, create: true });
      await disk.syncDir("/d");
      await f.writeAt(bytes(1, 1, 1, 1), 0);
      await f.sync();
      await f.writeAt(bytes(2, 2, 2, 2), 4);
      await f.writeAt(bytes(3, 3, 3, 3), 8);
      disk.crash();
      return [...await disk.readFile("/d/log")].join("");
    };
    const first = await run();
    assert.equal(await run(), first, `seed ${seed} replays`);
    assert.ok("111122223333".startsWith(first) && first.startsWith("1111"), first);
    outcomes.add(first);
  }
  assert.ok(outcomes.size >= 4, `torn outcomes vary with the seed: ${[...outcomes]}`);
});
