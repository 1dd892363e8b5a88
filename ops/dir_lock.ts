/**
 * An exclusive lock on a data directory, held for as long as the process uses it, as Kafka
 * locks its log directories: a second broker or controller started on the same directory by
 * mistake (a double start, a copied config) would otherwise interleave writes into the same
 * WAL or Raft log and corrupt both. The lock is `flock(LOCK_EX | LOCK_NB)` on `<dir>/.lock`
 * through FFI (or `Deno.FsFile.lock` without FFI), so the kernel drops it when the process
 * dies, even by SIGKILL.
 *
 * @module
 */

import {
  cString,
  describeErrno,
  lastErrno,
  type Libc,
  loadLibc,
  O_CLOEXEC,
  O_CREAT,
  OsCallError,
} from "../ffi/libc.ts";

/** The directory is locked by another process (or another open in this one). */
export class DirectoryLockedError extends Error {
  /** The locked directory. */
  readonly dir: string;

  /** Creates the error for `dir`, used as `what`. */
  constructor(dir: string, what: string) {
    super(
      `Cannot use ${dir} as the ${what} directory as another RustMQ process holds its lock ` +
        `(${dir}/.lock): stop that process, or give this one its own directory`,
    );
    this.name = "DirectoryLockedError";
    this.dir = dir;
  }
}

/** A held directory lock. */
export interface DirectoryLock {
  /** Releases the lock (closing its file). Idempotent. */
  release(): void;
}

/**
 * Creates `dir` if needed and locks it exclusively. Waits up to `waitMs` for a lock held by a
 * process that is exiting, then throws {@linkcode DirectoryLockedError}.
 *
 * @example
 * ```ts
 * import { DirectoryLockedError, lockDirectory } from "./dir_lock.ts";
 * const dir = await Deno.makeTempDir();
 * const held = await lockDirectory(dir, "WAL");
 * let refused = false;
 * try {
 *   await lockDirectory(dir, "WAL", 100);
 * } catch (error) {
 *   refused = error instanceof DirectoryLockedError;
 * }
 * held.release();
 * (await lockDirectory(dir, "WAL")).release();
 * await Deno.remove(dir, { recursive: true });
 * if (!refused) throw new Error("a second lock was granted");
 * ```
 */
export async function lockDirectory(
  dir: string,
  what: string,
  waitMs = 1500,
): Promise<DirectoryLock> {
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/.lock`;
  const libc = loadLibc();
  if (libc !== null) return await _flockNonBlocking(libc, path, dir, what, waitMs);
  // Without FFI: Deno's blocking lock, given up after `waitMs`. The abandoned request stays
  // pending, which is fine for a process about to exit on the error.
  const file = await Deno.open(path, { read: true, write: true, create: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const locked = file.lock(true).then(() => true, () => false);
  const timedOut = new Promise<boolean>((resolve) =>
    timer = setTimeout(() => resolve(false), waitMs)
  );
  const ok = await Promise.race([locked, timedOut]);
  clearTimeout(timer);
  if (!ok) throw new DirectoryLockedError(dir, what);
  return _held(() => file.close());
}

const _LOCK_EX = 2;
const _LOCK_NB = 4;
const _EWOULDBLOCK = 11;
const _O_RDWR = 2;

async function _flockNonBlocking(
  libc: Libc,
  path: string,
  dir: string,
  what: string,
  waitMs: number,
): Promise<DirectoryLock> {
  const fd = libc.open(cString(path), _O_RDWR | O_CREAT | O_CLOEXEC, 0o644);
  if (fd < 0) {
    const errno = lastErrno(libc);
    throw new OsCallError(`open ${path}`, errno, describeErrno(libc, errno));
  }
  // A process that is exiting may still hold it for a moment: retry briefly.
  for (const deadline = Date.now() + waitMs;;) {
    if (libc.flock(fd, _LOCK_EX | _LOCK_NB) === 0) return _held(() => libc.close(fd));
    const errno = lastErrno(libc);
    if (errno !== _EWOULDBLOCK) {
      libc.close(fd);
      throw new OsCallError(`flock ${path}`, errno, describeErrno(libc, errno));
    }
    if (Date.now() >= deadline) {
      libc.close(fd);
      throw new DirectoryLockedError(dir, what);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function _held(close: () => void): DirectoryLock {
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      close();
    },
  };
}
