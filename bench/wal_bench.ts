/**
 * WAL benchmark: appends/s, MiB/s and p50/p99 append latency with fsync on, for 1 KiB appends
 * from 64 concurrent writers and for 1 MiB appends, on every backend available, next to a raw
 * `dd ... oflag=direct,dsync` figure measured in the same run on the same directory.
 *
 * Run: `deno run -A bench/wal_bench.ts [--dir /var/tmp] [--backend ffi|portable]`.
 * Use a directory on a real disk (not tmpfs): the point is durable-write speed.
 *
 * Each case opens a fresh WAL and waits for its zero-filled spare segment before measuring, so
 * the figures are for appends into preallocated segments. Zero-filling the next segment runs in
 * the background during a run only when a case crosses a segment (the `sustained` row).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Wal, type WalOptions } from "../broker/wal/wal.ts";

/** One result line. */
export interface Row {
  /** Case, e.g. `"1KiB x64 writers"`. */
  case: string;
  /** Backend that ran it (`"dd"` for the raw figure). */
  backend: string;
  /** Appends acknowledged per second. */
  appendsPerSec: number;
  /** Payload MiB acknowledged per second. */
  mibPerSec: number;
  /** Median append latency. */
  p50Ms: number;
  /** 99th percentile append latency. */
  p99Ms: number;
  /** Group-commit writes issued. */
  writes: number;
  /** Fraction of written bytes that were block padding. */
  paddingShare: number;
}

/** Options of {@linkcode walBench}. */
export interface WalBenchOptions {
  /** Parent directory on the disk under test. @default "/var/tmp" */
  dir?: string;
  /** Backends to run. @default ["ffi", "portable"] */
  backends?: ("ffi" | "portable")[];
  /** Payload MiB per 1 KiB case. @default 256 */
  smallMiB?: number;
  /** Payload MiB per 1 MiB case. @default 512 */
  largeMiB?: number;
  /** Skip the dd row. @default false */
  skipDd?: boolean;
}

interface Case {
  name: string;
  payloadBytes: number;
  writers: number;
  totalBytes: number;
  wal: Partial<WalOptions>;
}

/**
 * Runs the benchmark and returns one row per case and backend, plus the dd row.
 *
 * @example
 * ```ts ignore
 * import { walBench } from "./wal_bench.ts";
 * console.table(await walBench({ smallMiB: 16, largeMiB: 64 }));
 * ```
 */
export async function walBench(opts: WalBenchOptions = {}): Promise<Row[]> {
  const parent = opts.dir ?? "/var/tmp";
  const small = (opts.smallMiB ?? 256) << 20;
  const large = (opts.largeMiB ?? 512) << 20;
  const cases: Case[] = [
    { name: "1KiB x64 writers", payloadBytes: 1024, writers: 64, totalBytes: small, wal: {} },
    {
      name: "1MiB x1 writer",
      payloadBytes: 1 << 20,
      writers: 1,
      totalBytes: large,
      wal: { bufferSize: 4 << 20 },
    },
    {
      name: "1MiB x4 writers",
      payloadBytes: 1 << 20,
      writers: 4,
      totalBytes: large,
      wal: { bufferSize: 4 << 20 },
    },
    {
      name: "1MiB x4 sustained (64 MiB segments)",
      payloadBytes: 1 << 20,
      writers: 4,
      totalBytes: large,
      wal: { bufferSize: 4 << 20, segmentSizeBytes: 64 << 20 },
    },
  ];
  const rows: Row[] = [];
  // dd runs before and after: the disk here is shared, and one figure alone can mislead.
  if (!(opts.skipDd ?? false)) rows.push(await _dd(parent, "before"));
  for (const backend of opts.backends ?? ["ffi", "portable"]) {
    for (const c of cases) rows.push(await _runCase(parent, backend, c));
  }
  if (!(opts.skipDd ?? false)) rows.push(await _dd(parent, "after"));
  return rows;
}

async function _runCase(parent: string, backend: "ffi" | "portable", c: Case): Promise<Row> {
  const path = await Deno.makeTempDir({ dir: parent, prefix: "rustmq-wal-bench-" });
  try {
    const options: WalOptions = {
      path,
      backend,
      segmentSizeBytes: 1 << 30,
      capacityBytes: 16 * 2 ** 30,
      ...c.wal,
    };
    // Open once to let the spare segment be zero-filled, then reopen: the first segment of the
    // measured run is that preallocated spare, as in a WAL that has been running for a while.
    const warm = await Wal.open(options);
    await _waitForSpare(path);
    await warm.wal.close();
    const { wal } = await Wal.open(options);
    const result = await _drive(wal, c);
    await wal.close();
    return { case: c.name, backend: wal.backendName, ...result };
  } finally {
    await Deno.remove(path, { recursive: true });
  }
}

async function _waitForSpare(path: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      await Deno.stat(`${path}/spare.ready`);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function _drive(wal: Wal, c: Case) {
  const payload = new Uint8Array(c.payloadBytes).map((_, i) => i * 13);
  const perWriter = Math.max(1, Math.floor(c.totalBytes / c.payloadBytes / c.writers));
  const latencies = new Float64Array(perWriter * c.writers);
  let n = 0;
  const startWrites = wal.stats.writes;
  const startPadding = wal.stats.paddingBytes, startBytes = wal.stats.bytesWritten;
  const start = performance.now();
  await Promise.all(Array.from({ length: c.writers }, async (_, writer) => {
    for (let i = 0; i < perWriter; i++) {
      const t = performance.now();
      await wal.append(writer, BigInt(i), payload);
      latencies[n++] = performance.now() - t;
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort();
  const stats = wal.stats;
  return {
    appendsPerSec: Math.round(n / seconds),
    mibPerSec: Math.round((n * c.payloadBytes) / seconds / 2 ** 20),
    p50Ms: _round(latencies[Math.floor(n * 0.5)]!),
    p99Ms: _round(latencies[Math.floor(n * 0.99)]!),
    writes: stats.writes - startWrites,
    paddingShare: _round(
      (stats.paddingBytes - startPadding) / Math.max(1, stats.bytesWritten - startBytes),
    ),
  };
}

/** The raw durable-write figure of this disk, from dd with 1 MiB direct, dsync writes. */
async function _dd(parent: string, when: string): Promise<Row> {
  const path = await Deno.makeTempDir({ dir: parent, prefix: "rustmq-wal-dd-" });
  try {
    const out = await new Deno.Command("dd", {
      args: ["if=/dev/zero", `of=${path}/ddtest`, "bs=1M", "count=512", "oflag=direct,dsync"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stderr);
    // e.g. "536870912 bytes (537 MB, 512 MiB) copied, 0.452 s, 1.2 GB/s"
    const match = /(\d+) bytes .*copied, ([\d.]+) s/.exec(text);
    if (!out.success || match === null) throw new Error(`dd failed: ${text}`);
    const bytes = Number(match[1]), seconds = Number(match[2]);
    return {
      case: `dd bs=1M count=512 oflag=direct,dsync (${when})`,
      backend: "dd",
      appendsPerSec: Math.round(bytes / 2 ** 20 / seconds),
      mibPerSec: Math.round(bytes / 2 ** 20 / seconds),
      p50Ms: _round((seconds * 1000) / (bytes / 2 ** 20)),
      p99Ms: NaN,
      writes: bytes / 2 ** 20,
      paddingShare: 0,
    };
  } finally {
    await Deno.remove(path, { recursive: true });
  }
}

function _round(x: number): number {
  return Math.round(x * 100) / 100;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      dir: { type: "string", default: "/var/tmp" },
      backend: { type: "string", multiple: true },
      "small-mib": { type: "string", default: "256" },
      "large-mib": { type: "string", default: "512" },
    },
  });
  const backends = (values.backend ?? ["ffi", "portable"]) as ("ffi" | "portable")[];
  const rows = await walBench({
    dir: values.dir,
    backends,
    smallMiB: Number(values["small-mib"]),
    largeMiB: Number(values["large-mib"]),
  });
  console.table(rows);
  const dd = rows.find((r) => r.backend === "dd");
  for (const row of rows) {
    if (dd !== undefined && row.case.startsWith("1MiB") && row.backend.startsWith("ffi")) {
      console.log(
        `${row.case} ${row.backend}: ${Math.round((row.mibPerSec / dd.mibPerSec) * 100)}% of dd`,
      );
    }
  }
}
