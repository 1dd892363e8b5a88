/**
 * Tiering benchmark: catch-up read MiB/s from the Local and S3 (s3rver) backends through the
 * tiered reader, PUTs per GiB ingested across 1,000 partitions, and metadata bytes per object
 * (the object's index and footer, and its manifest entry).
 *
 * Run: `deno run -A bench/tiering_bench.ts [--mib 256]`
 *
 * @module
 */

import { systemRandom } from "../ops/random.ts";
import { parseArgs } from "node:util";
import { LocalObjectStore } from "../broker/object_store/local_object_store.ts";
import { S3ObjectStore } from "../broker/object_store/s3_object_store.ts";
import type { ObjectStore } from "../broker/object_store/object_store.ts";
import { LocalObjectManifest } from "../broker/tiering/local_object_manifest.ts";
import { BlockCache } from "../broker/tiering/block_cache.ts";
import { TieredReader } from "../broker/tiering/tiered_reader.ts";
import { Uploader } from "../broker/tiering/uploader.ts";
import { newObjectKey } from "../broker/tiering/tier_maintenance.ts";
import { appendBatches, newLog, testCache } from "../broker/tiering/tiering_test_support.ts";
import type { MetadataPersistence } from "../broker/metadata/local_metadata.ts";
import { buildBatch } from "../protocol/record/record_batch.ts";
import { silentLogger } from "../ops/logger.ts";
import { startS3rver } from "../tests/support/s3rver_server.ts";

const MIB = 1024 * 1024;

function memoryPersistence(): MetadataPersistence & { text: () => string } {
  let text: string | null = null;
  return {
    load: () => Promise.resolve(text),
    save: (t) => Promise.resolve(void (text = t)),
    text: () => text ?? "",
  };
}

/** Ingests `mib` MiB into `partitions` partitions through the uploader; returns counters. */
async function ingest(store: ObjectStore, partitions: number, mib: number, batchBytes: number) {
  const persistence = memoryPersistence();
  const manifest = await LocalObjectManifest.open(persistence);
  const cache = testCache(256 * MIB);
  const logs = Array.from(
    { length: partitions },
    (_, i) => ({ key: `t/${i}`, streamId: i + 1, log: newLog() }),
  );
  let puts = 0;
  let metadataBytes = 0;
  const counting: ObjectStore = Object.create(store);
  counting.put = (k, b, o) => (puts++, store.put(k, b, o));
  const uploader = new Uploader({
    cache,
    store: counting,
    manifest,
    partitions: () =>
      logs.map((p) => ({ key: p.key, streamId: p.streamId, highWatermark: p.log.highWatermark })),
    checkpoint: () => {},
    nowMs: () => 0,
    objectKey: (ms) => newObjectKey("bench/", ms, systemRandom),
    uploadIntervalMs: 1_000_000,
    uploadBytesTarget: 16 * MIB,
    rangeBytesMax: 8 * MIB,
    underPressure: () => false,
    inFlight: new Set(),
    logger: silentLogger,
  });
  const value = new Uint8Array(batchBytes);
  crypto.getRandomValues(value.subarray(0, Math.min(65536, batchBytes)));
  let bytes = 0;
  for (let i = 0; bytes < mib * MIB; i++) {
    const batch = await buildBatch([{ value, timestamp: i }]);
    const p = logs[i % logs.length]!;
    await appendBatches(cache, p.key, p.log, [batch]);
    bytes += batch.length;
    while (uploader.due()) {
      const r = await uploader.uploadNow();
      if (r === null) break;
      metadataBytes += r.metadataBytes;
    }
  }
  while (cache.usedBytes > 0) {
    const r = await uploader.uploadNow();
    if (r !== null) metadataBytes += r.metadataBytes;
  }
  return { manifest, logs, bytes, puts, metadataBytes, manifestText: persistence.text() };
}

/** What the reading process needs: the store, the manifest and each partition's end. */
interface ReadSpec {
  store: { kind: "local"; rootDir: string } | { kind: "s3"; options: S3Options };
  manifest: string;
  ends: [key: string, highWatermark: number][];
  bytes: number;
}

type S3Options = ConstructorParameters<typeof S3ObjectStore>[0];

function openStore(spec: ReadSpec["store"]): ObjectStore {
  return spec.kind === "local"
    ? new LocalObjectStore({ rootDir: spec.rootDir, directIo: true })
    : new S3ObjectStore(spec.options);
}

/**
 * Ingests `mib` MiB into 4 partitions, then reads it all back through the tiered reader in a
 * fresh process. The read runs apart because its speed depended on the heap the ingest left
 * behind: the same objects read at 1,150 to 1,200 MiB/s in a fresh process whichever version
 * wrote them, yet in the ingesting process at 1,300 to 2,200 MiB/s, depending on how much large
 * garbage the upload path had freed for the reader's buffers to reuse.
 */
async function catchUpRead(
  storeSpec: ReadSpec["store"],
  mib: number,
  dir: string,
): Promise<number> {
  const { manifestText, logs, bytes } = await ingest(openStore(storeSpec), 4, mib, MIB);
  const spec: ReadSpec = {
    store: storeSpec,
    manifest: manifestText,
    ends: logs.map((p) => [p.key, p.log.highWatermark]),
    bytes,
  };
  const specPath = `${dir}/read-spec.json`;
  await Deno.writeTextFile(specPath, JSON.stringify(spec));
  const script = new URL(import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", script, "--read", specPath],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`the reading process failed (exit ${out.code})`);
  return Number(new TextDecoder().decode(out.stdout).trim());
}

/** The reading process: prints catch-up read MiB/s for the spec at `specPath`. */
async function readBack(specPath: string): Promise<void> {
  const spec: ReadSpec = JSON.parse(await Deno.readTextFile(specPath));
  const persistence = memoryPersistence();
  await persistence.save(spec.manifest);
  const manifest = await LocalObjectManifest.open(persistence);
  const reader = new TieredReader(manifest, openStore(spec.store), new BlockCache(64 * MIB));
  const t0 = performance.now();
  let read = 0;
  for (const [key, end] of spec.ends) {
    let offset = 0;
    while (offset < end) {
      const r = (await reader.read(key, offset, 4 * MIB))!;
      read += r.sizeBytes;
      offset = r.nextOffset;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  if (read !== spec.bytes) throw new Error(`read ${read} of ${spec.bytes} bytes`);
  console.log(read / MIB / seconds);
}

/** Runs the benchmark and prints its table. */
export async function main(args: string[] = []): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { mib: { type: "string", default: "256" }, read: { type: "string" } },
  });
  if (values.read !== undefined) return await readBack(values.read);
  const mib = Number(values.mib);
  const dir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "rustmq-tier-bench-" });
  const s3 = await startS3rver();
  try {
    const local = { kind: "local", rootDir: `${dir}/objects` } as const;
    const s3store = {
      kind: "s3",
      options: {
        bucket: s3.bucket,
        endpoint: s3.endpoint,
        forcePathStyle: true,
        region: "us-east-1",
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
      },
    } as const;
    const localMibs = await catchUpRead(local, mib, dir);
    const s3Mibs = await catchUpRead(s3store, Math.min(mib, 128), dir);
    const spread = await ingest(openStore(local), 1000, mib, 4096);
    const rows = [
      { metric: "catch-up read, Local", value: localMibs.toFixed(0), unit: "MiB/s" },
      { metric: "catch-up read, S3 (s3rver)", value: s3Mibs.toFixed(0), unit: "MiB/s" },
      {
        metric: "PUTs per GiB (1,000 partitions, 16 MiB target)",
        value: (spread.puts / (spread.bytes / 1024 / MIB)).toFixed(1),
        unit: "PUTs",
      },
      {
        metric: "object index+footer per object",
        value: (spread.metadataBytes / spread.puts).toFixed(0),
        unit: "bytes",
      },
      {
        metric: "manifest bytes per object",
        value: (spread.manifestText.length / spread.puts).toFixed(0),
        unit: "bytes",
      },
    ];
    console.table(rows);
  } finally {
    await s3.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main(Deno.args);
