/**
 * `LocalObjectStore`: an `ObjectStore` in a local directory, the default of `rustmq standalone`
 * and the backend for single-machine deployments.
 *
 * A key "a/b/c" is the file `<root>/a/b/c`. A put writes a temporary file under
 * `<root>/.rustmq-tmp/`, fsyncs it, renames it into place and fsyncs the directory, so an
 * object is either whole or absent after a crash, exactly like a cloud store's put.
 *
 * This is a thin I/O driver over the file-system seam (ops/disk.ts): `systemDisk` in the broker,
 * a `CrashDisk` in the power-cut test. A delete fsyncs the directory too, so a deleted object
 * does not come back after a power cut.
 *
 * @module
 */
import {
  assertValidByteRange,
  assertValidObjectBytes,
  assertValidObjectKey,
  assertValidPageSize,
  clampByteRange,
  type GetOptions,
  joinObjectBody,
  LIST_PAGE_SIZE_MAX,
  listAllPages,
  type ListPage,
  type ListPageOptions,
  MULTIPART_THRESHOLD_BYTES_DEFAULT,
  type ObjectBody,
  objectBodyBytes,
  type ObjectMetadata,
  ObjectNotFoundError,
  ObjectRangeNotSatisfiableError,
  type ObjectStore,
  ObjectStoreError,
  type ObjectStoreOperation,
  ObjectStoreUnavailableError,
  type ObjectSummary,
  type PutOptions,
  type RequestOptions,
} from "./object_store.ts";
import { type Disk, type DiskFile, mkdirDurable, parentDir, systemDisk } from "../../ops/disk.ts";
import { AlignedBuffer, DIRECT_IO_ALIGNMENT } from "../../ffi/aligned_buffer.ts";
import { DirectFile } from "../../ffi/direct_file.ts";
import { type Libc, loadLibc } from "../../ffi/libc.ts";

/** The directory under the root that holds puts in progress; it is not a key space. */
const TMP_DIR_NAME = ".rustmq-tmp";

/** Options for {@linkcode LocalObjectStore}. */
export interface LocalObjectStoreOptions {
  /** The directory that holds the objects; created if missing. */
  rootDir: string;
  /**
   * Objects larger than this are written in `partSizeBytes` chunks, mirroring the cloud
   * backends (config `object_storage.multipart_threshold`).
   * @default {MULTIPART_THRESHOLD_BYTES_DEFAULT}
   */
  multipartThresholdBytes?: number;
  /**
   * Chunk size of large writes.
   * @default {8 MiB}
   */
  partSizeBytes?: number;
  /** The file system. @default systemDisk */
  disk?: Disk;
  /**
   * Write objects with `O_DIRECT` where the file system and FFI allow it (Linux, `--allow-ffi`,
   * not tmpfs), else buffered. Only with the default `disk`. Buffered writes cost the kernel a
   * page-cache copy: on this project's 2-core VM about 1 s of system CPU per GB written, a third
   * of both cores at 300 MiB/s of ingest, while direct writes go to the disk from our buffer.
   * @default false
   */
  directIo?: boolean;
}

/**
 * An `ObjectStore` in a local directory.
 *
 * @example
 * ```ts
 * import { LocalObjectStore } from "./local_object_store.ts";
 * const rootDir = await Deno.makeTempDir();
 * const store = new LocalObjectStore({ rootDir });
 * await store.put("topic/0/000.obj", new TextEncoder().encode("hello"));
 * console.assert((await store.head("topic/0/000.obj"))?.sizeBytes === 5);
 * await Deno.remove(rootDir, { recursive: true });
 * ```
 */
export class LocalObjectStore implements ObjectStore {
  /** Always "Local". */
  readonly backend = "Local" as const;
  /** "local directory '<root>'". */
  readonly location: string;
  /** Objects above this size are written in parts. */
  readonly multipartThresholdBytes: number;
  /** Size of each written part. */
  readonly partSizeBytes: number;
  readonly #rootDir: string;
  readonly #tmpDir: string;
  readonly #disk: Disk;
  #tmpDirReady: Promise<void> | undefined;
  /** libc while direct writes are possible; null once found unsupported (or not asked for). */
  #libc: Libc | null;
  #directProbed = false;
  /** Free aligned staging buffers for direct writes, one per put that ran at once. */
  readonly #stages: AlignedBuffer[] = [];

  /** Validates the options; creates no files until the first put. */
  constructor(options: LocalObjectStoreOptions) {
    if (typeof options.rootDir !== "string" || options.rootDir === "") {
      throw new RangeError("Cannot create LocalObjectStore as rootDir is empty");
    }
    this.#rootDir = options.rootDir.replace(/\/+$/, "") || "/";
    this.#tmpDir = `${this.#rootDir}/${TMP_DIR_NAME}`;
    this.#disk = options.disk ?? systemDisk;
    this.#libc = options.directIo === true && options.disk === undefined ? loadLibc() : null;
    this.location = `local directory '${this.#rootDir}'`;
    this.multipartThresholdBytes = _positiveInteger(
      "multipartThresholdBytes",
      options.multipartThresholdBytes ?? MULTIPART_THRESHOLD_BYTES_DEFAULT,
    );
    this.partSizeBytes = _positiveInteger("partSizeBytes", options.partSizeBytes ?? 8 << 20);
  }

  /** Writes to a temp file, fsyncs, renames into place, and fsyncs the directory. */
  async put(key: string, bytes: ObjectBody, options: PutOptions = {}): Promise<ObjectMetadata> {
    this.#assertKey(key);
    assertValidObjectBytes(key, bytes);
    const path = this.#pathOf(key);
    const tmpPath = `${this.#tmpDir}/${crypto.randomUUID()}`;
    try {
      this.#tmpDirReady ??= _ensureDir(this.#disk, this.#tmpDir, this.#rootDir);
      await this.#tmpDirReady;
      if (this.#directUsable()) await this.#writeDirect(tmpPath, bytes, options.signal);
      else await this.#writeDurably(tmpPath, bytes, options.signal);
      const dir = parentDir(path);
      await _ensureDir(this.#disk, dir, this.#rootDir);
      await this.#disk.rename(tmpPath, path);
      await this.#disk.syncDir(dir);
    } catch (error) {
      this.#tmpDirReady = undefined;
      await this.#disk.remove(tmpPath).catch(() => {});
      throw this.#mapError(error, "put", key);
    }
    const metadata = await this.head(key);
    if (metadata === null) {
      throw new ObjectStoreUnavailableError({
        ...this.#context("put", key),
        reason: "it vanished right after it was written (concurrent delete?)",
      });
    }
    return metadata;
  }

  /** Reads the object, or its inclusive range. */
  async get(key: string, options: GetOptions = {}): Promise<Uint8Array> {
    this.#assertKey(key);
    if (options.range !== undefined) assertValidByteRange(options.range);
    try {
      using file = await this.#disk.open(this.#pathOf(key), { read: true });
      const { size, isFile } = await file.stat();
      // A directory here holds longer keys; there is no object with this key itself.
      if (!isFile) throw new Deno.errors.NotFound(`'${key}' is a directory`);
      let range = { start: 0, end: size - 1 };
      if (options.range !== undefined) {
        const clamped = clampByteRange(options.range, size);
        if (clamped === null) {
          throw new ObjectRangeNotSatisfiableError({
            ...this.#context("get", key),
            reason: `the range starts at ${options.range.start}, past its size of ${size} bytes`,
          });
        }
        range = clamped;
      }
      options.signal?.throwIfAborted();
      const bytes = new Uint8Array(range.end - range.start + 1);
      await _readFully(file, bytes, range.start);
      return bytes;
    } catch (error) {
      throw this.#mapError(error, "get", key);
    }
  }

  /** Size and etag from `stat`; `null` when there is no such file. */
  async head(key: string, _options?: RequestOptions): Promise<ObjectMetadata | null> {
    this.#assertKey(key);
    try {
      const info = await this.#disk.stat(this.#pathOf(key));
      if (!info.isFile) return null;
      // mtime and inode change whenever a put renames a new file into place.
      const etag = `"${info.size.toString(16)}-${info.mtime?.getTime() ?? 0}-${info.ino ?? 0}"`;
      return { key, sizeBytes: info.size, etag };
    } catch (error) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
        return null;
      }
      throw this.#mapError(error, "head", key);
    }
  }

  /**
   * One page of keys with `prefix`. The page token is the last key of the previous page. A
   * listing walks only the directory the prefix's last "/" names.
   */
  async listPage(prefix: string, options: ListPageOptions = {}): Promise<ListPage> {
    const pageSizeMax = options.pageSizeMax ?? LIST_PAGE_SIZE_MAX;
    assertValidPageSize(pageSizeMax);
    const after = options.pageToken ?? "";
    const slash = prefix.lastIndexOf("/");
    const dirKey = slash < 0 ? "" : prefix.slice(0, slash);
    if (dirKey !== "") this.#assertKey(dirKey);
    const found: ObjectSummary[] = [];
    try {
      await this.#walk(dirKey, (summary) => {
        if (summary.key.startsWith(prefix) && summary.key > after) found.push(summary);
      }, options.signal);
    } catch (error) {
      throw this.#mapError(error, "list", prefix);
    }
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const objects = found.slice(0, pageSizeMax);
    const last = objects.at(-1);
    return found.length > pageSizeMax && last !== undefined
      ? { objects, nextPageToken: last.key }
      : { objects };
  }

  /** All keys with `prefix`, page by page. */
  list(prefix: string, options?: RequestOptions): AsyncIterable<ObjectSummary> {
    return listAllPages(this, prefix, options);
  }

  /** Removes the file and any directories it leaves empty; a missing file is fine. */
  async delete(key: string, _options?: RequestOptions): Promise<void> {
    this.#assertKey(key);
    const path = this.#pathOf(key);
    try {
      const info = await this.#disk.stat(path);
      // A directory at this path holds other keys; there is no object named `key`.
      if (!info.isFile) return;
      await this.#disk.remove(path);
      // Like a cloud store's delete, this one is durable once it resolves.
      await this.#disk.syncDir(parentDir(path));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
        return;
      }
      throw this.#mapError(error, "delete", key);
    }
    await this.#removeEmptyParents(path);
  }

  /** Nothing to release. */
  close(): Promise<void> {
    for (const stage of this.#stages.splice(0)) stage[Symbol.dispose]();
    return Promise.resolve();
  }

  /** Whether puts go through {@linkcode LocalObjectStore.#writeDirect}. */
  get writesDirect(): boolean {
    return this.#directUsable();
  }

  #directUsable(): boolean {
    if (this.#libc === null) return false;
    if (!this.#directProbed) {
      this.#directProbed = true;
      try {
        Deno.mkdirSync(this.#tmpDir, { recursive: true });
        if (!DirectFile.supported(this.#libc, this.#tmpDir)) this.#libc = null;
      } catch {
        this.#libc = null;
      }
    }
    return this.#libc !== null;
  }

  /**
   * Like {@linkcode LocalObjectStore.#writeDurably}, with `O_DIRECT`: the body is copied into an
   * aligned stage a segment at a time and written from there, up to
   * {@linkcode _DIRECT_WRITES_IN_FLIGHT} segments at once; the last is padded to the alignment
   * and the file cut back to the body's size before the sync.
   *
   * Segments are small so that the copy between two awaits is short: this runs on the broker's
   * only thread, and copying a whole 8 MiB stage (plus faulting it in on first use) held the
   * event loop for 4-14 ms (profiled), which every produce waiting behind it saw as latency.
   */
  async #writeDirect(path: string, body: ObjectBody, signal?: AbortSignal): Promise<void> {
    const libc = this.#libc!;
    const stage = this.#stages.pop() ??
      AlignedBuffer.allocate(libc, _DIRECT_SEGMENT_BYTES * _DIRECT_WRITES_IN_FLIGHT);
    const file = DirectFile.open(libc, path, { create: true, dsync: false });
    const writes: Promise<void>[] = [];
    try {
      const buffer = stage.bytes;
      let segment = 0;
      let filled = 0;
      let position = 0;
      const flush = async () => {
        signal?.throwIfAborted();
        const offset = segment * _DIRECT_SEGMENT_BYTES;
        const length = Math.ceil(filled / DIRECT_IO_ALIGNMENT) * DIRECT_IO_ALIGNMENT;
        buffer.fill(0, offset + filled, offset + length);
        const write = file.pwrite(stage, length, position, offset);
        // Awaited later (here or below); until then a failure must not count as unhandled,
        // which would end the process.
        write.catch(() => {});
        writes[segment] = write;
        position += filled;
        filled = 0;
        segment = (segment + 1) % _DIRECT_WRITES_IN_FLIGHT;
        // The segment about to be filled is free once its last write has completed.
        await writes[segment];
      };
      for (const slice of body instanceof Uint8Array ? [body] : body) {
        let at = 0;
        while (at < slice.length) {
          const n = Math.min(_DIRECT_SEGMENT_BYTES - filled, slice.length - at);
          buffer.set(slice.subarray(at, at + n), segment * _DIRECT_SEGMENT_BYTES + filled);
          filled += n;
          at += n;
          if (filled === _DIRECT_SEGMENT_BYTES) await flush();
        }
      }
      if (filled > 0) await flush();
      await Promise.all(writes);
      if (position % DIRECT_IO_ALIGNMENT !== 0) await Deno.truncate(path, position);
      await file.datasync();
    } finally {
      // No write may still be reading the stage (or the descriptor) when either is reused.
      await Promise.allSettled(writes);
      file.close();
      // Kept, never freed while the store is open: there are at most as many as puts run at
      // once. Freeing and allocating aligned buffers per put grew RSS by gigabytes under glibc
      // (freed blocks were not reused for the next aligned allocations).
      this.#stages.push(stage);
    }
  }

  async #writeDurably(path: string, body: ObjectBody, signal?: AbortSignal): Promise<void> {
    using file = await this.#disk.open(path, { write: true, createNew: true, mode: 0o644 });
    const size = objectBodyBytes(body);
    const chunkBytes = size > this.multipartThresholdBytes ? this.partSizeBytes : Math.max(size, 1);
    let position = 0;
    for (const chunk of _writeChunks(body, chunkBytes)) {
      signal?.throwIfAborted();
      await file.writeAt(chunk, position);
      position += chunk.length;
    }
    await file.sync();
  }

  async #walk(
    dirKey: string,
    visit: (summary: ObjectSummary) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const dirPath = dirKey === "" ? this.#rootDir : this.#pathOf(dirKey);
    let entries: { name: string; isFile: boolean; isDirectory: boolean }[];
    try {
      entries = await this.#disk.readDir(dirPath);
    } catch (error) {
      // A prefix whose directory does not exist simply matches nothing.
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
        return;
      }
      throw error;
    }
    for (const entry of entries) {
      signal?.throwIfAborted();
      if (dirKey === "" && entry.name === TMP_DIR_NAME) continue;
      const key = dirKey === "" ? entry.name : `${dirKey}/${entry.name}`;
      if (entry.isDirectory) {
        await this.#walk(key, visit, signal);
      } else if (entry.isFile) {
        const info = await this.#disk.stat(`${dirPath}/${entry.name}`).catch(() => null);
        if (info !== null) visit({ key, sizeBytes: info.size });
      }
    }
  }

  async #removeEmptyParents(path: string): Promise<void> {
    let dir = parentDir(path);
    while (dir.length > this.#rootDir.length) {
      try {
        await this.#disk.remove(dir);
      } catch {
        // Not empty (or already gone): the other keys there keep it.
        return;
      }
      dir = parentDir(dir);
    }
  }

  #assertKey(key: string): void {
    assertValidObjectKey(key);
    if (key === TMP_DIR_NAME || key.startsWith(`${TMP_DIR_NAME}/`)) {
      throw new RangeError(`Cannot use object key '${key}' as '${TMP_DIR_NAME}' is reserved`);
    }
  }

  #pathOf(key: string): string {
    return `${this.#rootDir}/${key}`;
  }

  #context(operation: ObjectStoreOperation, key: string) {
    return { backend: this.backend, location: this.location, operation, key };
  }

  #mapError(error: unknown, operation: ObjectStoreOperation, key: string): Error {
    if (
      error instanceof ObjectStoreError || error instanceof TypeError ||
      error instanceof RangeError
    ) {
      return error;
    }
    if (error instanceof DOMException && error.name === "AbortError") return error;
    const context = { ...this.#context(operation, key), cause: error };
    const detail = error instanceof Error ? error.message : String(error);
    if (
      operation !== "put" &&
      (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory)
    ) {
      return new ObjectNotFoundError({ ...context, reason: "it does not exist" });
    }
    if (
      error instanceof Deno.errors.IsADirectory || error instanceof Deno.errors.NotADirectory ||
      error instanceof Deno.errors.AlreadyExists
    ) {
      return new ObjectStoreError({
        ...context,
        code: "OBJECT_KEY_CONFLICT",
        reason: `a directory and a file would share its path: ${detail}`,
      });
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      return new ObjectStoreError({ ...context, reason: `permission was denied: ${detail}` });
    }
    // Disk full, I/O errors and the like may clear up; let the caller retry.
    return new ObjectStoreUnavailableError({ ...context, reason: `the disk failed: ${detail}` });
  }
}

function _positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Cannot use ${name} ${value} as it must be a positive integer`);
  }
  return value;
}

/** Creates `dir` and any missing parents below `rootDir`, fsyncing each new entry's parent. */
async function _ensureDir(disk: Disk, dir: string, rootDir: string): Promise<void> {
  try {
    const info = await disk.stat(dir);
    if (info.isDirectory) return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  // The root and its missing parents: each synced into its parent too.
  if (dir.length <= rootDir.length) return await mkdirDurable(disk, dir);
  const parent = parentDir(dir);
  await _ensureDir(disk, parent, rootDir);
  try {
    await disk.mkdir(dir);
  } catch (error) {
    // A concurrent put may have created it first.
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  await disk.syncDir(parent);
}

async function _readFully(file: DiskFile, into: Uint8Array, position: number): Promise<void> {
  let filled = 0;
  while (filled < into.length) {
    const count = await file.readAt(into.subarray(filled), position + filled);
    if (count === 0) {
      throw new Deno.errors.UnexpectedEof(
        `file ended after ${filled} of ${into.length} bytes (truncated concurrently?)`,
      );
    }
    filled += count;
  }
}

/**
 * One direct write of a put. 1 MiB writes two at a time keep the device as busy as the 8 MiB
 * single writes they replaced (the disk's `dd` rate is measured at 1 MiB), while the copy into
 * a segment holds the event loop for a fraction of a millisecond.
 */
const _DIRECT_SEGMENT_BYTES = 1 << 20;
/** Direct writes of one put in flight at once; its stage holds this many segments. */
const _DIRECT_WRITES_IN_FLIGHT = 2;

/** Slices shorter than this are joined with their neighbours rather than written one by one. */
const _COALESCE_BELOW_BYTES = 64 * 1024;

/**
 * The writes that store `body` in order, none longer than `chunkBytes`: long slices as they are
 * (no copy), runs of short ones joined so an object of many small batches costs few writes.
 */
function* _writeChunks(body: ObjectBody, chunkBytes: number): Generator<Uint8Array> {
  const slices = body instanceof Uint8Array ? [body] : body;
  let run: Uint8Array[] = [];
  let runBytes = 0;
  for (const slice of slices) {
    if (slice.length >= _COALESCE_BELOW_BYTES) {
      if (run.length > 0) yield* _split(joinObjectBody(run), chunkBytes);
      run = [];
      runBytes = 0;
      yield* _split(slice, chunkBytes);
      continue;
    }
    run.push(slice);
    runBytes += slice.length;
    if (runBytes >= Math.min(chunkBytes, 16 * _COALESCE_BELOW_BYTES)) {
      yield* _split(joinObjectBody(run), chunkBytes);
      run = [];
      runBytes = 0;
    }
  }
  if (run.length > 0) yield* _split(joinObjectBody(run), chunkBytes);
}

function* _split(bytes: Uint8Array, chunkBytes: number): Generator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += chunkBytes) {
    yield bytes.subarray(offset, offset + chunkBytes);
  }
}
