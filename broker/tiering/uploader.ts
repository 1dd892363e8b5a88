/**
 * The uploader moves durable data from the log cache into object storage. It packs the pending
 * batches of every partition into one object (so the number of PUTs depends on bytes and time,
 * never on how many partitions there are), writes it, commits its ranges to the manifest, and
 * only then checkpoints the WAL and releases the cache. A crash between any two steps is safe:
 * an object written but not committed is an orphan that garbage collection deletes, and data
 * committed but not checkpointed is skipped on recovery because the manifest says it is stored.
 *
 * It uploads when `wal.upload_interval_ms` has passed since the last upload, when
 * `object_storage.upload_bytes_target` bytes are pending, or early when the WAL or cache is
 * under pressure. Time is injected; {@linkcode Uploader.tick} does one decision.
 *
 * @module
 */

import { readBatchHeader } from "../../protocol/record/record_batch.ts";
import type { LogCache } from "../log/log_cache.ts";
import type { ObjectStore } from "../object_store/object_store.ts";
import type { ObjectManifest } from "../../model/object_manifest.ts";
import { type PackInput, packObjectParts } from "./stream_object.ts";
import type { Logger } from "../../ops/logger.ts";
import { failpoint } from "../../ops/failpoints.ts";

/** A partition the uploader may upload from. */
export interface UploadablePartition {
  readonly key: string;
  readonly streamId: number;
  /** Offsets below this are durable (and replicated) and may be uploaded. */
  readonly highWatermark: number;
}

/** Options of {@linkcode Uploader}. */
export interface UploaderOptions {
  readonly cache: LogCache;
  readonly store: ObjectStore;
  readonly manifest: ObjectManifest;
  readonly partitions: () => Iterable<UploadablePartition>;
  /** Marks WAL data of a stream below `offset` as safe to drop. */
  readonly checkpoint: (streamId: number, offset: number) => void;
  readonly nowMs: () => number;
  /** The key for a new object created at `createdMs`. */
  readonly objectKey: (createdMs: number) => string;
  /** Upload at least this often while data is pending (`wal.upload_interval_ms`). */
  readonly uploadIntervalMs: number;
  /** Upload as soon as this many bytes are pending; also the object size aimed for. */
  readonly uploadBytesTarget: number;
  /** Largest range of one partition in one object, so a ranged GET stays bounded. */
  readonly rangeBytesMax: number;
  /** True when the WAL or cache is filling up and uploads should not wait. */
  readonly underPressure: () => boolean;
  /** Keys of objects written but not yet committed; garbage collection leaves them alone. */
  readonly inFlight: Set<string>;
  /**
   * Objects written at once (`object_storage.max_concurrent_uploads`). One PUT at a time holds
   * ingest to one object per PUT latency. @default 1
   */
  readonly maxUploadsInFlight?: number;
  readonly logger: Logger;
}

/** What one upload did. */
export interface UploadResult {
  readonly objectKey: string;
  readonly sizeBytes: number;
  readonly metadataBytes: number;
  readonly ranges: number;
}

/** Counters for metrics and benchmarks. */
export interface UploaderStats {
  uploads: number;
  uploadedBytes: number;
  failures: number;
}

/** One upload between collecting its batches and committing them. */
interface _Upload {
  readonly parts: readonly (PackInput & { streamId: number })[];
  readonly bytes: number;
  /** The settling of the upload started before this one, which commits first. */
  readonly previous: Promise<boolean>;
  /** Settles this upload: committed (true) or gave up (false). */
  readonly settle: (ok: boolean) => void;
}

/**
 * Decides when to upload, and uploads. Up to `maxUploadsInFlight` objects are written at once,
 * each from batches no other upload claimed, and they commit to the manifest in the order they
 * started, so a partition's uploaded end only ever moves over contiguous data. When one fails,
 * the uploads started after it commit nothing (their objects are orphans that garbage
 * collection removes), and no new one starts until all in flight have settled; the next then
 * collects again from the manifest's uploaded end.
 */
export class Uploader {
  readonly #o: UploaderOptions;
  readonly #maxInFlight: number;
  #lastUploadMs: number;
  /** Uploads between collect and commit, in start order. */
  readonly #inFlight = new Set<Promise<UploadResult | null>>();
  /** Per partition, the end of the batches in-flight uploads have claimed. */
  readonly #claimedEnd = new Map<string, number>();
  #claimedBytes = 0;
  /** Where the next upload starts collecting, as an index into `partitions()`. */
  #cursor = 0;
  /** The settling of the most recently started upload: the next commits after it. */
  #lastSettled: Promise<boolean> = Promise.resolve(true);
  /** Set by a failure; no upload starts until the ones in flight have settled. */
  #recovering = false;
  #draining: Promise<UploadResult | null> | null = null;
  #stopped = false;
  readonly stats: UploaderStats = { uploads: 0, uploadedBytes: 0, failures: 0 };
  #failingSinceMs: number | null = null;
  #lastError: Error | null = null;

  constructor(options: UploaderOptions) {
    if (options.rangeBytesMax <= 0 || options.uploadBytesTarget <= 0) {
      throw new RangeError("Cannot create an uploader with non-positive size limits");
    }
    const maxInFlight = options.maxUploadsInFlight ?? 1;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
      throw new RangeError(
        `Cannot create an uploader with maxUploadsInFlight ${maxInFlight}: it must be a positive integer`,
      );
    }
    this.#o = options;
    this.#maxInFlight = maxInFlight;
    this.#lastUploadMs = options.nowMs();
  }

  /**
   * Since when (`nowMs`) uploads have failed, with the last error; null once one succeeds.
   * While it lasts, the WAL fills with what cannot be uploaded.
   */
  get failing(): { sinceMs: number; error: Error } | null {
    return this.#failingSinceMs === null
      ? null
      : { sinceMs: this.#failingSinceMs, error: this.#lastError! };
  }

  /** Uploads running now (written, or being written, and not yet committed). */
  get uploadsInFlight(): number {
    return this.#inFlight.size;
  }

  /** Whether an upload is due now: pending bytes no upload in flight has claimed. */
  due(): boolean {
    const pending = this.#o.cache.usedBytes - this.#claimedBytes;
    if (pending <= 0) return false;
    return pending >= this.#o.uploadBytesTarget || this.#o.underPressure() ||
      this.#o.nowMs() - this.#lastUploadMs >= this.#o.uploadIntervalMs;
  }

  /**
   * Uploads if due. While each upload fills a whole object (`uploadBytesTarget`) and more is
   * due, the next starts at once instead of on the next tick, up to `maxUploadsInFlight` at a
   * time: one object per tick capped ingest at `uploadBytesTarget` per tick interval (16 MiB
   * per 100 ms, 160 MiB/s), and one object at a time at one PUT's latency (16 MiB per 80 to
   * 140 ms on a local disk busy with the WAL). Only full objects continue, so PUTs stay bounded
   * by bytes (one per target's worth), never by time. Failures are logged and counted.
   * Resolves, once every upload it started has settled, to the last one's result.
   */
  async tick(): Promise<UploadResult | null> {
    if (this.#draining !== null || this.#stopped || this.#recovering || !this.due()) {
      return null;
    }
    const draining = this.#drain();
    this.#draining = draining;
    try {
      return await draining;
    } finally {
      this.#draining = null;
    }
  }

  /** Lets the uploads a running {@linkcode Uploader.tick} started finish, and starts no more. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#draining;
  }

  async #drain(): Promise<UploadResult | null> {
    const started: Promise<UploadResult | null>[] = [];
    do {
      while (this.#inFlight.size >= this.#maxInFlight) await this.#oneSettled();
      if (this.#stopped || this.#recovering) break;
      const upload = this.#start();
      if (upload === null) break;
      started.push(upload.result.catch((err) => this.#onFailure(err)));
      if (upload.bytes < this.#o.uploadBytesTarget) break;
    } while (!this.#stopped && this.due());
    let last: UploadResult | null = null;
    for (const r of await Promise.all(started)) if (r !== null) last = r;
    return last;
  }

  /** Resolves when any upload in flight settles, whether it succeeded or not. */
  #oneSettled(): Promise<unknown> {
    return Promise.race([...this.#inFlight].map((u) => u.catch(() => null)));
  }

  #onFailure(err: unknown): null {
    this.stats.failures++;
    this.#lastError = err instanceof Error ? err : new Error(String(err));
    if (this.#failingSinceMs === null) {
      this.#failingSinceMs = this.#o.nowMs();
      this.#o.logger.warn("object store unreachable: uploads fail and the WAL holds the data", {
        err: this.#lastError,
      });
    }
    this.#o.logger.warn("upload failed; the WAL keeps the data and the next tick retries", {
      err: err as Error,
    });
    return null;
  }

  /**
   * Uploads what is pending now and no upload has claimed (up to one object's worth), whatever
   * the triggers say, and resolves once it has committed. With nothing unclaimed, it waits for
   * the uploads in flight instead, so a caller looping until some offset is stored makes
   * progress rather than spinning. Rejects with the upload's error.
   */
  async uploadNow(): Promise<UploadResult | null> {
    while (this.#recovering && this.#inFlight.size > 0) await this.#oneSettled();
    const upload = this.#start();
    if (upload !== null) return await upload.result;
    let last: UploadResult | null = null;
    for (const r of await Promise.allSettled([...this.#inFlight])) {
      if (r.status === "fulfilled" && r.value !== null) last = r.value;
    }
    return last;
  }

  /**
   * Claims the unclaimed pending batches (up to one object's worth) and starts their upload;
   * null when there are none.
   */
  #start(): { result: Promise<UploadResult | null>; bytes: number } | null {
    const upload = this.#collectUpload();
    if (upload === null) {
      if (this.#inFlight.size === 0) this.#lastUploadMs = this.#o.nowMs();
      return null;
    }
    for (const part of upload.parts) this.#claimedEnd.set(part.key, part.lastOffset + 1);
    this.#claimedBytes += upload.bytes;
    const result = this.#upload(upload);
    const tracked = result.finally(() => {
      this.#inFlight.delete(tracked);
      if (this.#inFlight.size === 0) {
        this.#claimedEnd.clear();
        this.#claimedBytes = 0;
        this.#recovering = false;
        // Nothing is in flight: a failure before now leaves no gap for the next upload.
        this.#lastSettled = Promise.resolve(true);
      }
    });
    tracked.catch(() => {}); // Observed by the caller of #start.
    this.#inFlight.add(tracked);
    return { result: tracked, bytes: upload.bytes };
  }

  #collectUpload(): _Upload | null {
    if (this.#recovering) return null;
    const parts: (PackInput & { streamId: number })[] = [];
    let total = 0;
    // Each upload starts where the last one stopped, so every partition's data ages out of
    // the cache in turn. Always starting from the first partition left the later ones waiting
    // (holding their cache and WAL space) for as long as the first had a target's worth pending.
    const all = [...this.#o.partitions()];
    const start = all.length === 0 ? 0 : this.#cursor % all.length;
    let visited = 0;
    for (; visited < all.length && total < this.#o.uploadBytesTarget; visited++) {
      const p = all[(start + visited) % all.length]!;
      let from = this.#claimedEnd.get(p.key) ??
        this.#o.manifest.partition(p.key)?.uploadedEndOffset ??
        this.#o.cache.firstOffset(p.key);
      while (from !== null && from < p.highWatermark && total < this.#o.uploadBytesTarget) {
        const part = this.#collect(p, from);
        if (part === null) break;
        parts.push(part);
        total += part.batches.reduce((n, b) => n + b.length, 0);
        from = part.lastOffset + 1;
      }
    }
    this.#cursor = start + visited;
    if (parts.length === 0) return null;
    const previous = this.#lastSettled;
    let settle!: (ok: boolean) => void;
    this.#lastSettled = new Promise<boolean>((resolve) => (settle = resolve));
    return { parts, bytes: total, previous, settle };
  }

  async #upload(upload: _Upload): Promise<UploadResult> {
    const { parts, previous, settle } = upload;
    let committed = false;
    const objectKey = this.#o.objectKey(this.#o.nowMs());
    try {
      const createdMs = this.#o.nowMs();
      const packed = packObjectParts(parts);
      // Garbage collection leaves an object alone until it is committed or abandoned.
      this.#o.inFlight.add(objectKey);
      await this.#o.store.put(objectKey, packed.parts);
      failpoint("uploader-after-put");
      // Commits go in start order: an earlier upload's ranges come first in each partition.
      if (!await previous) {
        // Nothing refers to it: remove it now rather than leave it to garbage collection.
        await this.#o.store.delete(objectKey).catch(() => {});
        throw new Error(
          `upload of ${objectKey} abandoned: an upload started before it failed, so its ranges would leave a gap`,
        );
      }
      await this.#o.manifest.commitUpload({
        objectKey,
        sizeBytes: packed.sizeBytes,
        createdMs,
        ranges: packed.ranges,
      });
      committed = true;
      failpoint("uploader-after-commit");
      for (const part of parts) {
        this.#o.checkpoint(part.streamId, part.lastOffset + 1);
        this.#o.cache.release(part.key, part.lastOffset + 1);
      }
      // Released and unclaimed in the same step, so `due` never counts these bytes twice.
      this.#claimedBytes -= upload.bytes;
      this.#lastUploadMs = this.#o.nowMs();
      this.stats.uploads++;
      this.stats.uploadedBytes += packed.sizeBytes;
      if (this.#failingSinceMs !== null) {
        this.#o.logger.info("object store reachable again: uploads resumed", {
          failedForMs: this.#o.nowMs() - this.#failingSinceMs,
        });
        this.#failingSinceMs = null;
        this.#lastError = null;
      }
      return {
        objectKey,
        sizeBytes: packed.sizeBytes,
        metadataBytes: packed.metadataBytes,
        ranges: packed.ranges.length,
      };
    } catch (error) {
      if (!committed) {
        this.#recovering = true;
        this.#claimedBytes -= upload.bytes;
      }
      throw error;
    } finally {
      this.#o.inFlight.delete(objectKey);
      settle(committed);
    }
  }

  /** Durable cached batches of `p` from `from`, at most one range's worth. */
  #collect(p: UploadablePartition, from: number): (PackInput & { streamId: number }) | null {
    const hit = this.#o.cache.read(p.key, from, this.#o.rangeBytesMax);
    if (hit === null || hit.batches.length === 0) return null;
    const batches: Uint8Array[] = [];
    let lastOffset = -1;
    let maxTimestamp = -1;
    for (const b of hit.batches) {
      const h = readBatchHeader(b);
      if (h.lastOffset >= p.highWatermark) break;
      batches.push(b);
      lastOffset = h.lastOffset;
      maxTimestamp = Math.max(maxTimestamp, h.maxTimestamp);
    }
    if (batches.length === 0) return null;
    const baseOffset = readBatchHeader(batches[0]!).baseOffset;
    return { key: p.key, streamId: p.streamId, batches, baseOffset, lastOffset, maxTimestamp };
  }
}
