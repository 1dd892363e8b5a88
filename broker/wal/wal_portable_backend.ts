/**
 * The portable WAL backend: `Deno.FsFile` writes plus `fdatasync` (`syncData()`). Used where
 * direct I/O or FFI is unavailable (tmpfs, macOS, no `--allow-ffi`), or when configured.
 *
 * `Deno.FsFile` has no positional write, so writes go through seek + write and one runs at a
 * time (`inflightMax` 1); group commit still coalesces every append that arrives meanwhile.
 *
 * @module
 */
import type { WalBuffer, WalIoBackend, WalSegmentWriter } from "./wal_io.ts";
import { listDir, syncDir, syncFile, truncateDurably } from "./wal_portable_files.ts";
import { alignUp } from "./wal_format.ts";

const POOL_BUFFERS_MAX = 8;

/**
 * Backend on `Deno.FsFile`.
 *
 * @example
 * ```ts
 * import { PortableBackend } from "./wal_portable_backend.ts";
 * const backend = new PortableBackend();
 * const buffer = backend.allocate(100);
 * console.assert(buffer.bytes.length === 4096);
 * buffer.release();
 * ```
 */
export class PortableBackend implements WalIoBackend {
  /** Backend name for logs. */
  readonly name = "portable";
  /** One write at a time (seek + write). */
  readonly inflightMax = 1;
  #pool: Uint8Array[] = [];

  /** A plain buffer, reused from a small pool. */
  allocate(bytes: number): WalBuffer {
    const size = alignUp(bytes);
    const index = this.#pool.findIndex((candidate) => candidate.length >= size);
    const memory = index >= 0 ? this.#pool.splice(index, 1)[0]! : new Uint8Array(size);
    return {
      bytes: memory,
      release: () => {
        if (this.#pool.length < POOL_BUFFERS_MAX) this.#pool.push(memory);
      },
    };
  }

  /**
   * Creates the file (or renames the spare) and syncs its directory. Without a spare there is
   * no preallocation: Deno has no fallocate.
   */
  async createSegment(
    path: string,
    options: { dsync: boolean; sizeBytes: number; spare?: string },
  ): Promise<WalSegmentWriter> {
    if (options.spare !== undefined) await Deno.rename(options.spare, path);
    const file = await Deno.open(path, { write: true, create: true });
    await syncDir(_dirname(path));
    return new _PortableWriter(file, options.dsync);
  }

  /** Writes `sizeBytes` zeros in 256 KiB chunks, awaiting `pace` before each, then syncs. */
  async prepareSpare(
    path: string,
    sizeBytes: number,
    pace?: () => Promise<void>,
  ): Promise<void> {
    using file = await Deno.open(path, { write: true, create: true, truncate: true });
    const zeros = new Uint8Array(Math.min(sizeBytes, 256 * 1024));
    for (let at = 0; at < sizeBytes; at += zeros.length) {
      await pace?.();
      const chunk = zeros.subarray(0, Math.min(zeros.length, sizeBytes - at));
      let done = 0;
      while (done < chunk.length) done += await file.write(chunk.subarray(done));
    }
    await file.syncData();
  }

  /** @inheritdoc */
  async rename(from: string, to: string): Promise<void> {
    await Deno.rename(from, to);
    await syncDir(_dirname(to));
  }

  /** @inheritdoc */
  list(dir: string): Promise<string[]> {
    return listDir(dir);
  }

  /** @inheritdoc */
  async fileSize(path: string): Promise<number> {
    return (await Deno.stat(path)).size;
  }

  /** @inheritdoc */
  readFile(path: string): Promise<Uint8Array> {
    return Deno.readFile(path);
  }

  /** @inheritdoc */
  truncate(path: string, length: number): Promise<void> {
    return truncateDurably(path, length);
  }

  /** @inheritdoc */
  syncFile(path: string): Promise<void> {
    return syncFile(path);
  }

  /** @inheritdoc */
  remove(path: string): Promise<void> {
    return Deno.remove(path);
  }

  /** @inheritdoc */
  syncDir(dir: string): Promise<void> {
    return syncDir(dir);
  }

  /** Nothing to release. */
  close(): void {
    this.#pool = [];
  }
}

class _PortableWriter implements WalSegmentWriter {
  #file: Deno.FsFile;
  #dsync: boolean;
  #chain: Promise<void> = Promise.resolve();

  constructor(file: Deno.FsFile, dsync: boolean) {
    this.#file = file;
    this.#dsync = dsync;
  }

  write(buffer: WalBuffer, length: number, position: number, offset = 0): Promise<void> {
    // The bytes are taken now (callers may change the rest of the buffer before this runs);
    // seek + write is not atomic, so writes to one file are chained.
    const bytes = buffer.bytes.slice(offset, offset + length);
    const run = this.#chain.then(() => this.#writeAt(bytes, position));
    this.#chain = run.catch(() => {});
    return run;
  }

  async #writeAt(bytes: Uint8Array, position: number): Promise<void> {
    await this.#file.seek(position, Deno.SeekMode.Start);
    let done = 0;
    while (done < bytes.length) done += await this.#file.write(bytes.subarray(done));
    if (this.#dsync) await this.#file.syncData();
  }

  async sync(): Promise<void> {
    await this.#chain;
    await this.#file.syncData();
  }

  async close(): Promise<void> {
    await this.#chain;
    this.#file.close();
  }
}

function _dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}
