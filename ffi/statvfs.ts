/**
 * Free space of a filesystem, from `statvfs(3)`: Deno has no `statfs`, and the WAL must know
 * how much room its disk really has (a `wal.capacity_bytes` above it ends in ENOSPC).
 *
 * @module
 */

import { cString, describeErrno, lastErrno, loadLibc, OsCallError } from "./libc.ts";

/** What `statvfs` says about a filesystem, in bytes. */
export interface FilesystemSpace {
  /** Bytes an unprivileged process may still allocate (`f_bavail * f_frsize`). */
  readonly availableBytes: number;
  /** The filesystem's size (`f_blocks * f_frsize`). */
  readonly totalBytes: number;
}

// glibc's struct statvfs on 64-bit Linux (x86_64 and aarch64): eleven 64-bit fields, then
// six ints of padding; f_frsize at 8, f_blocks at 16, f_bavail at 32.
const STATVFS_BYTES = 112;

/**
 * Returns the space of the filesystem holding `path`, or null when libc cannot be loaded
 * (another OS, no `--allow-ffi`).
 *
 * @throws {OsCallError} when `statvfs` fails (e.g. `path` does not exist)
 *
 * @example
 * ```ts
 * import { filesystemSpace } from "./statvfs.ts";
 * const space = filesystemSpace("/");
 * if (space !== null) console.assert(space.availableBytes <= space.totalBytes);
 * ```
 */
export function filesystemSpace(path: string): FilesystemSpace | null {
  const libc = loadLibc();
  if (libc === null) return null;
  const buf = new Uint8Array(STATVFS_BYTES);
  if (libc.statvfs(cString(path), buf) !== 0) {
    const errno = lastErrno(libc);
    throw new OsCallError(`statvfs ${path}`, errno, describeErrno(libc, errno));
  }
  const view = new DataView(buf.buffer);
  const frsize = Number(view.getBigUint64(8, true));
  return {
    totalBytes: Number(view.getBigUint64(16, true)) * frsize,
    availableBytes: Number(view.getBigUint64(32, true)) * frsize,
  };
}
