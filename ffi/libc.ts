/**
 * The few libc calls the WAL's direct-I/O backend needs, loaded with `Deno.dlopen`.
 *
 * Deno's own file API cannot open with `O_DIRECT` or write at an offset without a seek, so the
 * direct-I/O backend reaches libc itself. Everything here is Linux x86_64/aarch64 glibc: the flag
 * values below are the generic Linux ones. `loadLibc()` returns `null` anywhere it cannot load,
 * and the WAL then falls back to its portable backend.
 *
 * Needs `--allow-ffi`.
 *
 * @module
 */

/** `open(2)` flags (Linux, generic values used by x86_64 and aarch64). */
export const O_WRONLY = 0o1;
/** Create the file if it does not exist. */
export const O_CREAT = 0o100;
/** Fail if the file exists (with `O_CREAT`). */
export const O_EXCL = 0o200;
/** Each write is durable (data and the metadata needed to read it) when it returns. */
export const O_DSYNC = 0o10000;
/** Bypass the page cache: offsets, lengths and buffers must be block aligned. */
export const O_DIRECT = 0o40000;
/** Do not leak the descriptor into child processes. */
export const O_CLOEXEC = 0o2000000;

/** errno values the WAL tells apart. */
export const EINVAL = 22;
/** No space left on device. */
export const ENOSPC = 28;
/** Disk quota exceeded: handled like ENOSPC. */
export const EDQUOT = 122;

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  pwrite: { parameters: ["i32", "pointer", "usize", "i64"], result: "isize" },
  // The same call on a worker thread, so a slow durable write never stalls the event loop.
  pwrite_nb: {
    name: "pwrite",
    parameters: ["i32", "pointer", "usize", "i64"],
    result: "isize",
    nonblocking: true,
  },
  fdatasync: { parameters: ["i32"], result: "i32" },
  flock: { parameters: ["i32", "i32"], result: "i32" },
  fsync: { parameters: ["i32"], result: "i32" },
  fallocate: { parameters: ["i32", "i32", "i64", "i64"], result: "i32" },
  fdatasync_nb: { name: "fdatasync", parameters: ["i32"], result: "i32", nonblocking: true },
  posix_memalign: { parameters: ["buffer", "usize", "usize"], result: "i32" },
  free: { parameters: ["pointer"], result: "void" },
  malloc: { parameters: ["usize"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  statvfs: { parameters: ["buffer", "buffer"], result: "i32" },
} as const;

/** The loaded libc symbols. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let _cached: Libc | null | undefined;

/**
 * Loads `libc.so.6` once and returns its symbols, or `null` when FFI or glibc is unavailable
 * (another OS, no `--allow-ffi`).
 *
 * @example
 * ```ts
 * import { loadLibc } from "./libc.ts";
 * const libc = loadLibc();
 * if (libc !== null) libc.close(-1);
 * ```
 */
export function loadLibc(): Libc | null {
  if (_cached !== undefined) return _cached;
  try {
    _cached = Deno.build.os === "linux" ? Deno.dlopen("libc.so.6", SYMBOLS).symbols : null;
  } catch {
    _cached = null;
  }
  return _cached;
}

/**
 * Reads the calling thread's `errno`. Valid only right after a synchronous (blocking) FFI call:
 * a `nonblocking` call runs on another thread, whose errno this cannot see.
 */
export function lastErrno(libc: Libc): number {
  const p = libc.__errno_location();
  if (p === null) return 0;
  return new Deno.UnsafePointerView(p).getInt32(0);
}

/** Describes an errno value in words, e.g. `"No space left on device"`. */
export function describeErrno(libc: Libc, errno: number): string {
  const p = libc.strerror(errno);
  return p === null ? `errno ${errno}` : Deno.UnsafePointerView.getCString(p);
}

/** Encodes a path as the NUL-terminated byte string C expects. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  const encoded = new TextEncoder().encode(text);
  const out = new Uint8Array(encoded.length + 1);
  out.set(encoded);
  return out;
}

/**
 * A failed libc call. `errno` is the raw value; `code` is a stable name for the ones callers
 * tell apart (`ENOSPC`, `EINVAL`), else `"EIO_OTHER"`.
 */
export class OsCallError extends Error {
  /** Stable code: the errno name for known values. */
  readonly code: string;
  /** Raw errno. */
  readonly errno: number;
  /** ENOSPC/EDQUOT may succeed later, once space is freed. */
  readonly retriable: boolean;

  /** @param call what was attempted, e.g. `"pwrite wal-00001.log"` */
  constructor(call: string, errno: number, description: string) {
    super(`Cannot ${call} as the system call failed: errno ${errno} (${description})`);
    this.name = "OsCallError";
    this.errno = errno;
    this.code = errno === ENOSPC
      ? "ENOSPC"
      : errno === EDQUOT
      ? "EDQUOT"
      : errno === EINVAL
      ? "EINVAL"
      : "EIO_OTHER";
    this.retriable = errno === ENOSPC || errno === EDQUOT;
  }
}
