/**
 * The I/O seam of the WAL: what a backend (direct I/O through FFI, portable `Deno.FsFile`, or an
 * in-memory fake in tests) must provide. The WAL core never touches files itself.
 *
 * @module
 */

/** A write buffer from {@linkcode WalIoBackend.allocate}; direct I/O needs it aligned. */
export interface WalBuffer {
  /** The memory to encode into (at least the requested length, 4096-aligned size). */
  readonly bytes: Uint8Array;
  /** Returns the buffer to the backend; no I/O may still refer to it. */
  release(): void;
}

/** An open segment file being appended to. */
export interface WalSegmentWriter {
  /**
   * Writes `buffer.bytes[offset..offset+length)` at `position` (all 4096-aligned); resolves
   * when the write completed, and, if the segment was opened with `dsync`, when it is durable.
   * Several may be in flight. The bytes are handed to the OS at the call, not later.
   */
  write(buffer: WalBuffer, length: number, position: number, offset?: number): Promise<void>;
  /** Makes every completed write durable (fdatasync). */
  sync(): Promise<void>;
  /** Closes the file. */
  close(): Promise<void>;
}

/** A WAL I/O backend. */
export interface WalIoBackend {
  /** Shown in the start-up log line, e.g. `"ffi-io_uring"`. */
  readonly name: string;
  /** Most writes this backend handles at once. */
  readonly inflightMax: number;
  /** A buffer of at least `bytes` (a multiple of 4096). */
  allocate(bytes: number): WalBuffer;
  /**
   * Creates a new segment file at `path` and makes its directory entry durable before
   * resolving. With `spare`, renames that prepared file (see {@linkcode prepareSpare}) instead;
   * otherwise reserves `sizeBytes` where the backend can.
   */
  createSegment(
    path: string,
    options: { dsync: boolean; sizeBytes: number; spare?: string },
  ): Promise<WalSegmentWriter>;
  /**
   * Writes a file of `sizeBytes` zeros at `path` and syncs it, so that appends into it later
   * overwrite allocated blocks instead of growing the file. On ext4 a small `O_DSYNC` write
   * that grows the file costs a journal commit; an overwrite does not (measured here: 3.5k
   * against 29k 16 KiB writes/s with 8 in flight).
   *
   * `pace` is awaited before each chunk: the WAL resolves it when no append is being written
   * (or after a short bound), so zero-filling uses the disk's idle time rather than halving a
   * busy writer's throughput.
   */
  prepareSpare(path: string, sizeBytes: number, pace?: () => Promise<void>): Promise<void>;
  /** Renames a file and makes the rename durable. */
  rename(from: string, to: string): Promise<void>;
  /** File names in `dir` (created if missing). */
  list(dir: string): Promise<string[]>;
  /** Size of a file in bytes. */
  fileSize(path: string): Promise<number>;
  /** A whole file. */
  readFile(path: string): Promise<Uint8Array>;
  /** Cuts a file to `length` bytes and makes that durable. */
  truncate(path: string, length: number): Promise<void>;
  /** Makes a file's existing contents durable (used on files found at recovery). */
  syncFile(path: string): Promise<void>;
  /** Deletes a file (durable after {@linkcode syncDir}). */
  remove(path: string): Promise<void>;
  /** Makes creations and deletions in `dir` durable. */
  syncDir(dir: string): Promise<void>;
  /** Releases backend resources (after every segment writer closed). */
  close(): void;
}

/** Receives the WAL's log lines (backend chosen, bytes dropped at recovery). */
export interface WalLogger {
  /** Informational line with structured fields. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Problem worth an operator's attention. Optional; falls back to `info`. */
  warn?(message: string, fields?: Record<string, unknown>): void;
}

/** Whether an error from a backend means the disk is full. */
export function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}
