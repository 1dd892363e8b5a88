/**
 * The latency floor of a durable produce on this disk: paced 4 KiB O_DIRECT|O_DSYNC writes (what
 * the WAL issues for a small acks=1 batch), timed one by one, printed as JSON. A produce with
 * fsync on cannot be acknowledged before such a write completes, so an e2e or one-outstanding
 * latency percentile is read next to this one, measured in the same run on the same disk.
 *
 * Run: `deno run -A bench/disk_latency.ts [--dir DIR] [--writes 10000] [--gap-ms 0.2] [--bytes 4096]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { AlignedBuffer, DIRECT_IO_ALIGNMENT, DirectFile } from "../ffi/mod.ts";
import { loadLibc } from "../ffi/libc.ts";

/** Percentiles of one run, in milliseconds. */
export interface DiskLatency {
  writes: number;
  bytes: number;
  gap_ms: number;
  latency_ms: { p50: number; p90: number; p99: number; p999: number; max: number };
}

/** Writes `writes` blocks of `bytes` into a new file in `dir`, `gapMs` apart, and times each. */
export async function measureDiskLatency(
  dir: string,
  writes: number,
  gapMs: number,
  bytes: number,
): Promise<DiskLatency> {
  if (bytes % DIRECT_IO_ALIGNMENT !== 0) {
    throw new RangeError(
      `--bytes must be a multiple of ${DIRECT_IO_ALIGNMENT}: current value is ${bytes}`,
    );
  }
  const libc = loadLibc();
  if (libc === null) throw new Error("the disk probe needs Linux glibc and --allow-ffi");
  const path = `${dir}/.rustmq-disk-latency-${Deno.pid}`;
  const file = DirectFile.open(libc, path, { create: true, dsync: true });
  using buffer = AlignedBuffer.allocate(libc, bytes);
  buffer.bytes.fill(0x61);
  const samples = new Float64Array(writes);
  try {
    let due = performance.now();
    for (let i = 0; i < writes; i++) {
      // Paced like a 5,000 records/s producer: an idle-then-write disk, not a saturated one.
      due += gapMs;
      const ahead = due - performance.now();
      if (ahead >= 1) await new Promise((r) => setTimeout(r, ahead));
      const start = performance.now();
      // Wraps within 64 MiB so the file stays small.
      await file.pwrite(buffer, bytes, (i * bytes) % (64 * 1024 * 1024));
      samples[i] = performance.now() - start;
    }
  } finally {
    file.close();
    await Deno.remove(path).catch(() => {});
  }
  samples.sort();
  const at = (q: number) => samples[Math.min(writes - 1, Math.floor(q * writes))]!;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    writes,
    bytes,
    gap_ms: gapMs,
    latency_ms: {
      p50: round(at(0.5)),
      p90: round(at(0.9)),
      p99: round(at(0.99)),
      p999: round(at(0.999)),
      max: round(samples[writes - 1]!),
    },
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      dir: { type: "string", default: "/var/tmp" },
      writes: { type: "string", default: "10000" },
      "gap-ms": { type: "string", default: "0.2" },
      bytes: { type: "string", default: "4096" },
    },
  });
  const result = await measureDiskLatency(
    values.dir,
    Number(values.writes),
    Number(values["gap-ms"]),
    Number(values.bytes),
  );
  console.log(JSON.stringify(result));
}
