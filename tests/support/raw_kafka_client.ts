/**
 * A deliberately minimal Kafka client for tests that must send exact bytes: it frames requests
 * with the generated codecs and reads size-prefixed responses from one TCP connection, or sends
 * arbitrary garbage.
 *
 * @module
 */

import { Reader, Writer } from "../../protocol/kafka/wire.ts";
import { decodeResponseHeader, encodeRequestHeader } from "../../protocol/kafka/header.ts";

/** One TCP connection speaking raw frames. */
export class RawKafkaClient implements AsyncDisposable {
  readonly #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  #correlationId = 1;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  static async connect(port: number): Promise<RawKafkaClient> {
    return new RawKafkaClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Speaks over an already open connection (a TLS one, say). */
  static over(conn: Deno.Conn): RawKafkaClient {
    return new RawKafkaClient(conn);
  }

  /** Sends one request and decodes its response with `decode`. */
  async request<Res>(
    apiKey: number,
    apiVersion: number,
    encodeBody: (w: Writer) => void,
    decode: (r: Reader, v: number) => Res,
  ): Promise<Res> {
    const w = new Writer();
    w.int32(0);
    encodeRequestHeader(w, {
      apiKey,
      apiVersion,
      correlationId: this.#correlationId++,
      clientId: "raw-test",
    });
    encodeBody(w);
    const frame = w.finish();
    new DataView(frame.buffer, frame.byteOffset).setInt32(0, frame.length - 4);
    await this.writeRaw(frame);
    const body = await this.readFrame();
    const r = new Reader(body);
    decodeResponseHeader(r, apiKey, apiVersion);
    return decode(r, apiVersion);
  }

  /** Writes bytes as they are. */
  async writeRaw(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }

  /** Reads one size-prefixed frame; rejects if the connection closes first. */
  async readFrame(): Promise<Uint8Array> {
    while (true) {
      if (this.#buf.length >= 4) {
        const size = new DataView(this.#buf.buffer, this.#buf.byteOffset).getInt32(0);
        if (this.#buf.length >= 4 + size) {
          const frame = this.#buf.slice(4, 4 + size);
          this.#buf = this.#buf.slice(4 + size);
          return frame;
        }
      }
      const chunk = new Uint8Array(65536);
      const n = await this.#conn.read(chunk);
      if (n === null) throw new Error("connection closed by the broker");
      const next = new Uint8Array(this.#buf.length + n);
      next.set(this.#buf);
      next.set(chunk.subarray(0, n), this.#buf.length);
      this.#buf = next;
    }
  }

  /** Resolves true when the broker closes the connection within `timeoutMs`. */
  async closedByPeer(timeoutMs: number): Promise<boolean> {
    const timer = setTimeout(() => this.#conn.close(), timeoutMs);
    try {
      const chunk = new Uint8Array(1024);
      while ((await this.#conn.read(chunk)) !== null) { /* drain */ }
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
