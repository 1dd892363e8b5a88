/**
 * `CrashDisk`: an in-memory {@linkcode Disk} that can lose power. SIGKILL leaves the page cache
 * intact, so only a model like this one tests fsync discipline.
 *
 * It keeps, for every file, the contents as the process sees them and the contents last made
 * durable by `sync`; for every directory, its entries and the entries last made durable by
 * `syncDir`. A created file, a `mkdir`, a rename and a remove change only the live entries until
 * the directory holding them is synced, as on POSIX file systems. {@linkcode CrashDisk.crash}
 * throws the live state away and keeps the durable one:
 * - by default every write and directory change not yet synced is lost;
 * - with `torn: true`, each file and directory instead keeps a random prefix (from the seeded
 *   `random`) of its unsynced changes, the last of them possibly cut part-way, as a disk that
 *   wrote some of its cache back before the power went.
 *
 * {@linkcode CrashDisk.cutPowerAfter} picks the crash point: after that many more mutating
 * calls, every call fails with {@linkcode PowerCutError} until `crash()` restarts the disk.
 *
 * @module
 */

import type { Disk, DiskEntry, DiskFile, DiskOpenOptions, DiskStat } from "./disk.ts";
import type { SeededRandom } from "./random.ts";

/** Thrown by every call once the power is cut, until {@linkcode CrashDisk.crash}. */
export class PowerCutError extends Error {
  constructor(operation: string, path: string) {
    super(`Cannot ${operation} '${path}' as the disk has lost power (simulated)`);
    this.name = "PowerCutError";
  }
}

type _Change =
  | { kind: "write"; position: number; bytes: Uint8Array }
  | { kind: "truncate"; length: number };

interface _File {
  kind: "file";
  ino: number;
  mtime: number;
  data: Uint8Array;
  durable: Uint8Array;
  pending: _Change[];
}

/** Entry changes applied together (a rename inside one directory is one group). */
type _EntryChange = [name: string, node: _Node | null][];

interface _Dir {
  kind: "dir";
  ino: number;
  mtime: number;
  entries: Map<string, _Node>;
  durable: Map<string, _Node>;
  pending: _EntryChange[];
}

type _Node = _File | _Dir;

/** Options of {@linkcode CrashDisk}. */
export interface CrashDiskOptions {
  /** Keep a random prefix of unsynced changes at a crash instead of none. @default false */
  torn?: boolean;
  /** Required with `torn`: decides how much of each unsynced change survives. */
  random?: SeededRandom;
}

/**
 * A disk in memory that forgets unsynced writes and directory changes on {@linkcode crash}.
 *
 * @example
 * ```ts
 * import { CrashDisk } from "./crash_disk.ts";
 * import { writeFileAtomic } from "./disk.ts";
 * const disk = new CrashDisk();
 * await disk.mkdir("/d", { recursive: true });
 * await disk.syncDir("/"); // else "/d" itself is lost at the crash
 * await writeFileAtomic(disk, "/d/a", new Uint8Array([1]));
 * const f = await disk.open("/d/b", { write: true, create: true });
 * await f.writeAt(new Uint8Array([2]), 0);
 * disk.crash();
 * if ((await disk.readFile("/d/a"))[0] !== 1) throw new Error("synced file lost");
 * if ((await disk.readDir("/d")).some((e) => e.name === "b")) throw new Error("unsynced entry kept");
 * ```
 */
export class CrashDisk implements Disk {
  readonly #torn: boolean;
  readonly #random: SeededRandom | undefined;
  #root: _Dir;
  #nextIno = 2;
  #clock = 1;
  #generation = 0;
  #cutAfter = Infinity;
  /** Mutating calls made so far (to size a crash-point range with a dry run). */
  mutations = 0;
  /** Crashes so far. */
  crashes = 0;

  constructor(options: CrashDiskOptions = {}) {
    if (options.torn === true && options.random === undefined) {
      throw new RangeError("Cannot create a torn CrashDisk without a seeded random");
    }
    this.#torn = options.torn === true;
    this.#random = options.random;
    this.#root = _newDir(1, 0);
  }

  /** Whether the power is cut (every call fails until {@linkcode crash}). */
  get powerCut(): boolean {
    return this.#cutAfter <= 0;
  }

  /** Cuts the power after `count` more mutating calls (0: now). */
  cutPowerAfter(count: number): void {
    this.#cutAfter = count;
  }

  /**
   * Loses power and comes back: the live state becomes the durable one (plus, when torn, a
   * random prefix of the unsynced changes). Open files from before become unusable.
   */
  crash(): void {
    const rebuilt = new Map<_Node, _Node>();
    this.#root = this.#rebuildDir(this.#root, rebuilt);
    this.#generation++;
    this.#cutAfter = Infinity;
    this.crashes++;
  }

  // ------------------------------------------------------------ Disk

  open(path: string, options: DiskOpenOptions): Promise<DiskFile> {
    return this.#run("open", path, options.create || options.createNew || options.truncate, () => {
      const { dir, name } = this.#parent(path);
      let node = dir.entries.get(name);
      if (node !== undefined && options.createNew) throw new Deno.errors.AlreadyExists(path);
      if (node === undefined) {
        if (!options.create && !options.createNew) throw new Deno.errors.NotFound(path);
        node = this.#newFile();
        this.#setEntry(dir, [[name, node]]);
      }
      if (node.kind === "dir") {
        if (options.write) throw new Deno.errors.IsADirectory(path);
        return new _CrashFile(this, node, path, this.#generation);
      }
      if (options.truncate) _change(node, { kind: "truncate", length: 0 }, this.#tick());
      return new _CrashFile(this, node, path, this.#generation);
    });
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.#run("read", path, false, () => this.#file(path).data.slice());
  }

  stat(path: string): Promise<DiskStat> {
    return this.#run("stat", path, false, () => _statOf(this.#lookup(path)));
  }

  readDir(path: string): Promise<DiskEntry[]> {
    return this.#run("read directory", path, false, () => {
      const dir = this.#lookup(path);
      if (dir.kind !== "dir") throw new Deno.errors.NotADirectory(path);
      return [...dir.entries].map(([name, n]) => ({
        name,
        isFile: n.kind === "file",
        isDirectory: n.kind === "dir",
      }));
    });
  }

  mkdir(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    return this.#run("mkdir", path, true, () => {
      const parts = _parts(path);
      let dir = this.#root;
      for (let i = 0; i < parts.length; i++) {
        const next = dir.entries.get(parts[i]!);
        const last = i === parts.length - 1;
        if (next === undefined) {
          if (!last && !options.recursive) throw new Deno.errors.NotFound(path);
          const made = _newDir(this.#nextIno++, this.#tick());
          this.#setEntry(dir, [[parts[i]!, made]]);
          dir = made;
        } else if (next.kind === "file") {
          throw last ? new Deno.errors.AlreadyExists(path) : new Deno.errors.NotADirectory(path);
        } else {
          if (last && !options.recursive) throw new Deno.errors.AlreadyExists(path);
          dir = next;
        }
      }
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.#run("rename", from, true, () => {
      const src = this.#parent(from);
      const node = src.dir.entries.get(src.name);
      if (node === undefined) throw new Deno.errors.NotFound(from);
      const dst = this.#parent(to);
      if (dst.dir.entries.get(dst.name)?.kind === "dir") throw new Deno.errors.IsADirectory(to);
      if (src.dir === dst.dir) {
        // One directory: the rename is atomic even when torn.
        this.#setEntry(src.dir, [[src.name, null], [dst.name, node]]);
      } else {
        this.#setEntry(src.dir, [[src.name, null]]);
        this.#setEntry(dst.dir, [[dst.name, node]]);
      }
    });
  }

  remove(path: string): Promise<void> {
    return this.#run("remove", path, true, () => {
      const { dir, name } = this.#parent(path);
      const node = dir.entries.get(name);
      if (node === undefined) throw new Deno.errors.NotFound(path);
      if (node.kind === "dir" && node.entries.size > 0) {
        throw Object.assign(new Error(`Directory not empty: '${path}'`), { code: "ENOTEMPTY" });
      }
      this.#setEntry(dir, [[name, null]]);
    });
  }

  truncate(path: string, length: number): Promise<void> {
    return this.#run("truncate", path, true, () => {
      _change(this.#file(path), { kind: "truncate", length }, this.#tick());
    });
  }

  syncDir(path: string): Promise<void> {
    return this.#run("sync directory", path, true, () => {
      const dir = this.#lookup(path);
      if (dir.kind !== "dir") throw new Deno.errors.NotADirectory(path);
      dir.durable = new Map(dir.entries);
      dir.pending = [];
    });
  }

  // ------------------------------------------------------------ used by open files

  /** Runs one call of an open file, if the file is from the current power cycle. */
  fileCall<T>(
    generation: number,
    operation: string,
    path: string,
    mutates: boolean,
    body: () => T,
  ): Promise<T> {
    if (generation !== this.#generation) {
      return Promise.reject(
        new Deno.errors.BadResource(`Cannot ${operation} '${path}' as it was open before a crash`),
      );
    }
    return this.#run(operation, path, mutates, body);
  }

  /** A new modification time (a counter, not the wall clock). */
  tick(): number {
    return this.#tick();
  }

  // ------------------------------------------------------------ internals

  #run<T>(
    operation: string,
    path: string,
    mutates: boolean | undefined,
    body: () => T,
  ): Promise<T> {
    if (this.#cutAfter <= 0) return Promise.reject(new PowerCutError(operation, path));
    if (mutates) {
      this.mutations++;
      this.#cutAfter--;
      if (this.#cutAfter < 0) {
        this.#cutAfter = 0;
        return Promise.reject(new PowerCutError(operation, path));
      }
    }
    try {
      return Promise.resolve(body());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #tick(): number {
    return this.#clock++;
  }

  #newFile(): _File {
    const empty = new Uint8Array(0);
    return {
      kind: "file",
      ino: this.#nextIno++,
      mtime: this.#tick(),
      data: empty,
      durable: empty,
      pending: [],
    };
  }

  #setEntry(dir: _Dir, change: _EntryChange): void {
    for (const [name, node] of change) {
      if (node === null) dir.entries.delete(name);
      else dir.entries.set(name, node);
    }
    dir.pending.push(change);
    dir.mtime = this.#tick();
  }

  #lookup(path: string): _Node {
    let node: _Node = this.#root;
    for (const part of _parts(path)) {
      if (node.kind !== "dir") throw new Deno.errors.NotADirectory(path);
      const next: _Node | undefined = node.entries.get(part);
      if (next === undefined) throw new Deno.errors.NotFound(path);
      node = next;
    }
    return node;
  }

  #parent(path: string): { dir: _Dir; name: string } {
    const parts = _parts(path);
    const name = parts.pop();
    if (name === undefined) throw new Deno.errors.AlreadyExists(path);
    const dir = this.#lookup(`/${parts.join("/")}`);
    if (dir.kind !== "dir") throw new Deno.errors.NotADirectory(path);
    return { dir, name };
  }

  /** Flips the bits of one byte of a file, live and durable: damage a checksum must catch. */
  flipByte(path: string, position: number): void {
    const file = this.#file(path);
    if (position < 0 || position >= file.data.length) {
      throw new RangeError(
        `Cannot damage '${path}' at ${position}: it has ${file.data.length} bytes`,
      );
    }
    file.data = file.data.slice();
    file.data[position]! ^= 0xff;
    if (position < file.durable.length) {
      file.durable = file.durable.slice();
      file.durable[position]! ^= 0xff;
    }
  }

  #file(path: string): _File {
    const node = this.#lookup(path);
    if (node.kind === "dir") throw new Deno.errors.IsADirectory(path);
    return node;
  }

  /** How many of `count` unsynced changes survive the crash. */
  #kept(count: number): number {
    if (!this.#torn || count === 0) return 0;
    return Math.floor(this.#random!.next() * (count + 1));
  }

  #rebuildDir(dir: _Dir, rebuilt: Map<_Node, _Node>): _Dir {
    const entries = new Map(dir.durable);
    const kept = this.#kept(dir.pending.length);
    for (const change of dir.pending.slice(0, kept)) {
      for (const [name, node] of change) {
        if (node === null) entries.delete(name);
        else entries.set(name, node);
      }
    }
    const out = _newDir(dir.ino, dir.mtime);
    rebuilt.set(dir, out);
    for (const [name, node] of entries) {
      const again = rebuilt.get(node) ??
        (node.kind === "dir" ? this.#rebuildDir(node, rebuilt) : this.#rebuildFile(node));
      rebuilt.set(node, again);
      out.entries.set(name, again);
    }
    out.durable = new Map(out.entries);
    return out;
  }

  #rebuildFile(file: _File): _File {
    let data = file.durable;
    const kept = this.#kept(file.pending.length);
    for (const [i, change] of file.pending.entries()) {
      if (i > kept) break;
      if (i < kept) {
        data = _apply(data, change);
      } else if (this.#torn && change.kind === "write") {
        // The first lost write may still have reached the disk in part.
        const part = Math.floor(this.#random!.next() * change.bytes.length);
        data = _apply(data, { ...change, bytes: change.bytes.subarray(0, part) });
      }
    }
    return { ...file, data, durable: data, pending: [] };
  }
}

class _CrashFile implements DiskFile {
  readonly #disk: CrashDisk;
  readonly #node: _Node;
  readonly #path: string;
  readonly #generation: number;
  #closed = false;

  constructor(disk: CrashDisk, node: _Node, path: string, generation: number) {
    this.#disk = disk;
    this.#node = node;
    this.#path = path;
    this.#generation = generation;
  }

  readAt(into: Uint8Array, position: number): Promise<number> {
    return this.#call("read", false, () => {
      const data = this.#asFile().data;
      const part = data.subarray(Math.min(position, data.length), position + into.length);
      into.set(part);
      return part.length;
    });
  }

  writeAt(bytes: Uint8Array, position: number): Promise<void> {
    return this.#call("write", true, () => {
      _change(this.#asFile(), { kind: "write", position, bytes: bytes.slice() }, this.#disk.tick());
    });
  }

  stat(): Promise<DiskStat> {
    return this.#call("stat", false, () => _statOf(this.#node));
  }

  sync(): Promise<void> {
    return this.#call("sync", true, () => {
      if (this.#node.kind === "dir") {
        this.#node.durable = new Map(this.#node.entries);
        this.#node.pending = [];
        return;
      }
      this.#node.durable = this.#node.data;
      this.#node.pending = [];
    });
  }

  close(): void {
    this.#closed = true;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #asFile(): _File {
    if (this.#node.kind === "dir") throw new Deno.errors.IsADirectory(this.#path);
    return this.#node;
  }

  #call<T>(operation: string, mutates: boolean, body: () => T): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BadResource(`Cannot ${operation} a closed file`));
    }
    return this.#disk.fileCall(this.#generation, operation, this.#path, mutates, body);
  }
}

function _newDir(ino: number, mtime: number): _Dir {
  return { kind: "dir", ino, mtime, entries: new Map(), durable: new Map(), pending: [] };
}

function _parts(path: string): string[] {
  return path.split("/").filter((p) => p !== "" && p !== ".");
}

function _statOf(node: _Node): DiskStat {
  return {
    isFile: node.kind === "file",
    isDirectory: node.kind === "dir",
    size: node.kind === "file" ? node.data.length : 0,
    mtime: new Date(node.mtime),
    ino: node.ino,
  };
}

/** Applies a change to the live contents and queues it as unsynced. */
function _change(file: _File, change: _Change, mtime: number): void {
  file.data = _apply(file.data, change);
  file.pending.push(change);
  file.mtime = mtime;
}

/** Contents after one change; never mutates `data`, which may be the durable copy. */
function _apply(data: Uint8Array, change: _Change): Uint8Array {
  if (change.kind === "truncate") {
    const out = new Uint8Array(change.length);
    out.set(data.subarray(0, change.length));
    return out;
  }
  const out = new Uint8Array(Math.max(data.length, change.position + change.bytes.length));
  out.set(data);
  out.set(change.bytes, change.position);
  return out;
}
