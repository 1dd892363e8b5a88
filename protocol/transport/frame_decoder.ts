/**
 * Kafka framing: every request and response is a 4-byte big-endian size
 * followed by that many bytes.
 *
 * ```
 * Frame => Size Payload
 *   Size => INT32 (big-endian, number of Payload bytes)
 *   Payload => bytes
 * ```
 *
 * {@linkcode FrameDecoder} is sans-IO: drivers push the bytes they read and
 * pop whole frames, so the same code serves TCP connections and QUIC streams.
 *
 * @module
 */
import { FrameTooLargeError } from "./errors.ts";

/** Bytes in the size prefix of a frame. */
export const FRAME_HEADER_BYTES = 4;

/** Options for {@linkcode FrameDecoder}. */
export interface FrameDecoderOptions {
  /**
   * Largest payload accepted; a larger size prefix throws before anything is
   * allocated.
   * @default {104857600} (100 MiB, Kafka's socket.request.max.bytes)
   */
  maxFrameBytes?: number;
}

/** Default maximum frame payload, 100 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 100 * 1024 * 1024;

/**
 * Splits a byte stream into frame payloads.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameDecoder } from "./frame_decoder.ts";
 * const decoder = new FrameDecoder();
 * const wire = encodeFrame(new Uint8Array([1, 2, 3]));
 * decoder.push(wire.subarray(0, 2));
 * decoder.push(wire.subarray(2));
 * const frame = decoder.next();
 * if (frame?.length !== 3) throw new Error();
 * ```
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number;
  readonly #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFilled = 0;
  #frame: Uint8Array | null = null;
  #frameFilled = 0;
  readonly #ready: Uint8Array[] = [];
  #readyHead = 0;

  /** Creates a decoder; throws `RangeError` on an invalid limit. */
  constructor(options: FrameDecoderOptions = {}) {
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 0 || maxFrameBytes > 0x7fffffff) {
      throw new RangeError(
        `Cannot create a FrameDecoder as maxFrameBytes must be an integer in [0, 2^31): current value is ${maxFrameBytes}`,
      );
    }
    this.#maxFrameBytes = maxFrameBytes;
  }

  /**
   * Consumes bytes read from the wire. Throws {@linkcode FrameTooLargeError}
   * when a size prefix exceeds the limit; the decoder is unusable afterwards.
   */
  push(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#frame === null) {
        const take = Math.min(FRAME_HEADER_BYTES - this.#headerFilled, chunk.length - offset);
        this.#header.set(chunk.subarray(offset, offset + take), this.#headerFilled);
        this.#headerFilled += take;
        offset += take;
        if (this.#headerFilled === FRAME_HEADER_BYTES) this.#startFrame();
      } else {
        const take = Math.min(this.#frame.length - this.#frameFilled, chunk.length - offset);
        this.#frame.set(chunk.subarray(offset, offset + take), this.#frameFilled);
        this.#frameFilled += take;
        offset += take;
        if (this.#frameFilled === this.#frame.length) this.#finishFrame();
      }
    }
  }

  /** Returns the next complete frame payload, or null when none is ready. */
  next(): Uint8Array | null {
    if (this.#readyHead === this.#ready.length) return null;
    const frame = this.#ready[this.#readyHead]!;
    this.#readyHead += 1;
    if (this.#readyHead === this.#ready.length) {
      this.#ready.length = 0;
      this.#readyHead = 0;
    }
    return frame;
  }

  /** Number of complete frames waiting in {@linkcode FrameDecoder.next}. */
  get readyFrames(): number {
    return this.#ready.length - this.#readyHead;
  }

  /** True when no partial frame is buffered (a clean place for the stream to end). */
  get atBoundary(): boolean {
    return this.#frame === null && this.#headerFilled === 0;
  }

  #startFrame(): void {
    const view = new DataView(this.#header.buffer);
    // Read as unsigned so a negative size is reported as a huge one.
    const size = view.getUint32(0, false);
    this.#headerFilled = 0;
    if (size > this.#maxFrameBytes) throw new FrameTooLargeError(size, this.#maxFrameBytes);
    this.#frame = new Uint8Array(size);
    this.#frameFilled = 0;
    if (size === 0) this.#finishFrame();
  }

  #finishFrame(): void {
    this.#ready.push(this.#frame!);
    this.#frame = null;
    this.#frameFilled = 0;
  }
}

/**
 * Returns `payload` with its 4-byte big-endian size prefix, in one buffer so
 * it can go out in a single write.
 *
 * @example
 * ```ts
 * import { encodeFrame } from "./frame_decoder.ts";
 * const wire = encodeFrame(new Uint8Array([7]));
 * if (wire.join(",") !== "0,0,0,1,7") throw new Error();
 * ```
 */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  const wire = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  new DataView(wire.buffer).setUint32(0, payload.length, false);
  wire.set(payload, FRAME_HEADER_BYTES);
  return wire;
}

/**
 * Reads the correlation id of a request payload (bytes 4..8: after the int16
 * apiKey and int16 apiVersion), or null when the payload is shorter.
 */
export function requestCorrelationId(payload: Uint8Array): number | null {
  if (payload.length < 8) return null;
  return new DataView(payload.buffer, payload.byteOffset, payload.length).getInt32(4, false);
}

/**
 * Reads the correlation id of a response payload (bytes 0..4), or null when
 * the payload is shorter.
 */
export function responseCorrelationId(payload: Uint8Array): number | null {
  if (payload.length < 4) return null;
  return new DataView(payload.buffer, payload.byteOffset, payload.length).getInt32(0, false);
}
