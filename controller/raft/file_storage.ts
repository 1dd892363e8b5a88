/**
 * File-backed Raft storage, the driver behind `controller.data_dir`.
 *
 * Layout of the directory:
 * - `log-<first index, 20 digits>.seg`: append-only log segments. Each entry is one record:
 *   ```
 *   record  = length:u32le crc:u32le payload
 *   payload = UTF-8 JSON [index, term, kind, data]
 *   crc     = CRC32C(payload)
 *   ```
 * - `hardstate` and `snapshot`: one record each, replaced atomically (write a temporary file,
 *   fsync it, rename it over the old one, fsync the directory).
 *
 * A crash can tear only the tail of the newest segment (everything before it was fsynced before
 * the Ready's messages left), so on load a short or mis-checksummed tail there is cut off. The
 * same damage anywhere else is corruption and refuses to load.
 *
 * @module
 */

import { crc32c } from "../../protocol/crc32c.ts";
import { type Disk, mkdirDurable, systemDisk, writeFileAtomic } from "../../ops/disk.ts";
import { StorageCorruptError } from "./errors.ts";
import {
  applyPersistBatch,
  emptyPersistedState,
  type PersistBatch,
  type RaftStorage,
} from "./storage.ts";
import type { Entry, EntryKind, HardState, PersistedState, Snapshot } from "./types.ts";

/** Options of {@linkcode FileStorage.open}. */
export interface FileStorageOptions {
  /** Size at which a new log segment is started. @default 67108864 (64 MiB) */
  segmentBytesMax?: number;
  /** Largest encoded entry, hard state or snapshot accepted. @default 268435456 (256 MiB) */
  recordBytesMax?: number;
  /** The file system (a `CrashDisk` in power-cut tests). @default systemDisk */
  disk?: Disk;
}

const HEADER_BYTES = 8;
const SEGMENT_RE = /^log-(\d{20})\.seg$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

interface Segment {
  first: number;
  path: string;
  /** Byte offset of each entry's record; entry `first + i` starts at `offsets[i]`. */
  offsets: number[];
  bytes: number;
}

/** What {@linkcode _parseRecords} found in one file. */
interface ParsedRecords {
  payloads: Uint8Array[];
  offsets: number[];
  /** Where valid records end; less than the file size when the tail is torn. */
  validBytes: number;
}

function _encodeRecord(payload: unknown, recordBytesMax: number): Uint8Array {
  const body = encoder.encode(JSON.stringify(payload));
  if (body.length + HEADER_BYTES > recordBytesMax) {
    throw new RangeError(
      `Cannot store a record as it must be at most ${recordBytesMax} bytes: current value is ${body.length}`,
    );
  }
  const out = new Uint8Array(HEADER_BYTES + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length, true);
  view.setUint32(4, crc32c(body), true);
  out.set(body, HEADER_BYTES);
  return out;
}

function _parseRecords(bytes: Uint8Array, recordBytesMax: number): ParsedRecords {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const payloads: Uint8Array[] = [];
  const offsets: number[] = [];
  let at = 0;
  while (bytes.length - at >= HEADER_BYTES) {
    const length = view.getUint32(at, true);
    const end = at + HEADER_BYTES + length;
    if (length + HEADER_BYTES > recordBytesMax || end > bytes.length) break;
    const body = bytes.subarray(at + HEADER_BYTES, end);
    if (crc32c(body) !== view.getUint32(at + 4, true)) break;
    payloads.push(body);
    offsets.push(at);
    at = end;
  }
  return { payloads, offsets, validBytes: at };
}

function _decodeEntry(body: Uint8Array, path: string): Entry {
  const raw = JSON.parse(decoder.decode(body)) as [number, number, EntryKind, string];
  if (!Array.isArray(raw) || raw.length !== 4) {
    throw new StorageCorruptError(`Cannot load ${path} as an entry is malformed`);
  }
  return { index: raw[0], term: raw[1], kind: raw[2], data: raw[3] };
}

function _segmentName(first: number): string {
  return `log-${String(first).padStart(20, "0")}.seg`;
}

/**
 * Durable Raft storage in a directory.
 *
 * @example
 * ```ts
 * import { FileStorage } from "./file_storage.ts";
 * const dir = await Deno.makeTempDir();
 * const s = await FileStorage.open(dir);
 * await s.save({ snapshot: null, entries: [{ index: 1, term: 1, kind: "normal", data: "x" }], hardState: { term: 1, vote: null, commit: 0 } });
 * const again = await FileStorage.open(dir);
 * if ((await again.load()).entries.length !== 1) throw new Error("entry lost");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class FileStorage implements RaftStorage {
  readonly #dir: string;
  readonly #disk: Disk;
  readonly #segmentBytesMax: number;
  readonly #recordBytesMax: number;
  #state: PersistedState = emptyPersistedState();
  #segments: Segment[] = [];
  /** Bytes cut off a torn tail when the directory was opened; 0 when none. */
  tornBytesTruncated = 0;

  private constructor(dir: string, options: FileStorageOptions) {
    this.#dir = dir;
    this.#disk = options.disk ?? systemDisk;
    this.#segmentBytesMax = options.segmentBytesMax ?? 64 * 1024 * 1024;
    this.#recordBytesMax = options.recordBytesMax ?? 256 * 1024 * 1024;
    if (!Number.isInteger(this.#segmentBytesMax) || this.#segmentBytesMax < 1) {
      throw new RangeError(
        `Cannot open storage as segmentBytesMax must be an integer >= 1: current value is ${this.#segmentBytesMax}`,
      );
    }
    if (!Number.isInteger(this.#recordBytesMax) || this.#recordBytesMax <= HEADER_BYTES) {
      throw new RangeError(
        `Cannot open storage as recordBytesMax must be an integer > 8: current value is ${this.#recordBytesMax}`,
      );
    }
  }

  /** Opens (creating if needed) the storage in `dir`, repairing a torn log tail. */
  static async open(dir: string, options: FileStorageOptions = {}): Promise<FileStorage> {
    const storage = new FileStorage(dir, options);
    // A directory made just now must be durable in its parent too, or a power cut can drop
    // it with the hard state and committed entries in it.
    await mkdirDurable(storage.#disk, dir);
    await storage.#recover();
    return storage;
  }

  load(): Promise<PersistedState> {
    const s = this.#state;
    return Promise.resolve({
      hardState: { ...s.hardState },
      snapshot: s.snapshot,
      entries: [...s.entries],
    });
  }

  async save(batch: PersistBatch): Promise<void> {
    if (batch.snapshot !== null) await this.#saveSnapshot(batch.snapshot);
    if (batch.entries.length > 0) await this.#saveEntries(batch.entries);
    if (batch.hardState !== null) {
      await this.#writeAtomic("hardstate", _encodeRecord(batch.hardState, this.#recordBytesMax));
    }
    applyPersistBatch(this.#state, batch);
  }

  // ------------------------------------------------------------ writing

  async #saveSnapshot(snapshot: Snapshot): Promise<void> {
    await this.#writeAtomic("snapshot", _encodeRecord(snapshot, this.#recordBytesMax));
    const s = this.#state;
    const at = s.entries[snapshot.index - s.snapshot.index - 1];
    if (at !== undefined && at.term === snapshot.term) {
      // A local compaction: drop segments wholly before the snapshot, but keep the one holding
      // the snapshot's own entry, which tells a later load that the suffix belongs to it.
      while (this.#segments.length > 1 && this.#segmentLast(this.#segments[0]!) < snapshot.index) {
        await this.#disk.remove(this.#segments.shift()!.path);
      }
      return;
    }
    await this.#removeAllSegments();
  }

  /**
   * Deletes every segment, newest first: a crash part-way leaves a prefix of the old log that
   * starts at or before the snapshot, which a later load recognises as a leftover.
   */
  async #removeAllSegments(): Promise<void> {
    while (this.#segments.length > 0) await this.#disk.remove(this.#segments.pop()!.path);
    await this.#syncDir();
  }

  async #saveEntries(entries: readonly Entry[]): Promise<void> {
    const first = entries[0]!.index;
    await this.#truncateFrom(first);
    let created = false;
    let i = 0;
    while (i < entries.length) {
      let seg = this.#segments.at(-1);
      if (seg === undefined || seg.bytes >= this.#segmentBytesMax) {
        seg = {
          first: entries[i]!.index,
          path: `${this.#dir}/${_segmentName(entries[i]!.index)}`,
          offsets: [],
          bytes: 0,
        };
        this.#segments.push(seg);
        created = true;
      }
      const chunks: Uint8Array[] = [];
      let bytes = 0;
      for (; i < entries.length && seg.bytes + bytes < this.#segmentBytesMax; i++) {
        const e = entries[i]!;
        const record = _encodeRecord([e.index, e.term, e.kind, e.data], this.#recordBytesMax);
        seg.offsets.push(seg.bytes + bytes);
        chunks.push(record);
        bytes += record.length;
      }
      await this.#appendToSegment(seg, chunks, bytes);
    }
    if (created) await this.#syncDir();
  }

  async #appendToSegment(seg: Segment, chunks: Uint8Array[], bytes: number): Promise<void> {
    const buffer = new Uint8Array(bytes);
    let at = 0;
    for (const c of chunks) {
      buffer.set(c, at);
      at += c.length;
    }
    using file = await this.#disk.open(seg.path, { write: true, create: true });
    await file.writeAt(buffer, seg.bytes);
    await file.sync();
    seg.bytes += bytes;
  }

  /** Removes every entry from `index` on, from the files and the segment table. */
  async #truncateFrom(index: number): Promise<void> {
    let removed = false;
    while (this.#segments.length > 0 && index <= this.#segments.at(-1)!.first) {
      await this.#disk.remove(this.#segments.pop()!.path);
      removed = true;
    }
    // The removals must be durable before the segment before them is cut: otherwise a power
    // cut can bring a removed later segment back after a shortened one, a gap that refuses
    // to load.
    if (removed) await this.#syncDir();
    const seg = this.#segments.at(-1);
    if (seg === undefined || index > this.#segmentLast(seg)) return;
    const offset = seg.offsets[index - seg.first]!;
    await this.#disk.truncate(seg.path, offset);
    using file = await this.#disk.open(seg.path, { write: true });
    await file.sync();
    seg.offsets.length = index - seg.first;
    seg.bytes = offset;
  }

  #writeAtomic(name: string, bytes: Uint8Array): Promise<void> {
    return writeFileAtomic(this.#disk, `${this.#dir}/${name}`, bytes);
  }

  #syncDir(): Promise<void> {
    return this.#disk.syncDir(this.#dir);
  }

  #segmentLast(seg: Segment): number {
    return seg.first + seg.offsets.length - 1;
  }

  // ------------------------------------------------------------ loading

  async #recover(): Promise<void> {
    const names: string[] = [];
    for (const e of await this.#disk.readDir(this.#dir)) {
      if (e.name.endsWith(".tmp")) await this.#disk.remove(`${this.#dir}/${e.name}`);
      else if (e.isFile && SEGMENT_RE.test(e.name)) names.push(e.name);
    }
    names.sort();
    const hardState = await this.#readSingle<HardState>("hardstate");
    const snapshot = await this.#readSingle<Snapshot>("snapshot");
    const state = emptyPersistedState();
    if (hardState !== null) state.hardState = hardState;
    if (snapshot !== null) state.snapshot = snapshot;
    const all = await this.#loadSegments(names);
    state.entries = await this.#entriesAfterSnapshot(all, state.snapshot);
    const lastIndex = state.snapshot.index + state.entries.length;
    if (state.hardState.commit > lastIndex) {
      throw new StorageCorruptError(
        `Cannot load ${this.#dir} as the stored commit index is beyond the log: current value is ${state.hardState.commit} > ${lastIndex}`,
      );
    }
    this.#state = state;
  }

  async #readSingle<T>(name: string): Promise<T | null> {
    let bytes: Uint8Array;
    try {
      bytes = await this.#disk.readFile(`${this.#dir}/${name}`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
    const parsed = _parseRecords(bytes, this.#recordBytesMax);
    // Written by atomic rename, so anything but one whole record is corruption, not a tear.
    if (parsed.payloads.length !== 1 || parsed.validBytes !== bytes.length) {
      throw new StorageCorruptError(
        `Cannot load ${this.#dir}/${name} as its checksum or length is wrong`,
      );
    }
    return JSON.parse(decoder.decode(parsed.payloads[0]!)) as T;
  }

  /** Reads every segment, cutting a torn tail off the newest one; returns all entries. */
  async #loadSegments(names: readonly string[]): Promise<Entry[]> {
    const entries: Entry[] = [];
    for (let k = 0; k < names.length; k++) {
      const path = `${this.#dir}/${names[k]!}`;
      const first = Number(SEGMENT_RE.exec(names[k]!)![1]);
      const bytes = await this.#disk.readFile(path);
      const parsed = _parseRecords(bytes, this.#recordBytesMax);
      if (parsed.validBytes !== bytes.length) {
        if (k !== names.length - 1) {
          throw new StorageCorruptError(
            `Cannot load ${path} as a record inside the log is damaged`,
          );
        }
        await this.#disk.truncate(path, parsed.validBytes);
        this.tornBytesTruncated += bytes.length - parsed.validBytes;
      }
      const prev = entries.at(-1);
      if (prev !== undefined && prev.index + 1 !== first) {
        throw new StorageCorruptError(
          `Cannot load ${path} as it starts at ${first}, not after ${prev.index}`,
        );
      }
      parsed.payloads.forEach((body, i) => {
        const e = _decodeEntry(body, path);
        if (e.index !== first + i) {
          throw new StorageCorruptError(`Cannot load ${path} as entry ${e.index} is out of place`);
        }
        entries.push(e);
      });
      this.#segments.push({ first, path, offsets: parsed.offsets, bytes: parsed.validBytes });
    }
    return entries;
  }

  /**
   * The entries that belong after `snapshot`. They belong only if the log holds the snapshot's
   * own entry with its term; otherwise the snapshot came from a leader and the segments are
   * leftovers of the log it replaced (a crash came before they were deleted).
   */
  async #entriesAfterSnapshot(all: Entry[], snapshot: Snapshot): Promise<Entry[]> {
    if (all.length === 0) return [];
    const first = all[0]!.index;
    if (snapshot.index === 0) {
      if (first !== 1) {
        throw new StorageCorruptError(
          `Cannot load ${this.#dir} as the log starts at ${first}, not 1`,
        );
      }
      return all;
    }
    // A log started afresh after a snapshot from the leader.
    if (first === snapshot.index + 1) return all;
    if (first > snapshot.index + 1) {
      throw new StorageCorruptError(
        `Cannot load ${this.#dir} as the log starts at ${first}, after snapshot ${snapshot.index}`,
      );
    }
    const at = all[snapshot.index - first];
    if (at !== undefined && at.term === snapshot.term) return all.slice(snapshot.index - first + 1);
    await this.#removeAllSegments();
    return [];
  }
}
