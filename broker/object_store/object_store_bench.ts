/**
 * Catch-up read benchmark: how fast a consumer far behind the head can stream history out of
 * an `ObjectStore` with sequential ranged GETs, which is what the fetch path does on a
 * block-cache miss. Not a test: it prints figures.
 *
 * Run `deno run -A --unstable-net broker/object_store/object_store_bench.ts` for Local and S3
 * (s3rver in a child process) figures.
 *
 * @module
 */
import type { ObjectStore } from "./object_store.ts";

/** Options for {@linkcode measureSequentialRangedReads}. */
export interface RangedReadBenchOptions {
  /**
   * Size of the object written and then read back.
   * @default {64 MiB}
   */
  objectBytes?: number;
  /**
   * Size of each ranged GET.
   * @default {1 MiB}
   */
  rangeBytes?: number;
  /**
   * How many times the whole object is read.
   * @default {2}
   */
  passes?: number;
  /**
   * Ranged GETs in flight at once (1 is strictly sequential; a fetch path may read ahead).
   * @default {1}
   */
  readAhead?: number;
  /**
   * The key written for the benchmark (deleted afterwards).
   * @default {"bench/ranged-read"}
   */
  key?: string;
  /**
   * Milliseconds clock.
   * @default {performance.now}
   */
  now?: () => number;
}

/** The outcome of a run. */
export interface RangedReadBenchResult {
  /** Bytes read in all passes. */
  bytesRead: number;
  /** Ranged GETs issued. */
  reads: number;
  /** Wall time of the reads, without the initial put. */
  elapsedMs: number;
  /** bytesRead / elapsed, in MiB/s. */
  mibPerSecond: number;
  /** Average latency of one ranged GET. */
  meanReadMs: number;
}

/**
 * Writes one object, then reads it back in `rangeBytes` ranges, in order, `passes` times, and
 * reports the throughput. Every range is checked for length, so a short read cannot inflate
 * the figure.
 *
 * @example
 * ```ts
 * import { measureSequentialRangedReads } from "./object_store_bench.ts";
 * import { MemoryObjectStore } from "./memory_object_store.ts";
 * const result = await measureSequentialRangedReads(new MemoryObjectStore(), {
 *   objectBytes: 1 << 20, rangeBytes: 1 << 16, passes: 1,
 * });
 * console.assert(result.reads === 16);
 * ```
 */
export async function measureSequentialRangedReads(
  store: ObjectStore,
  options: RangedReadBenchOptions = {},
): Promise<RangedReadBenchResult> {
  const objectBytes = options.objectBytes ?? 64 << 20;
  const rangeBytes = options.rangeBytes ?? 1 << 20;
  const passes = options.passes ?? 2;
  const readAhead = options.readAhead ?? 1;
  const key = options.key ?? "bench/ranged-read";
  const now = options.now ?? (() => performance.now());
  for (
    const [name, value] of [["objectBytes", objectBytes], ["rangeBytes", rangeBytes], [
      "passes",
      passes,
    ], ["readAhead", readAhead]] as const
  ) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`Cannot benchmark with ${name} ${value} as it must be an integer >= 1`);
    }
  }
  const payload = new Uint8Array(objectBytes);
  crypto.getRandomValues(payload.subarray(0, Math.min(objectBytes, 65536)));
  await store.put(key, payload);
  const starts: number[] = [];
  for (let start = 0; start < objectBytes; start += rangeBytes) starts.push(start);
  let bytesRead = 0;
  const began = now();
  for (let pass = 0; pass < passes; pass += 1) {
    for (let i = 0; i < starts.length; i += readAhead) {
      const batch = starts.slice(i, i + readAhead).map(async (start) => {
        const end = Math.min(start + rangeBytes, objectBytes) - 1;
        const bytes = await store.get(key, { range: { start, end } });
        if (bytes.length !== end - start + 1) {
          throw new Error(`Range ${start}-${end} returned ${bytes.length} bytes`);
        }
        return bytes.length;
      });
      for (const length of await Promise.all(batch)) bytesRead += length;
    }
  }
  const elapsedMs = now() - began;
  await store.delete(key);
  const reads = starts.length * passes;
  return {
    bytesRead,
    reads,
    elapsedMs,
    mibPerSecond: bytesRead / (1 << 20) / (elapsedMs / 1000),
    meanReadMs: elapsedMs / reads,
  };
}

async function _main(): Promise<void> {
  const { LocalObjectStore } = await import("./local_object_store.ts");
  const { S3ObjectStore } = await import("./s3_object_store.ts");
  const { startS3rver } = await import("../../tests/support/s3rver_server.ts");
  const rootDir = await Deno.makeTempDir({ prefix: "rustmq-bench-" });
  const s3 = await startS3rver();
  const stores: [string, ObjectStore][] = [
    ["Local", new LocalObjectStore({ rootDir })],
    [
      "S3 (s3rver)",
      new S3ObjectStore({
        bucket: s3.bucket,
        endpoint: s3.endpoint,
        forcePathStyle: true,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
      }),
    ],
  ];
  try {
    for (const [name, store] of stores) {
      for (const readAhead of [1, 4]) {
        const result = await measureSequentialRangedReads(store, { readAhead });
        console.log(
          `${name.padEnd(12)} 1 MiB ranges, read-ahead ${readAhead}: ` +
            `${result.mibPerSecond.toFixed(1)} MiB/s, ${result.meanReadMs.toFixed(2)} ms/read ` +
            `(${result.reads} reads)`,
        );
      }
      await store.close();
    }
  } finally {
    await s3.stop();
    await Deno.remove(rootDir, { recursive: true });
  }
}

if (import.meta.main) await _main();
