/**
 * The broker's write-ahead log.
 *
 * Design, in short (details in each file's module comment):
 * - One WAL per broker; every partition's RecordBatch bytes interleaved in segment files
 *   `wal-<id>.log`, each entry tagged with a u32 stream id the broker assigns to a partition.
 * - Group commit: appends queue while the write slots are busy and leave together; each write
 *   starts on a fresh 4 KiB block (zero-padded tail) so several can be in flight without ever
 *   sharing a block. Acknowledgement follows the completed prefix.
 * - Backends behind {@linkcode WalIoBackend}: direct I/O (`O_DIRECT|O_DSYNC`, io_uring or
 *   pwrite on worker threads, FFI) and portable (`Deno.FsFile` + fdatasync), chosen at open and
 *   logged. Segments come from a zero-filled spare so appends overwrite allocated blocks.
 * - Recovery tells a torn tail (cut, logged) from damaged acknowledged data
 *   ({@linkcode WalCorruptionError}) with the `durableSeq` each entry carries.
 * - Capacity in whole segments; `checkpoint()` makes segments reclaimable; a full WAL makes
 *   appends wait, then fail with {@linkcode WalFullError}.
 *
 * @module
 */
export {
  Wal,
  type WalAppendResult,
  type WalClock,
  type WalOpenResult,
  type WalOptions,
  type WalStats,
} from "./wal.ts";
export {
  WalClosedError,
  WalCorruptionError,
  WalDiskFullError,
  WalError,
  WalFullError,
  WalIoError,
} from "./wal_errors.ts";
export type { RecoveredEntry } from "./wal_recovery.ts";
export {
  type WalBuffer,
  type WalIoBackend,
  type WalLogger,
  type WalSegmentWriter,
} from "./wal_io.ts";
export { FfiBackend, type FfiBackendOptions } from "./wal_ffi_backend.ts";
export { PortableBackend } from "./wal_portable_backend.ts";
export { FakeWalBackend } from "./wal_fake_backend.ts";
