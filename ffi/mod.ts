/**
 * Thin FFI bindings used by the broker: libc direct I/O and an io_uring ring.
 *
 * @module
 */
export { AlignedBuffer, DIRECT_IO_ALIGNMENT } from "./aligned_buffer.ts";
export { DirectFile, type DirectFileOptions } from "./direct_file.ts";
export { IoUring, type UringCompletion } from "./io_uring.ts";
export {
  cString,
  describeErrno,
  ENOSPC,
  lastErrno,
  type Libc,
  loadLibc,
  OsCallError,
} from "./libc.ts";
