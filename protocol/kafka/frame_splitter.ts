/**
 * Splits a Kafka byte stream into frames: each frame is an int32 size followed by that many
 * bytes (header and body). Sans-IO: the transport pushes whatever chunks it read.
 *
 * @module
 */

import { MalformedFrameError } from "./wire.ts";

/** Options for {@linkcode FrameSplitter}. */
export interface FrameSplitterOptions {
  /**
   * Largest frame accepted, excluding the 4-byte size; Kafka's `socket.request.max.bytes`.
   * A larger size throws {@linkcode MalformedFrameError} before any buffering.
   * @default 104857600 (100 MiB)
   */
  maxFrameBytes?: number;
}

/**
 * Accumulates chunks and returns complete frames, without their size prefix.
 *
 * Frames that lie whole inside a pushed chunk are returned as views of it, so a caller that
 * reuses its read buffer must copy the frames (or the chunk) first.
 *
 * @example
 * ```ts
 * import { FrameSplitter } from "./frame_splitter.ts";
 * const s = new FrameSplitter();
 * const first = s.push(new Uint8Array([0, 0, 0, 2, 7]));
 * const second = s.push(new Uint8Array([8, 0, 0]));
 * if (first.length !== 0 || second.length !== 1 || s.bufferedBytes !== 2) {
 *   throw new Error("unreachable");
 * }
 * ```
 */
export class FrameSplitter {
  readonly #maxFrameBytes: number;
  /** Size-prefix bytes of the next frame, when a chunk ended inside them. */
  readonly #sizeBytes = new Uint8Array(4);
  #sizeFilled = 0;
  /** The frame being filled, allocated once at its final size so large frames copy once. */
  #frame: Uint8Array | null = null;
  #frameFilled = 0;

  /** Creates an empty splitter. */
  constructor(options: FrameSplitterOptions = {}) {
    const maxFrameBytes = options.maxFrameBytes ?? 100 * 1024 * 1024;
    if (!(Number.isInteger(maxFrameBytes) && maxFrameBytes >= 0 && maxFrameBytes <= 0x7fffffff)) {
      throw new RangeError(
        `Cannot create FrameSplitter as maxFrameBytes must be in [0, 2^31): current value is ${maxFrameBytes}`,
      );
    }
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Bytes held back until their frame completes. */
  get bufferedBytes(): number {
    return this.#sizeFilled + (this.#frame === null ? 0 : 4 + this.#frameFilled);
  }

  #checkSize(size: number, offset: number): void {
    if (size < 0 || size > this.#maxFrameBytes) {
      throw new MalformedFrameError(
        `Cannot accept frame as its size is outside [0, ${this.#maxFrameBytes}]: current value is ${size}`,
        offset,
      );
    }
  }

  /**
   * Adds a chunk and returns every frame it completes, in order.
   *
   * @throws {MalformedFrameError} when a frame size is negative or above `maxFrameBytes`; the
   * stream cannot be resynchronised after that, so the connection should be closed.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let pos = 0;
    while (
      pos < chunk.length || (this.#frame !== null && this.#frameFilled === this.#frame.length)
    ) {
      if (this.#frame !== null) {
        const n = Math.min(this.#frame.length - this.#frameFilled, chunk.length - pos);
        this.#frame.set(chunk.subarray(pos, pos + n), this.#frameFilled);
        this.#frameFilled += n;
        pos += n;
        if (this.#frameFilled === this.#frame.length) {
          frames.push(this.#frame);
          this.#frame = null;
        }
        continue;
      }
      if (this.#sizeFilled === 0 && chunk.length - pos >= 4) {
        // Fast path: the size prefix is in this chunk; whole frames are returned as views.
        const size = view.getInt32(pos);
        this.#checkSize(size, pos);
        if (chunk.length - pos - 4 >= size) {
          frames.push(chunk.subarray(pos + 4, pos + 4 + size));
          pos += 4 + size;
        } else {
          this.#startFrame(size);
          pos += 4;
        }
        continue;
      }
      this.#sizeBytes[this.#sizeFilled++] = chunk[pos++]!;
      if (this.#sizeFilled === 4) {
        this.#sizeFilled = 0;
        const size = new DataView(this.#sizeBytes.buffer).getInt32(0);
        this.#checkSize(size, pos - 4);
        this.#startFrame(size);
      }
    }
    return frames;
  }

  #startFrame(size: number): void {
    this.#frame = new Uint8Array(size);
    this.#frameFilled = 0;
  }
}
