/**
 * Reading QUIC streams: a reader that reuses one buffer for every read (the broker's request
 * streams, the client's lanes), the single response frame of a stream that carried one request
 * (the client's JoinGroup and SyncGroup streams), and the framing error the broker's QUIC
 * listener also raises.
 *
 * @module
 */
import { FrameDecoder } from "./frame_decoder.ts";

/** A stream did not carry exactly one whole frame before its end. */
export class StreamFramingError extends Error {
  /** Creates the error; the message says what was wrong. */
  constructor(message: string) {
    super(message);
    this.name = "StreamFramingError";
  }
}

/**
 * BYOB reads of a QUIC stream into one buffer that every read hands back. Deno's default reader
 * returns each read in a fresh, zeroed 64 KiB buffer however few bytes it carries; at 5,000
 * requests/s that garbage drove the broker's major GCs and its e2e tail.
 */
export class QuicStreamReader {
  readonly #reader: ReadableStreamBYOBReader;
  #buffer: ArrayBuffer;

  /** Reads `readable` (locking it) at most `bufferBytes` at a time. */
  constructor(readable: ReadableStream<Uint8Array>, bufferBytes: number) {
    this.#reader = readable.getReader({ mode: "byob" });
    this.#buffer = new ArrayBuffer(bufferBytes);
  }

  /**
   * The next bytes, or null at the end of the stream. They are valid until the next call, which
   * reads into the same memory: copy them out first.
   */
  async read(): Promise<Uint8Array | null> {
    const { value, done } = await this.#reader.read(new Uint8Array(this.#buffer));
    if (done || value === undefined) return null;
    // The read transferred the buffer into `value`; the next read takes it back.
    this.#buffer = value.buffer as ArrayBuffer;
    return value;
  }

  /** Cancels the stream. */
  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}

/** What {@linkcode readOptionalFrame} returns. */
export interface StreamFrame {
  /** The frame payload without its size prefix. */
  frame: Uint8Array;
  /** Bytes read from the stream, size prefix included. */
  bytesRead: number;
}

/**
 * Reads a stream to its end and returns the one frame it carried, or null when
 * it ended with no bytes at all (the answer to a request that takes no
 * response). Throws `FrameTooLargeError` for a size prefix over
 * `maxFrameBytes` (before allocating), and {@linkcode StreamFramingError} when
 * the stream ends inside a frame or carries bytes after it.
 */
export async function readOptionalFrame(
  readable: ReadableStream<Uint8Array>,
  maxFrameBytes: number,
): Promise<StreamFrame | null> {
  const decoder = new FrameDecoder({ maxFrameBytes });
  const reader = readable.getReader();
  let frame: Uint8Array | null = null;
  let bytesRead = 0;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      bytesRead += value.length;
      decoder.push(value);
      const next = decoder.next();
      if (next !== null) {
        if (frame !== null || decoder.readyFrames > 0) {
          throw new StreamFramingError("a stream carried more than one frame");
        }
        frame = next;
      }
      if (frame !== null && !decoder.atBoundary) {
        throw new StreamFramingError("a stream carried bytes after its frame");
      }
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
  if (frame === null && bytesRead === 0) return null;
  if (frame === null) throw new StreamFramingError("a stream ended inside a frame");
  return { frame, bytesRead };
}
