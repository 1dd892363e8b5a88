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

  /**
   * The unfilled rest of the frame being received, when at least `minBytes` of it are missing;
   * otherwise null. A driver reads straight into it and reports the count with
   * {@linkcode FrameDecoder.received}, so the body of a large frame is copied once (socket to
   * frame) instead of twice (socket to read buffer to frame). Short frames still go through
   * {@linkcode FrameDecoder.push}: one read then carries many of them.
   *
   * @example
   * ```ts
   * import { encodeFrame, FrameDecoder } from "./frame_decoder.ts";
   * const decoder = new FrameDecoder();
   * const wire = encodeFrame(new Uint8Array(100).fill(7));
   * decoder.push(wire.subarray(0, 10));
   * const target = decoder.directTarget(16)!;
   * target.set(wire.subarray(10));
   * decoder.received(target.length);
   * if (decoder.next()?.[99] !== 7) throw new Error();
   * ```
   */
  directTarget(minBytes: number): Uint8Array | null {
    if (this.#frame === null) return null;
    if (this.#frame.length - this.#frameFilled < minBytes) return null;
    return this.#frame.subarray(this.#frameFilled);
  }

  /** Accounts for `n` bytes a driver read into the last {@linkcode FrameDecoder.directTarget}. */
  received(n: number): void {
    const frame = this.#frame;
    if (frame === null || !Number.isInteger(n) || n < 0 || n > frame.length - this.#frameFilled) {
      throw new RangeError(
        `Cannot account for bytes read into a frame as they exceed what it misses: current value is ${n}`,
      );
    }
    this.#frameFilled += n;
    if (this.#frameFilled === frame.length) this.#finishFrame();
  }

  /**
   * Returns the next complete frame payload, or null when none is ready. Every frame is a fresh
   * buffer of its own that the decoder never touches again, so a consumer may keep it.
   */
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

/** A frame payload: one buffer, or consecutive slices that were never joined. */
export type FramePayload = Uint8Array | readonly Uint8Array[];

/** Total bytes of a payload. */
export function payloadLength(payload: FramePayload): number {
  if (payload instanceof Uint8Array) return payload.length;
  let n = 0;
  for (const p of payload) n += p.length;
  return n;
}

/** The payload in one buffer (a copy only when it is in several slices). */
export function joinPayload(payload: FramePayload): Uint8Array {
  if (payload instanceof Uint8Array) return payload;
  if (payload.length === 1) return payload[0]!;
  const out = new Uint8Array(payloadLength(payload));
  let at = 0;
  for (const p of payload) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Slices at least this long go to the socket as they are; shorter runs are coalesced. */
const _WRITE_AS_IS_BYTES = 64 * 1024;

/**
 * The wire bytes of a frame as buffers to write in order: the size prefix joined with the short
 * slices around it, and long slices (stored record batches) untouched, so a large Fetch
 * response is never copied into one buffer. Short runs are coalesced so a response of many
 * small batches still costs few writes.
 *
 * @example
 * ```ts
 * import { encodeFrameParts } from "./frame_decoder.ts";
 * const parts = encodeFrameParts([new Uint8Array([7]), new Uint8Array([8])]);
 * if (parts.length !== 1 || parts[0]!.join(",") !== "0,0,0,2,7,8") throw new Error();
 * ```
 */
export function encodeFrameParts(payload: FramePayload): Uint8Array[] {
  if (payload instanceof Uint8Array) {
    if (payload.length < _WRITE_AS_IS_BYTES) return [encodeFrame(payload)];
    payload = [payload];
  }
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  new DataView(header.buffer).setUint32(0, payloadLength(payload), false);
  const out: Uint8Array[] = [];
  let run: Uint8Array[] = [header];
  let runBytes = header.length;
  const flush = () => {
    if (run.length === 0) return;
    out.push(run.length === 1 ? run[0]! : joinPayload(run));
    run = [];
    runBytes = 0;
  };
  for (const p of payload) {
    if (p.length >= _WRITE_AS_IS_BYTES) {
      flush();
      out.push(p);
    } else {
      run.push(p);
      runBytes += p.length;
      if (runBytes >= _WRITE_AS_IS_BYTES) flush();
    }
  }
  flush();
  return out;
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
