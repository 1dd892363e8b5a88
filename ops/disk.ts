/**
 * The file-system seam for durable files: the Raft log and its hard state and snapshots, the
 * leader-epoch checkpoints, `streams.json` and the other local metadata files, and the local
 * object store all reach the disk through one {@linkcode Disk}. Roles pass
 * {@linkcode systemDisk}; power-cut tests pass a `CrashDisk` (ops/crash_disk.ts), which forgets
 * every write and directory change that was not made durable when it "loses power".
 *
 * The contract is POSIX's: file contents (and size) are durable after {@linkcode DiskFile.sync};
 * a created, renamed or removed directory entry is durable only after
 * {@linkcode Disk.syncDir} of the directory holding it. Errors are Deno's
 * (`Deno.errors.NotFound`, `AlreadyExists`, ...), so callers map them the same way for every
 * implementation.
 *
 * @module
 */

/** What {@linkcode Disk.stat} and {@linkcode DiskFile.stat} report. */
export interface DiskStat {
  readonly isFile: boolean;
  readonly isDirectory: boolean;
  readonly size: number;
  /** Last modification; `null` where unknown. */
  readonly mtime: Date | null;
  /** Inode number; changes when a rename puts another file at the path. */
  readonly ino: number | null;
}

/** One entry of {@linkcode Disk.readDir}. */
export interface DiskEntry {
  readonly name: string;
  readonly isFile: boolean;
  readonly isDirectory: boolean;
}

/** How {@linkcode Disk.open} opens a file. */
export interface DiskOpenOptions {
  readonly read?: boolean;
  readonly write?: boolean;
  /** Create the file if it is missing. */
  readonly create?: boolean;
  /** Create the file, failing with `AlreadyExists` if it is there. */
  readonly createNew?: boolean;
  /** Cut the file to 0 bytes on open. */
  readonly truncate?: boolean;
  /** Permission bits of a created file. */
  readonly mode?: number;
}

/** An open file. Positional reads and writes, so no caller shares a seek pointer. */
export interface DiskFile extends Disposable {
  /** Reads into `into` from `position`; resolves the bytes read, 0 at the end of the file. */
  readAt(into: Uint8Array, position: number): Promise<number>;
  /** Writes all of `bytes` at `position`, growing the file as needed. */
  writeAt(bytes: Uint8Array, position: number): Promise<void>;
  /** Size and kind of the open file. */
  stat(): Promise<DiskStat>;
  /** fsync: makes the contents and size durable (not the directory entry). */
  sync(): Promise<void>;
  /** Closes the file. */
  close(): void;
}

/** A file system. */
export interface Disk {
  /** Opens a file. */
  open(path: string, options: DiskOpenOptions): Promise<DiskFile>;
  /** A whole file. */
  readFile(path: string): Promise<Uint8Array>;
  /** The file or directory at `path`; throws `NotFound` when there is none. */
  stat(path: string): Promise<DiskStat>;
  /** The entries of a directory. */
  readDir(path: string): Promise<DiskEntry[]>;
  /** Creates a directory (and, with `recursive`, its missing parents). */
  mkdir(path: string, options?: { recursive?: boolean }): Promise<void>;
  /** Renames a file, replacing `to`; durable once both directories are synced. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file or an empty directory. */
  remove(path: string): Promise<void>;
  /** Cuts a file to `length` bytes (durable after a sync of the file). */
  truncate(path: string, length: number): Promise<void>;
  /** fsync of a directory: makes its created, renamed and removed entries durable. */
  syncDir(path: string): Promise<void>;
}

/** The parent directory of `path` ("." for a bare name, "/" for a top-level path). */
export function parentDir(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash < 0) return ".";
  return slash === 0 ? "/" : path.slice(0, slash);
}

/**
 * Creates `path` and any missing parents, syncing the parent of each directory it creates: a
 * new directory is an entry of its parent, and without that sync a power cut can drop it with
 * everything in it. Nothing is synced when the directory already exists.
 */
export async function mkdirDurable(disk: Disk, path: string): Promise<void> {
  try {
    if ((await disk.stat(path)).isDirectory) return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const parent = parentDir(path);
  if (parent !== path && parent !== ".") await mkdirDurable(disk, parent);
  try {
    await disk.mkdir(path);
  } catch (error) {
    // Made meanwhile by a concurrent caller; that caller syncs the parent.
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    return;
  }
  await disk.syncDir(parent);
}

/**
 * Writes `bytes` to `path` so that a crash leaves the old file or the whole new one: a temporary
 * file is written and synced, renamed over `path`, and the directory is synced.
 */
export async function writeFileAtomic(disk: Disk, path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`;
  {
    using file = await disk.open(tmp, { write: true, create: true, truncate: true });
    await file.writeAt(bytes, 0);
    await file.sync();
  }
  await disk.rename(tmp, path);
  await disk.syncDir(parentDir(path));
}

/**
 * {@linkcode writeFileAtomic} for callers that must finish before they return (a config change
 * acknowledged to an operator in the same call): a temporary file, fsync, rename, and an fsync
 * of the directory, on the real file system.
 *
 * @example
 * ```ts
 * import { writeFileAtomicSync } from "./disk.ts";
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * writeFileAtomicSync(`${dir}/c.json`, new TextEncoder().encode("{}"));
 * writeFileAtomicSync(`${dir}/c.json`, new TextEncoder().encode('{"a":1}'));
 * assert.equal(Deno.readTextFileSync(`${dir}/c.json`), '{"a":1}');
 * assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["c.json"]);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function writeFileAtomicSync(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp`;
  {
    using file = Deno.openSync(tmp, { write: true, create: true, truncate: true });
    let written = 0;
    while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
    file.syncSync();
  }
  Deno.renameSync(tmp, path);
  using dir = Deno.openSync(parentDir(path), { read: true });
  dir.syncSync();
}

class _SystemFile implements DiskFile {
  readonly #file: Deno.FsFile;
  /** Seek + read/write is not atomic, so overlapping calls on one file run one at a time. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  readAt(into: Uint8Array, position: number): Promise<number> {
    return this.#serial(async () => {
      await this.#file.seek(position, Deno.SeekMode.Start);
      let filled = 0;
      while (filled < into.length) {
        const n = await this.#file.read(into.subarray(filled));
        if (n === null) break;
        filled += n;
      }
      return filled;
    });
  }

  writeAt(bytes: Uint8Array, position: number): Promise<void> {
    return this.#serial(async () => {
      await this.#file.seek(position, Deno.SeekMode.Start);
      let written = 0;
      while (written < bytes.length) written += await this.#file.write(bytes.subarray(written));
    });
  }

  #serial<T>(body: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(body);
    this.#chain = run.catch(() => {});
    return run;
  }

  async stat(): Promise<DiskStat> {
    return _stat(await this.#file.stat());
  }

  sync(): Promise<void> {
    return this.#file.sync();
  }

  close(): void {
    this.#file.close();
  }

  [Symbol.dispose](): void {
    this.#file.close();
  }
}

function _stat(info: Deno.FileInfo): DiskStat {
  return {
    isFile: info.isFile,
    isDirectory: info.isDirectory,
    size: info.size,
    mtime: info.mtime,
    ino: info.ino,
  };
}

/**
 * The real file system, through `Deno.*`.
 *
 * @example
 * ```ts
 * import { systemDisk, writeFileAtomic } from "./disk.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(systemDisk, `${dir}/a`, new TextEncoder().encode("x"));
 * if ((await systemDisk.stat(`${dir}/a`)).size !== 1) throw new Error("not written");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export const systemDisk: Disk = {
  async open(path, options) {
    return new _SystemFile(await Deno.open(path, options));
  },
  readFile: (path) => Deno.readFile(path),
  stat: async (path) => _stat(await Deno.stat(path)),
  async readDir(path) {
    const out: DiskEntry[] = [];
    for await (const e of Deno.readDir(path)) {
      out.push({ name: e.name, isFile: e.isFile, isDirectory: e.isDirectory });
    }
    return out;
  },
  mkdir: (path, options) => Deno.mkdir(path, options),
  rename: (from, to) => Deno.rename(from, to),
  remove: (path) => Deno.remove(path),
  truncate: (path, length) => Deno.truncate(path, length),
  async syncDir(path) {
    using dir = await Deno.open(path, { read: true });
    await dir.sync();
  },
};
