/**
 * An in-memory {@linkcode WalIoBackend} and a manual clock for tests: counts writes and syncs,
 * can hold writes back (to pile appends up behind them), fail the next write, and expose files
 * as bytes for damage injection.
 *
 * @module
 */
import type { WalBuffer, WalIoBackend, WalSegmentWriter } from "./wal_io.ts";
import { alignUp } from "./wal_format.ts";

/**
 * A disk in memory. Every completed write is treated as durable.
 *
 * @example
 * ```ts
 * import { FakeWalBackend } from "./wal_fake_backend.ts";
 * const disk = new FakeWalBackend();
 * console.assert(disk.writes === 0);
 * ```
 */
export class FakeWalBackend implements WalIoBackend {
  /** Backend name. */
  readonly name = "fake";
  /** Writes allowed in flight. */
  readonly inflightMax: number;
  /** Files by path. */
  readonly files = new Map<string, Uint8Array>();
  /** Data writes completed (spare zero-filling not counted). */
  writes = 0;
  /** Explicit syncs. */
  syncs = 0;
  /** Most writes seen in flight at once. */
  maxInflightSeen = 0;
  #inflight = 0;
  #held: (() => void)[] = [];
  #holding = false;
  #failNext: Error | null = null;

  /** @param options.inflightMax writes in flight at once (default 4) */
  constructor(options: { inflightMax?: number } = {}) {
    this.inflightMax = options.inflightMax ?? 4;
  }

  /** Holds every write until {@linkcode release}. */
  hold(): void {
    this.#holding = true;
  }

  /** Completes held writes and stops holding. */
  release(): void {
    this.#holding = false;
    for (const go of this.#held.splice(0)) go();
  }

  /** Writes waiting in {@linkcode hold}. */
  get heldCount(): number {
    return this.#held.length;
  }

  /** Makes the next data write fail with `error` (e.g. one with `code: "ENOSPC"`). */
  failNextWrite(error: Error): void {
    this.#failNext = error;
  }

  /** @inheritdoc */
  allocate(bytes: number): WalBuffer {
    return { bytes: new Uint8Array(alignUp(bytes)), release() {} };
  }

  /** @inheritdoc */
  createSegment(path: string, options: { spare?: string }): Promise<WalSegmentWriter> {
    if (options.spare !== undefined) {
      this.files.set(path, this.#take(options.spare));
    } else if (!this.files.has(path)) this.files.set(path, new Uint8Array(0));
    return Promise.resolve(new _FakeWriter(this, path));
  }

  /** @inheritdoc */
  async prepareSpare(
    path: string,
    sizeBytes: number,
    pace?: () => Promise<void>,
  ): Promise<void> {
    // One chunk: it waits for the pace like every chunk of a real backend.
    await pace?.();
    this.files.set(path, new Uint8Array(sizeBytes));
  }

  /** @inheritdoc */
  rename(from: string, to: string): Promise<void> {
    this.files.set(to, this.#take(from));
    return Promise.resolve();
  }

  /** Performs a data write, honouring hold and failure injection. */
  async write(path: string, bytes: Uint8Array, position: number): Promise<void> {
    this.#inflight++;
    this.maxInflightSeen = Math.max(this.maxInflightSeen, this.#inflight);
    try {
      if (this.#holding) await new Promise<void>((go) => this.#held.push(go));
      await Promise.resolve();
      const failure = this.#failNext;
      this.#failNext = null;
      if (failure !== null) throw failure;
      const file = this.files.get(path);
      if (file === undefined) throw new Deno.errors.NotFound(path);
      const grown = file.length >= position + bytes.length
        ? file
        : new Uint8Array(position + bytes.length);
      if (grown !== file) grown.set(file);
      grown.set(bytes, position);
      this.files.set(path, grown);
      this.writes++;
    } finally {
      this.#inflight--;
    }
  }

  /** @inheritdoc */
  list(dir: string): Promise<string[]> {
    const prefix = `${dir}/`;
    const names = [...this.files.keys()].filter((p) => p.startsWith(prefix));
    return Promise.resolve(
      names.map((p) => p.slice(prefix.length)).filter((n) => !n.includes("/")),
    );
  }

  /** @inheritdoc */
  fileSize(path: string): Promise<number> {
    return Promise.resolve(this.#get(path).length);
  }

  /** @inheritdoc */
  readFile(path: string): Promise<Uint8Array> {
    return Promise.resolve(this.#get(path).slice());
  }

  /** @inheritdoc */
  truncate(path: string, length: number): Promise<void> {
    this.files.set(path, this.#get(path).slice(0, length));
    return Promise.resolve();
  }

  /** @inheritdoc */
  syncFile(): Promise<void> {
    return Promise.resolve();
  }

  /** @inheritdoc */
  remove(path: string): Promise<void> {
    if (!this.files.delete(path)) return Promise.reject(new Deno.errors.NotFound(path));
    return Promise.resolve();
  }

  /** @inheritdoc */
  syncDir(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to release. */
  close(): void {}

  #get(path: string): Uint8Array {
    const file = this.files.get(path);
    if (file === undefined) throw new Deno.errors.NotFound(path);
    return file;
  }

  #take(path: string): Uint8Array {
    const file = this.#get(path);
    this.files.delete(path);
    return file;
  }
}

class _FakeWriter implements WalSegmentWriter {
  #disk: FakeWalBackend;
  #path: string;

  constructor(disk: FakeWalBackend, path: string) {
    this.#disk = disk;
    this.#path = path;
  }

  write(buffer: WalBuffer, length: number, position: number, offset = 0): Promise<void> {
    // Copied now, as a real backend hands the bytes to the kernel at submission.
    return this.#disk.write(this.#path, buffer.bytes.slice(offset, offset + length), position);
  }

  sync(): Promise<void> {
    this.#disk.syncs++;
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
