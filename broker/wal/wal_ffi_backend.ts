/**
 * The direct-I/O WAL backend: files opened with `O_DIRECT|O_DSYNC` through libc, written through
 * an io_uring ring (several writes in flight, completions reaped on a worker thread), or with
 * `pwrite` on worker threads when liburing is missing. Buffers are 4096-aligned native memory.
 *
 * @module
 */
import { AlignedBuffer } from "../../ffi/aligned_buffer.ts";
import { DirectFile } from "../../ffi/direct_file.ts";
import { IoUring } from "../../ffi/io_uring.ts";
import { describeErrno, type Libc, loadLibc, OsCallError } from "../../ffi/libc.ts";
import type { WalBuffer, WalIoBackend, WalSegmentWriter } from "./wal_io.ts";
import { listDir, syncDir, syncFile, truncateDurably } from "./wal_portable_files.ts";
import { alignUp } from "./wal_format.ts";

/** Zero-fill chunk of a spare segment. */
const SPARE_CHUNK_BYTES = 256 * 1024;

/** Options for {@linkcode FfiBackend.open}. */
export interface FfiBackendOptions {
  /** Submission engine. @default "auto" (io_uring when it initialises, else pwrite) */
  engine?: "auto" | "io_uring" | "pwrite";
  /** Writes in flight at once. @default 4 */
  inflightMax?: number;
}

const POOL_BUFFERS_MAX = 16;

class _FfiBuffer implements WalBuffer {
  readonly aligned: AlignedBuffer;
  readonly bytes: Uint8Array;
  #release: (buffer: _FfiBuffer) => void;

  constructor(aligned: AlignedBuffer, release: (buffer: _FfiBuffer) => void) {
    this.aligned = aligned;
    this.bytes = aligned.bytes;
    this.#release = release;
  }

  release(): void {
    this.#release(this);
  }
}

/**
 * Direct-I/O backend. Create with {@linkcode FfiBackend.open}, which says why when it cannot be
 * used here.
 *
 * @example
 * ```ts
 * import { FfiBackend } from "./wal_ffi_backend.ts";
 * const dir = await Deno.makeTempDir({ dir: "/var/tmp" });
 * const opened = FfiBackend.open(dir);
 * if ("backend" in opened) opened.backend.close();
 * else console.log("no direct I/O:", opened.reason);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class FfiBackend implements WalIoBackend {
  /** `"ffi-io_uring"` or `"ffi-pwrite"`. */
  readonly name: string;
  /** Writes in flight at once. */
  readonly inflightMax: number;
  #libc: Libc;
  #ring: IoUring | null;
  #pool: _FfiBuffer[] = [];
  #pending = new Map<
    bigint,
    { resolve: () => void; reject: (e: unknown) => void; length: number; path: string }
  >();
  #nextTag = 1n;
  #reaping = false;

  private constructor(libc: Libc, ring: IoUring | null, inflightMax: number) {
    this.#libc = libc;
    this.#ring = ring;
    this.inflightMax = inflightMax;
    this.name = ring === null ? "ffi-pwrite" : "ffi-io_uring";
  }

  /**
   * Opens the backend for WAL directory `dir` (created if missing), or explains why it cannot:
   * no FFI permission, no glibc, or a file system without O_DIRECT.
   */
  static open(
    dir: string,
    options: FfiBackendOptions = {},
  ): { backend: FfiBackend } | { reason: string } {
    const inflightMax = options.inflightMax ?? 4;
    if (!Number.isInteger(inflightMax) || inflightMax < 1 || inflightMax > 256) {
      throw new RangeError(`Cannot use inflightMax ${inflightMax}: use 1..256`);
    }
    let libc: Libc | null;
    try {
      libc = loadLibc();
    } catch (error) {
      return { reason: `libc cannot be loaded: ${error}` };
    }
    if (libc === null) {
      return { reason: "libc.so.6 cannot be loaded (not Linux/glibc, or no --allow-ffi)" };
    }
    Deno.mkdirSync(dir, { recursive: true });
    if (!DirectFile.supported(libc, dir)) {
      return { reason: `${dir} does not support O_DIRECT (EINVAL)` };
    }
    const engine = options.engine ?? "auto";
    let ring: IoUring | null = null;
    if (engine !== "pwrite") {
      // A commit may be two writes (see Wal), and spare preparation shares the ring.
      ring = IoUring.create(libc, 2 * inflightMax + 2);
      if (ring === null && engine === "io_uring") {
        return { reason: "liburing.so.2 is missing or io_uring_queue_init failed" };
      }
    }
    return { backend: new FfiBackend(libc, ring, inflightMax) };
  }

  /** An aligned native buffer, reused from a pool. */
  allocate(bytes: number): WalBuffer {
    const size = alignUp(bytes);
    const index = this.#pool.findIndex((candidate) => candidate.bytes.length >= size);
    if (index >= 0) return this.#pool.splice(index, 1)[0]!;
    return new _FfiBuffer(AlignedBuffer.allocate(this.#libc, size), (buffer) => {
      if (this.#pool.length < POOL_BUFFERS_MAX) this.#pool.push(buffer);
      else buffer.aligned[Symbol.dispose]();
    });
  }

  /**
   * Opens the file (renamed from a zero-filled spare, or else new and reserved with fallocate,
   * whose unwritten extents read back as zeros) with O_DIRECT, and O_DSYNC when asked, then
   * syncs the directory.
   */
  async createSegment(
    path: string,
    options: { dsync: boolean; sizeBytes: number; spare?: string },
  ): Promise<WalSegmentWriter> {
    if (options.spare !== undefined) await Deno.rename(options.spare, path);
    const file = DirectFile.open(this.#libc, path, { create: true, dsync: options.dsync });
    try {
      if (options.spare === undefined) file.preallocate(options.sizeBytes);
    } catch (error) {
      file.close();
      await Deno.remove(path).catch(() => {});
      throw error;
    }
    await syncDir(path.slice(0, Math.max(1, path.lastIndexOf("/"))));
    return new _FfiWriter(this, file);
  }

  /** Reserves the file with fallocate, then writes zeros over it with direct I/O and syncs. */
  async prepareSpare(
    path: string,
    sizeBytes: number,
    pace?: () => Promise<void>,
  ): Promise<void> {
    const file = DirectFile.open(this.#libc, path, { create: true, dsync: false });
    // Small chunks: an append that arrives while one is on the disk waits behind less.
    const chunk = Math.min(alignUp(sizeBytes), SPARE_CHUNK_BYTES);
    const zeros = this.allocate(chunk);
    try {
      file.preallocate(sizeBytes);
      zeros.bytes.fill(0, 0, chunk);
      for (let at = 0; at < sizeBytes; at += chunk) {
        await pace?.();
        await this.write(file, zeros, Math.min(chunk, alignUp(sizeBytes - at)), at);
      }
      await file.datasync();
    } finally {
      zeros.release();
      file.close();
    }
  }

  /** @inheritdoc */
  async rename(from: string, to: string): Promise<void> {
    await Deno.rename(from, to);
    await syncDir(to.slice(0, Math.max(1, to.lastIndexOf("/"))));
  }

  /** Writes through the ring or pwrite. */
  write(
    file: DirectFile,
    buffer: WalBuffer,
    length: number,
    position: number,
    offset = 0,
  ): Promise<void> {
    if (!(buffer instanceof _FfiBuffer)) {
      throw new TypeError("buffer was not allocated by FfiBackend");
    }
    if (this.#ring === null) return file.pwrite(buffer.aligned, length, position, offset);
    const tag = this.#nextTag++;
    const done = new Promise<void>((resolve, reject) => {
      this.#pending.set(tag, { resolve, reject, length, path: file.path });
    });
    if (!this.#ring.submitWrite(file.fd, buffer.aligned, length, position, tag, offset)) {
      this.#pending.delete(tag);
      throw new Error(
        `io_uring submission queue full: more than ${this.inflightMax} writes in flight`,
      );
    }
    if (!this.#reaping) this.#reap();
    return done;
  }

  async #reap(): Promise<void> {
    this.#reaping = true;
    try {
      while (this.#pending.size > 0) {
        for (const completion of await this.#ring!.waitCompletions()) {
          const waiter = this.#pending.get(completion.userData);
          if (waiter === undefined) continue;
          this.#pending.delete(completion.userData);
          if (completion.result === waiter.length) waiter.resolve();
          else waiter.reject(this.#writeError(waiter.path, completion.result));
        }
      }
    } catch (error) {
      for (const waiter of this.#pending.values()) waiter.reject(error);
      this.#pending.clear();
    } finally {
      this.#reaping = false;
    }
  }

  #writeError(path: string, result: number): OsCallError {
    // A short direct write means the device filled up part way.
    const errno = result < 0 ? -result : 28;
    return new OsCallError(
      `write ${path} through io_uring`,
      errno,
      describeErrno(this.#libc, errno),
    );
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

  /** Tears down the ring and frees pooled buffers. Nothing may be in flight. */
  close(): void {
    this.#ring?.close();
    this.#ring = null;
    for (const buffer of this.#pool) buffer.aligned[Symbol.dispose]();
    this.#pool = [];
  }
}

class _FfiWriter implements WalSegmentWriter {
  #backend: FfiBackend;
  #file: DirectFile;

  constructor(backend: FfiBackend, file: DirectFile) {
    this.#backend = backend;
    this.#file = file;
  }

  write(buffer: WalBuffer, length: number, position: number, offset = 0): Promise<void> {
    return this.#backend.write(this.#file, buffer, length, position, offset);
  }

  sync(): Promise<void> {
    return this.#file.datasync();
  }

  close(): Promise<void> {
    this.#file.close();
    return Promise.resolve();
  }
}
