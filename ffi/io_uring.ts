/**
 * A minimal io_uring ring through `liburing.so.2`, for direct-I/O writes with several in flight.
 *
 * liburing's `io_uring_prep_write`, `io_uring_wait_cqe` and `io_uring_cqe_seen` are `static
 * inline` in its header, so they do not exist in the shared object. What is exported and used
 * here: `io_uring_queue_init`, `io_uring_get_sqe`, `io_uring_submit`, `__io_uring_get_cqe` and
 * `io_uring_queue_exit`. The SQE is filled from TypeScript (the 64-byte layout of
 * `struct io_uring_sqe`) and completions are read straight from the mapped CQ ring.
 *
 * Threading: submission runs on the JS thread (it does not block: the kernel queues the write).
 * Waiting runs `__io_uring_get_cqe(ring, &cqe, submit=0, wait_nr=1)` as a `nonblocking` FFI call
 * on a worker thread. With `submit = 0` that call only reads the CQ ring and enters the kernel
 * with GETEVENTS; it never touches SQ state, so it can run while the JS thread submits. Only
 * the JS thread advances the CQ head, and at most one wait runs at a time.
 *
 * @module
 */
import type { AlignedBuffer } from "./aligned_buffer.ts";
import type { Libc } from "./libc.ts";

const SYMBOLS = {
  io_uring_queue_init: { parameters: ["u32", "pointer", "u32"], result: "i32" },
  io_uring_queue_exit: { parameters: ["pointer"], result: "void" },
  io_uring_get_sqe: { parameters: ["pointer"], result: "pointer" },
  io_uring_submit: { parameters: ["pointer"], result: "i32" },
  wait_cqe_nb: {
    name: "__io_uring_get_cqe",
    parameters: ["pointer", "buffer", "u32", "u32", "pointer"],
    result: "i32",
    nonblocking: true,
  },
} as const;

type Uring = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** `IORING_OP_WRITE`: a `pwrite` with one buffer. */
const IORING_OP_WRITE = 23;
const SQE_BYTES = 64;
const CQE_BYTES = 16;
/** `sizeof(struct io_uring)` is 216 in liburing 2.x; extra room costs nothing. */
const RING_STRUCT_BYTES = 512;
/** Offset of `struct io_uring_cq` inside `struct io_uring` (after the 104-byte SQ part). */
const CQ_OFFSET = 104;

/** One completed operation: the `user_data` given at submission and the kernel's result. */
export interface UringCompletion {
  /** The caller's tag from {@linkcode IoUring.submitWrite}. */
  userData: bigint;
  /** Bytes written, or `-errno`. */
  result: number;
}

let _uring: Uring | null | undefined;

function _loadUring(): Uring | null {
  if (_uring !== undefined) return _uring;
  try {
    _uring = Deno.build.os === "linux" ? Deno.dlopen("liburing.so.2", SYMBOLS).symbols : null;
  } catch {
    _uring = null;
  }
  return _uring;
}

/**
 * An io_uring instance with `entries` submission slots.
 *
 * @example
 * ```ts
 * import { IoUring } from "./io_uring.ts";
 * import { loadLibc } from "./libc.ts";
 * const libc = loadLibc();
 * const ring = libc === null ? null : IoUring.create(libc, 8);
 * ring?.close();
 * ```
 */
export class IoUring {
  /** Submission slots; the caller keeps at most this many operations in flight. */
  readonly entries: number;
  #uring: Uring;
  #ringMemory: Deno.PointerObject;
  #libc: Libc;
  #cqHead: DataView;
  #cqTail: DataView;
  #cqMask: number;
  #cqes: DataView;
  #cqeOut = new BigUint64Array(1);
  #closed = false;

  private constructor(libc: Libc, uring: Uring, ring: Deno.PointerObject, entries: number) {
    this.#libc = libc;
    this.#uring = uring;
    this.#ringMemory = ring;
    this.entries = entries;
    const view = new Deno.UnsafePointerView(ring);
    const field = (offset: number) => Deno.UnsafePointer.create(view.getBigUint64(offset));
    const head = field(CQ_OFFSET), tail = field(CQ_OFFSET + 8);
    const mask = field(CQ_OFFSET + 16), count = field(CQ_OFFSET + 24);
    const cqes = field(CQ_OFFSET + 48);
    if (head === null || tail === null || mask === null || count === null || cqes === null) {
      throw new Error("io_uring: struct io_uring layout is not the one expected (null CQ field)");
    }
    const cqEntries = new Deno.UnsafePointerView(count).getUint32();
    this.#cqMask = new Deno.UnsafePointerView(mask).getUint32();
    // The kernel sizes the CQ ring at twice the SQ ring; anything else means the offsets above
    // do not match this liburing build, and reading on would corrupt memory.
    if (cqEntries < entries || this.#cqMask !== cqEntries - 1) {
      throw new Error(`io_uring: unexpected CQ ring geometry ${cqEntries}/${this.#cqMask}`);
    }
    this.#cqHead = new DataView(Deno.UnsafePointerView.getArrayBuffer(head, 4));
    this.#cqTail = new DataView(Deno.UnsafePointerView.getArrayBuffer(tail, 4));
    this.#cqes = new DataView(Deno.UnsafePointerView.getArrayBuffer(cqes, cqEntries * CQE_BYTES));
  }

  /** Whether liburing.so.2 can be loaded here. */
  static available(): boolean {
    return _loadUring() !== null;
  }

  /**
   * Sets up a ring, or returns `null` when liburing is missing or the kernel refuses
   * (`io_uring_queue_init` failing, e.g. under a seccomp filter).
   */
  static create(libc: Libc, entries: number): IoUring | null {
    if (!Number.isInteger(entries) || entries < 1 || entries > 4096) {
      throw new RangeError(`Cannot create an io_uring with ${entries} entries: use 1..4096`);
    }
    const uring = _loadUring();
    if (uring === null) return null;
    const memory = libc.malloc(BigInt(RING_STRUCT_BYTES));
    if (memory === null) return null;
    new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(memory, RING_STRUCT_BYTES)).fill(0);
    if (uring.io_uring_queue_init(entries, memory, 0) !== 0) {
      libc.free(memory);
      return null;
    }
    return new IoUring(libc, uring, memory, entries);
  }

  /**
   * Queues a write of `length` bytes of `buffer`, starting `offset` bytes into it, at
   * `position` of descriptor `fd` and submits it. Returns false when the submission queue is
   * full (the caller exceeded `entries`).
   */
  submitWrite(
    fd: number,
    buffer: AlignedBuffer,
    length: number,
    position: number,
    userData: bigint,
    offset = 0,
  ): boolean {
    const sqe = this.#uring.io_uring_get_sqe(this.#ringMemory);
    if (sqe === null) return false;
    const bytes = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(sqe, SQE_BYTES));
    bytes.fill(0);
    const view = new DataView(bytes.buffer);
    // struct io_uring_sqe: opcode u8 @0, flags u8 @1, ioprio u16 @2, fd i32 @4, off u64 @8,
    // addr u64 @16, len u32 @24, rw_flags u32 @28, user_data u64 @32; the rest stays zero.
    view.setUint8(0, IORING_OP_WRITE);
    view.setInt32(4, fd, true);
    view.setBigUint64(8, BigInt(position), true);
    view.setBigUint64(16, BigInt(Deno.UnsafePointer.value(buffer.pointer)) + BigInt(offset), true);
    view.setUint32(24, length, true);
    view.setBigUint64(32, userData, true);
    const submitted = this.#uring.io_uring_submit(this.#ringMemory);
    if (submitted < 0) throw new Error(`io_uring_submit failed: ${submitted}`);
    return true;
  }

  /**
   * Waits on a worker thread until at least one completion is ready, then returns every ready
   * completion and marks them seen. Call only with at least one operation in flight.
   */
  async waitCompletions(): Promise<UringCompletion[]> {
    for (;;) {
      const rc = await this.#uring.wait_cqe_nb(
        this.#ringMemory,
        new Uint8Array(this.#cqeOut.buffer),
        0,
        1,
        null,
      );
      const ready = this.#drain();
      if (ready.length > 0) return ready;
      // -EINTR (a signal hit the worker) or -EAGAIN: wait again. Anything else is a bug here.
      if (rc !== 0 && rc !== -4 && rc !== -11) throw new Error(`io_uring wait failed: ${rc}`);
    }
  }

  #drain(): UringCompletion[] {
    const head = this.#cqHead.getUint32(0, true);
    const tail = this.#cqTail.getUint32(0, true);
    const out: UringCompletion[] = [];
    for (let i = head; i !== tail; i = (i + 1) >>> 0) {
      const at = (i & this.#cqMask) * CQE_BYTES;
      out.push({
        userData: this.#cqes.getBigUint64(at, true),
        result: this.#cqes.getInt32(at + 8, true),
      });
    }
    // io_uring_cqe_seen: a plain store is a release store on x86-64 and the kernel only reads
    // the head, so no fence is needed beyond what the FFI call boundary gives.
    this.#cqHead.setUint32(0, tail, true);
    return out;
  }

  /** Tears the ring down. The caller guarantees nothing is in flight. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#uring.io_uring_queue_exit(this.#ringMemory);
    this.#libc.free(this.#ringMemory);
  }
}
