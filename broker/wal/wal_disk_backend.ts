/**
 * A {@linkcode WalIoBackend} over the file-system seam (ops/disk.ts), the WAL's backend for
 * power-cut tests: on a `CrashDisk` every write the WAL has not made durable (by a `dsync` write
 * or `sync`) and every directory change it has not synced is lost, or torn, at a crash.
 *
 * It does what the portable backend does (positional writes, fsync, rename and directory
 * syncs), with the Disk's `sync` (fsync) in place of `fdatasync`. The broker keeps the portable
 * and direct-I/O backends; this one also passes the WAL conformance suite on `systemDisk`.
 *
 * @module
 */
import { type Disk, type DiskFile, mkdirDurable, parentDir } from "../../ops/disk.ts";
import { alignUp } from "./wal_format.ts";
import type { WalBuffer, WalIoBackend, WalSegmentWriter } from "./wal_io.ts";

/**
 * The WAL's I/O on a {@linkcode Disk}.
 *
 * @example
 * ```ts
 * import { CrashDisk } from "../../ops/crash_disk.ts";
 * import { DiskWalBackend } from "./wal_disk_backend.ts";
 * import { Wal } from "./wal.ts";
 * const disk = new CrashDisk();
 * const backend = new DiskWalBackend(disk);
 * const options = { path: "/wal", backend, segmentSizeBytes: 1 << 16, capacityBytes: 1 << 20 };
 * const { wal } = await Wal.open(options);
 * await wal.append(1, 0n, new Uint8Array([42]));
 * await wal.close();
 * disk.crash();
 * const { wal: again, recovered } = await Wal.open(options);
 * if (recovered.length !== 1) throw new Error("the acknowledged entry was lost");
 * await again.close();
 * ```
 */
export class DiskWalBackend implements WalIoBackend {
  /** Backend name for logs. */
  readonly name = "disk-seam";
  /** Writes in flight at once. */
  readonly inflightMax: number;
  readonly #disk: Disk;

  /** @param options.inflightMax writes in flight at once (default 4) */
  constructor(disk: Disk, options: { inflightMax?: number } = {}) {
    this.#disk = disk;
    this.inflightMax = options.inflightMax ?? 4;
  }

  /** A plain buffer. */
  allocate(bytes: number): WalBuffer {
    return { bytes: new Uint8Array(alignUp(bytes)), release() {} };
  }

  /** Creates the file (or renames the spare) and syncs its directory. */
  async createSegment(
    path: string,
    options: { dsync: boolean; sizeBytes: number; spare?: string },
  ): Promise<WalSegmentWriter> {
    if (options.spare !== undefined) await this.#disk.rename(options.spare, path);
    const file = await this.#disk.open(path, { write: true, create: true });
    try {
      await this.#disk.syncDir(parentDir(path));
    } catch (error) {
      file.close();
      throw error;
    }
    return new _DiskWriter(file, options.dsync);
  }

  /** Writes `sizeBytes` zeros in 64 KiB chunks, awaiting `pace` before each, then syncs. */
  async prepareSpare(path: string, sizeBytes: number, pace?: () => Promise<void>): Promise<void> {
    using file = await this.#disk.open(path, { write: true, create: true, truncate: true });
    const zeros = new Uint8Array(Math.min(sizeBytes, 64 * 1024));
    for (let at = 0; at < sizeBytes; at += zeros.length) {
      await pace?.();
      await file.writeAt(zeros.subarray(0, Math.min(zeros.length, sizeBytes - at)), at);
    }
    await file.sync();
  }

  /** @inheritdoc */
  async rename(from: string, to: string): Promise<void> {
    await this.#disk.rename(from, to);
    await this.#disk.syncDir(parentDir(to));
  }

  /** @inheritdoc */
  async list(dir: string): Promise<string[]> {
    await mkdirDurable(this.#disk, dir);
    return (await this.#disk.readDir(dir)).filter((e) => e.isFile).map((e) => e.name);
  }

  /** @inheritdoc */
  async fileSize(path: string): Promise<number> {
    return (await this.#disk.stat(path)).size;
  }

  /** @inheritdoc */
  readFile(path: string): Promise<Uint8Array> {
    return this.#disk.readFile(path);
  }

  /** @inheritdoc */
  async truncate(path: string, length: number): Promise<void> {
    await this.#disk.truncate(path, length);
    await this.syncFile(path);
  }

  /** @inheritdoc */
  async syncFile(path: string): Promise<void> {
    using file = await this.#disk.open(path, { write: true });
    await file.sync();
  }

  /** @inheritdoc */
  remove(path: string): Promise<void> {
    return this.#disk.remove(path);
  }

  /** @inheritdoc */
  syncDir(dir: string): Promise<void> {
    return this.#disk.syncDir(dir);
  }

  /** Nothing to release. */
  close(): void {}
}

class _DiskWriter implements WalSegmentWriter {
  readonly #file: DiskFile;
  readonly #dsync: boolean;

  constructor(file: DiskFile, dsync: boolean) {
    this.#file = file;
    this.#dsync = dsync;
  }

  async write(buffer: WalBuffer, length: number, position: number, offset = 0): Promise<void> {
    // Copied now, as a real backend hands the bytes to the kernel at submission.
    await this.#file.writeAt(buffer.bytes.slice(offset, offset + length), position);
    if (this.#dsync) await this.#file.sync();
  }

  sync(): Promise<void> {
    return this.#file.sync();
  }

  close(): Promise<void> {
    this.#file.close();
    return Promise.resolve();
  }
}
