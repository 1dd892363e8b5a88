/**
 * Page-aligned native memory for direct I/O, from `posix_memalign`.
 *
 * `O_DIRECT` needs the buffer address, the file offset and the length all aligned to the
 * device's logical block. V8 does not promise any alignment for an ArrayBuffer, so buffers come
 * from libc instead and JavaScript sees them through a Uint8Array over the same memory. The
 * memory never moves, which io_uring also needs while a write is in flight.
 *
 * @module
 */
import { type Libc, OsCallError } from "./libc.ts";

/** Alignment used for every direct-I/O buffer, offset and length. */
export const DIRECT_IO_ALIGNMENT = 4096;

/**
 * A block of native memory aligned to {@linkcode DIRECT_IO_ALIGNMENT}. Free it with
 * `[Symbol.dispose]()` (or `using`) once no I/O refers to it.
 *
 * @example
 * ```ts
 * import { AlignedBuffer } from "./aligned_buffer.ts";
 * import { loadLibc } from "./libc.ts";
 * const libc = loadLibc();
 * if (libc !== null) {
 *   using buf = AlignedBuffer.allocate(libc, 8192);
 *   buf.bytes[0] = 1;
 * }
 * ```
 */
export class AlignedBuffer implements Disposable {
  /** The memory, as bytes JavaScript can read and write. */
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** The native address, for FFI calls. */
  readonly pointer: Deno.PointerObject;
  #libc: Libc;
  #freed = false;

  private constructor(libc: Libc, pointer: Deno.PointerObject, byteLength: number) {
    this.#libc = libc;
    this.pointer = pointer;
    this.bytes = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(pointer, byteLength));
  }

  /**
   * Allocates `byteLength` bytes (rounded up to the alignment), zero-filled.
   *
   * @throws {RangeError} if `byteLength` is not a positive safe integer
   * @throws {OsCallError} if libc cannot allocate
   */
  static allocate(libc: Libc, byteLength: number): AlignedBuffer {
    if (!Number.isSafeInteger(byteLength) || byteLength <= 0) {
      throw new RangeError(`Cannot allocate an aligned buffer of ${byteLength} bytes`);
    }
    const size = Math.ceil(byteLength / DIRECT_IO_ALIGNMENT) * DIRECT_IO_ALIGNMENT;
    const out = new BigUint64Array(1);
    const rc = libc.posix_memalign(
      new Uint8Array(out.buffer),
      BigInt(DIRECT_IO_ALIGNMENT),
      BigInt(size),
    );
    if (rc !== 0) throw new OsCallError(`posix_memalign ${size} bytes`, rc, "allocation failed");
    const pointer = Deno.UnsafePointer.create(out[0]!);
    if (pointer === null) throw new OsCallError(`posix_memalign ${size} bytes`, 12, "null");
    // Checked rather than trusted: a misaligned buffer would make every direct write fail with
    // EINVAL far from here.
    const address = Deno.UnsafePointer.value(pointer);
    if (BigInt(address) % BigInt(DIRECT_IO_ALIGNMENT) !== 0n) {
      throw new Error(`posix_memalign returned misaligned address ${address}`);
    }
    const buffer = new AlignedBuffer(libc, pointer, size);
    buffer.bytes.fill(0);
    return buffer;
  }

  /** Whether `[Symbol.dispose]` already ran. */
  get freed(): boolean {
    return this.#freed;
  }

  /** Frees the memory. The caller guarantees no I/O still refers to it. */
  [Symbol.dispose](): void {
    if (this.#freed) return;
    this.#freed = true;
    this.#libc.free(this.pointer);
  }
}
