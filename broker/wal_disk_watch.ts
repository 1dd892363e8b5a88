/**
 * Watches the free space of the WAL's filesystem while the broker runs: the start-up check
 * (wal_capacity.ts) cannot see another process filling the disk later. It measures every
 * `intervalMs`, exports the figure as `rustmq_wal_disk_free_bytes`, and logs once when less
 * than a segment is left (the next segment the WAL opens would fail) and once when there is
 * room again. Appends themselves still find out from the write that fails (wal.ts).
 *
 * @module
 */

import { filesystemSpace } from "../ffi/statvfs.ts";
import type { Logger } from "../ops/logger.ts";

/** Periodic `statvfs` of the WAL directory. */
export class WalDiskWatch implements Disposable {
  readonly #path: string;
  readonly #segmentBytes: number;
  readonly #logger: Logger;
  #timer: ReturnType<typeof setInterval> | null = null;
  #freeBytes: number | null = null;
  #low = false;

  constructor(path: string, segmentBytes: number, logger: Logger, intervalMs = 10_000) {
    this.#path = path;
    this.#segmentBytes = segmentBytes;
    this.#logger = logger;
    this.check();
    const timer = setInterval(() => this.check(), intervalMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** The last measured free bytes, or null where it cannot be measured. */
  get freeBytes(): number | null {
    return this.#freeBytes;
  }

  /** Measures now; logs when the state changes. */
  check(): void {
    try {
      this.#freeBytes = filesystemSpace(this.#path)?.availableBytes ?? null;
    } catch (error) {
      this.#logger.warn("cannot measure the WAL filesystem's free space", { error });
      return;
    }
    const free = this.#freeBytes;
    if (free === null) return;
    if (!this.#low && free < this.#segmentBytes) {
      this.#low = true;
      this.#logger.warn("WAL filesystem is low on space: less than one segment is free", {
        path: this.#path,
        freeBytes: free,
        segmentBytes: this.#segmentBytes,
      });
    } else if (this.#low && free >= 2 * this.#segmentBytes) {
      this.#low = false;
      this.#logger.info("WAL filesystem has room again", { path: this.#path, freeBytes: free });
    }
  }

  /** Stops the timer. */
  [Symbol.dispose](): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
