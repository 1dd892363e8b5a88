/**
 * One suite, run against every real backend: portable, direct I/O through io_uring, and direct
 * I/O through pwrite. A backend that cannot run here is skipped with the reason printed.
 */
import assert from "node:assert/strict";
import { Wal, type WalOptions } from "./wal.ts";
import { FfiBackend } from "./wal_ffi_backend.ts";
import { segmentFileName } from "./wal_format.ts";
import { WalDiskFullError } from "./wal_errors.ts";
import { DiskWalBackend } from "./wal_disk_backend.ts";
import { systemDisk } from "../../ops/disk.ts";

const SEGMENT = 64 * 1024;

interface BackendCase {
  name: string;
  options: Partial<WalOptions>;
  skip: string | null;
}

function _ffiSkip(engine: "io_uring" | "pwrite"): string | null {
  const dir = Deno.makeTempDirSync();
  try {
    const opened = FfiBackend.open(dir, { engine });
    if ("reason" in opened) return opened.reason;
    opened.backend.close();
    return null;
  } catch (error) {
    return `${error}`;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const CASES: BackendCase[] = [
  { name: "portable", options: { backend: "portable" }, skip: null },
  // The power-cut tests' backend (wal_powercut_test.ts), here on the real disk.
  { name: "disk-seam", options: { backend: new DiskWalBackend(systemDisk) }, skip: null },
  {
    name: "ffi-io_uring",
    options: { backend: "ffi", ffi: { engine: "io_uring" } },
    skip: _ffiSkip("io_uring"),
  },
  {
    name: "ffi-pwrite",
    options: { backend: "ffi", ffi: { engine: "pwrite" } },
    skip: _ffiSkip("pwrite"),
  },
];

function conformance(
  name: string,
  fn: (
    open: (extra?: Partial<WalOptions>) => ReturnType<typeof Wal.open>,
    dir: string,
  ) => Promise<void>,
) {
  for (const backend of CASES) {
    if (backend.skip !== null) {
      console.log(`skipping "${name}" on ${backend.name}: ${backend.skip}`);
    }
    Deno.test({
      name: `Wal[${backend.name}] ${name}`,
      ignore: backend.skip !== null,
      fn: async () => {
        const dir = await Deno.makeTempDir({ prefix: "rustmq-wal-" });
        const open = (extra: Partial<WalOptions> = {}) =>
          Promise.resolve(Wal.open({
            path: dir,
            segmentSizeBytes: SEGMENT,
            capacityBytes: 16 * SEGMENT,
            ...backend.options,
            ...extra,
          }));
        try {
          await fn(open, dir);
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      },
    });
  }
}

const bytesOf = (stream: number, i: number, length: number) =>
  new Uint8Array(length).map((_, k) => (stream * 31 + i * 7 + k) & 0xff);

conformance(
  "returns appends of concurrent writers intact and in order after reopen",
  async (open) => {
    const names: string[] = [];
    const logger = {
      info: (m: string, f?: Record<string, unknown>) => names.push(`${m} ${f?.backend ?? ""}`),
    };
    const { wal } = await open({ logger });
    const acked: { seq: number; stream: number; i: number }[] = [];
    await Promise.all(Array.from({ length: 16 }, async (_, stream) => {
      for (let i = 0; i < 20; i++) {
        const { seq } = await wal.append(stream, BigInt(i), bytesOf(stream, i, 100 + stream * 50));
        acked.push({ seq, stream, i });
      }
    }));
    const backendName = wal.backendName;
    await wal.close();
    assert.ok(
      names.some((line) => line.startsWith("WAL backend selected") && line.endsWith(backendName)),
    );
    const { wal: again, recovered } = await open();
    assert.equal(recovered.length, 320);
    assert.deepEqual(recovered.map((e) => e.seq), Array.from({ length: 320 }, (_, k) => k + 1));
    acked.sort((a, b) => a.seq - b.seq);
    recovered.forEach((entry, k) => {
      const { stream, i } = acked[k]!;
      assert.equal(entry.streamId, stream);
      assert.equal(entry.baseOffset, BigInt(i));
      assert.deepEqual(entry.payload, bytesOf(stream, i, 100 + stream * 50));
    });
    await again.close();
  },
);

conformance("rolls segments over and deletes checkpointed ones from disk", async (open, dir) => {
  const { wal } = await open({ bufferSize: 8192 });
  for (let i = 0; i < 40; i++) await wal.append(i < 20 ? 1 : 2, BigInt(i), bytesOf(1, i, 6000));
  const before = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("wal-"));
  assert.ok(before.length >= 4, `only ${before.length} segments`);
  wal.checkpoint(1, 20n);
  await wal.append(2, 40n, bytesOf(2, 40, 10)); // lets the background reclaim finish
  await new Promise((resolve) => setTimeout(resolve, 50));
  const after = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("wal-"));
  assert.ok(after.length < before.length, `${after.length} >= ${before.length}`);
  assert.ok(!after.includes(segmentFileName(1)));
  await wal.close();
  const { wal: again, recovered } = await open({ bufferSize: 8192 });
  assert.ok(recovered.every((e, k, all) => k === 0 || e.seq === all[k - 1]!.seq + 1));
  assert.deepEqual(recovered.at(-1)?.baseOffset, 40n);
  assert.ok(recovered.filter((e) => e.streamId === 2).length === 21);
  await again.close();
});

conformance("cuts a torn tail found on disk and keeps appending after it", async (open, dir) => {
  const { wal } = await open();
  for (let i = 0; i < 5; i++) await wal.append(3, BigInt(i), bytesOf(3, i, 1000));
  await wal.close();
  const path = `${dir}/${segmentFileName(1)}`;
  const bytes = await Deno.readFile(path);
  const lastWrite = 4096 * 5; // header block, then one 4 KiB commit per 1000-byte append
  bytes.fill(0xee, lastWrite + 500, lastWrite + 4096);
  await Deno.writeFile(path, bytes);
  const { wal: again, recovered } = await open();
  assert.deepEqual(recovered.map((e) => e.baseOffset), [0n, 1n, 2n, 3n]);
  assert.deepEqual(await again.append(3, 4n, bytesOf(3, 4, 10)), { seq: 5 });
  await again.close();
  const { wal: third, recovered: all } = await open();
  assert.deepEqual(all.map((e) => e.seq), [1, 2, 3, 4, 5]);
  await third.close();
});

conformance("acknowledges without fsync and flushes on an interval", async (open) => {
  const { wal } = await open({ fsyncOnWrite: false, flushIntervalMs: 5 });
  await Promise.all(
    Array.from({ length: 50 }, (_, i) => wal.append(1, BigInt(i), bytesOf(1, i, 200))),
  );
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.ok(wal.stats.syncs >= 1);
  await wal.close();
  const { wal: again, recovered } = await open();
  assert.equal(recovered.length, 50);
  await again.close();
});

Deno.test({
  name: "Wal[portable] surfaces a real ENOSPC (/dev/full) as WalDiskFullError and recovers",
  // /dev/full, the only way to get a real ENOSPC here, exists only on Linux.
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "rustmq-wal-enospc-" });
    try {
      const options: WalOptions = {
        path: dir,
        backend: "portable",
        segmentSizeBytes: SEGMENT,
        capacityBytes: 16 * SEGMENT,
        spareSegment: false,
      };
      const { wal } = await Wal.open(options);
      // The first segment "file" is the full device: every write to it fails with ENOSPC.
      await Deno.symlink("/dev/full", `${dir}/${segmentFileName(1)}`);
      await assert.rejects(wal.append(1, 0n, bytesOf(1, 0, 100)), (error: unknown) => {
        assert.ok(error instanceof WalDiskFullError, `${error}`);
        assert.equal(error.retriable, true);
        assert.equal((error.cause as { code?: string }).code, "ENOSPC");
        return true;
      });
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(await wal.append(1, 0n, bytesOf(1, 0, 100)), { seq: 1 });
      await wal.close();
      const { wal: again, recovered } = await Wal.open(options);
      assert.deepEqual(recovered.map((e) => e.seq), [1]);
      await again.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

conformance("round-trips large entries written as two parts", async (open) => {
  const big = { segmentSizeBytes: 4 << 20, capacityBytes: 64 << 20, bufferSize: 1 << 20 };
  const { wal } = await open(big);
  const sizes = [300_000, 1 << 20, 700_001, 262_144];
  await Promise.all(sizes.map((size, i) => wal.append(5, BigInt(i), bytesOf(5, i, size))));
  await wal.close();
  const { wal: again, recovered } = await open(big);
  assert.equal(recovered.length, sizes.length);
  for (const entry of recovered) {
    const i = Number(entry.baseOffset);
    assert.deepEqual(entry.payload, bytesOf(5, i, sizes[i]!));
  }
  await again.close();
});
