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

/** Decides when to upload, and uploads. */
export class Uploader {
  readonly #o: UploaderOptions;
  #lastUploadMs: number;
  #running: Promise<UploadResult | null> | null = null;
  #draining: Promise<UploadResult | null> | null = null;
  #stopped = false;
  readonly stats: UploaderStats = { uploads: 0, uploadedBytes: 0, failures: 0 };
  #failingSinceMs: number | null = null;
  #lastError: Error | null = null;

  constructor(options: UploaderOptions) {
    if (options.rangeBytesMax <= 0 || options.uploadBytesTarget <= 0) {
      throw new RangeError("Cannot create an uploader with non-positive size limits");
    }
    this.#o = options;
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

  /** Whether an upload is due now. */
  due(): boolean {
    const pending = this.#o.cache.usedBytes;
    if (pending === 0) return false;
    return pending >= this.#o.uploadBytesTarget || this.#o.underPressure() ||
      this.#o.nowMs() - this.#lastUploadMs >= this.#o.uploadIntervalMs;
  }

  /**
   * Uploads if due; at most one upload runs at a time. While each upload fills a whole object
   * (`uploadBytesTarget`) and more is due, the next starts at once instead of on the next tick:
   * one object per tick capped ingest at `uploadBytesTarget` per tick interval (16 MiB per
   * 100 ms, 160 MiB/s), after which the log cache filled and held up produce. Only full objects
   * continue, so PUTs stay bounded by bytes (one per target's worth), never by time. Failures
   * are logged and counted. Resolves to the last upload's result.
   */
  async tick(): Promise<UploadResult | null> {
    if (this.#running !== null || this.#draining !== null || this.#stopped || !this.due()) {
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

  /** Lets a running {@linkcode Uploader.tick} finish its upload and start no more. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#draining;
  }

  async #drain(): Promise<UploadResult | null> {
    let last: UploadResult | null = null;
    do {
      const result = await this.#tickOnce();
      if (result === null) break;
      last = result;
      if (result.sizeBytes - result.metadataBytes < this.#o.uploadBytesTarget) break;
    } while (!this.#stopped && this.due());
    return last;
  }

  async #tickOnce(): Promise<UploadResult | null> {
    try {
      return await this.uploadNow();
    } catch (err) {
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
  }

  /** Uploads everything pending now (up to one object's worth), whatever the triggers say. */
  uploadNow(): Promise<UploadResult | null> {
    if (this.#running !== null) return this.#running;
    this.#running = this.#upload().then((result) => {
      if (this.#failingSinceMs !== null) {
        this.#o.logger.info("object store reachable again: uploads resumed", {
          failedForMs: this.#o.nowMs() - this.#failingSinceMs,
        });
        this.#failingSinceMs = null;
        this.#lastError = null;
      }
      return result;
    }).finally(() => (this.#running = null));
    return this.#running;
  }

  async #upload(): Promise<UploadResult | null> {
    const parts: (PackInput & { streamId: number })[] = [];
    let total = 0;
    for (const p of this.#o.partitions()) {
      if (total >= this.#o.uploadBytesTarget) break;
      let from = this.#o.manifest.partition(p.key)?.uploadedEndOffset ??
        this.#o.cache.firstOffset(p.key);
      while (from !== null && from < p.highWatermark && total < this.#o.uploadBytesTarget) {
        const part = this.#collect(p, from);
        if (part === null) break;
        parts.push(part);
        total += part.batches.reduce((n, b) => n + b.length, 0);
        from = part.lastOffset + 1;
      }
    }
    if (parts.length === 0) {
      this.#lastUploadMs = this.#o.nowMs();
      return null;
    }
    const createdMs = this.#o.nowMs();
    const packed = packObjectParts(parts);
    const objectKey = this.#o.objectKey(createdMs);
    await this.#o.store.put(objectKey, packed.parts);
    failpoint("uploader-after-put");
    await this.#o.manifest.commitUpload({
      objectKey,
      sizeBytes: packed.sizeBytes,
      createdMs,
      ranges: packed.ranges,
    });
    failpoint("uploader-after-commit");
    for (const part of parts) {
      this.#o.checkpoint(part.streamId, part.lastOffset + 1);
      this.#o.cache.release(part.key, part.lastOffset + 1);
    }
    this.#lastUploadMs = this.#o.nowMs();
    this.stats.uploads++;
    this.stats.uploadedBytes += packed.sizeBytes;
    return {
      objectKey,
      sizeBytes: packed.sizeBytes,
      metadataBytes: packed.metadataBytes,
      ranges: packed.ranges.length,
    };
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
