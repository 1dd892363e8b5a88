/**
 * Compression codecs of Kafka record batches, behind one async API.
 *
 * | id | codec  | primary backend                 | fallback                 |
 * |----|--------|---------------------------------|--------------------------|
 * | 0  | none   | -                               | -                        |
 * | 1  | gzip   | `node:zlib` (built into Deno)   | -                        |
 * | 2  | snappy | `snappy` napi addon             | pure JS (`snappy_js.ts`) |
 * | 3  | lz4    | `lz4-napi` frame API            | pure JS (`lz4_js.ts`)    |
 * | 4  | zstd   | `@bokuweb/zstd-wasm` (wasm)     | -                        |
 *
 * The napi addons are loaded lazily with a dynamic import; if one fails (napi under
 * `deno compile` is unverified) the pure-JS codec is used instead, and
 * {@linkcode compressionBackends} says which one is live, so that `/metrics` or the startup log
 * can show it. zstd is wasm already and so portable; it is initialised once, lazily.
 *
 * Snappy: the Java client writes xerial framing (0x82 "SNAPPY" 0 header, then 32 KiB blocks
 * each prefixed by an int32 length). librdkafka reads both xerial and raw Snappy, and so does
 * the `kafkajs-snappy` codec that kafkajs users install (it checks for the xerial header).
 * The Java client's xerial SnappyInputStream falls back to raw decoding when the header is
 * missing. We decompress both forms and compress to xerial, which the Java client, librdkafka
 * and kafkajs-snappy all read.
 *
 * LZ4: the standard frame format with independent 64 KiB blocks, which is what the Java client
 * (KafkaLZ4BlockOutputStream) writes and the only kind it reads.
 *
 * zstd: Kafka's zstd frames may omit the content size (the Java client streams them). The wasm
 * build only offers one-shot `ZSTD_decompress`, which needs an output capacity, so an unknown
 * size is handled by retrying with four times the capacity on "destination too small", up to
 * `maxBytes`. A declared size above `maxBytes` is refused before anything is allocated.
 *
 * @module
 */

import * as zlib from "node:zlib";
import { CorruptRecordError, RecordTooLargeError } from "./record_errors.ts";
import {
  concatBlocks,
  isXerialFramed,
  snappyCompressXerial,
  snappyDecompress,
  xerialBlocks,
} from "./snappy_js.ts";
import { lz4CompressFrame, lz4DecompressFrame } from "./lz4_js.ts";

/** Name of a compression codec. */
export type CompressionCodec = "none" | "gzip" | "snappy" | "lz4" | "zstd";

/** Codec names indexed by their id in the low 3 bits of the batch attributes. */
export const COMPRESSION_CODECS: readonly CompressionCodec[] = [
  "none",
  "gzip",
  "snappy",
  "lz4",
  "zstd",
];

/** Mask of the compression codec id in the batch attributes. */
export const COMPRESSION_ATTRIBUTE_MASK = 0x07;

/** Id (attribute bits) of each codec. */
export const COMPRESSION_IDS: Readonly<Record<CompressionCodec, number>> = {
  none: 0,
  gzip: 1,
  snappy: 2,
  lz4: 3,
  zstd: 4,
};

/** Which implementation runs a codec. */
export type CompressionBackend = "builtin" | "node:zlib" | "napi" | "js" | "wasm" | "unloaded";

/** Options of {@linkcode decompress}. */
export interface DecompressOptions {
  /**
   * Most bytes decompression may produce; more raises {@linkcode RecordTooLargeError}.
   * Guards against decompression bombs.
   * @default {64 MiB}
   */
  maxBytes?: number;
}

/** Default limit on decompressed output: 64 MiB, larger than any sane batch. */
export const DECOMPRESSED_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

interface _Codec {
  backend: CompressionBackend;
  compress(bytes: Uint8Array): Promise<Uint8Array> | Uint8Array;
  decompress(bytes: Uint8Array, maxBytes: number): Promise<Uint8Array> | Uint8Array;
}

interface _ZstdModule {
  init(): Promise<void>;
  compress(buf: Uint8Array, level?: number): Uint8Array;
  decompress(buf: Uint8Array, opts?: { defaultHeapSize?: number }): Uint8Array;
}

const _codecs: Partial<Record<CompressionCodec, _Codec>> = {};
const _loading: Partial<Record<CompressionCodec, Promise<_Codec>>> = {};
/** When set, napi addons are not tried: used by tests to exercise the pure-JS fallbacks. */
let _portableOnly = false;

function _u8(b: Uint8Array): Uint8Array {
  // Node Buffers are Uint8Arrays; normalise to a plain view so callers see one type.
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function _tooLarge(codec: string, maxBytes: number, cause?: unknown): RecordTooLargeError {
  return new RecordTooLargeError(
    `Cannot decompress ${codec} data as it exceeds the maximum of ${maxBytes} bytes`,
    cause === undefined ? {} : { cause },
  );
}

const _gzip: _Codec = {
  backend: "node:zlib",
  compress: (bytes) =>
    new Promise((resolve, reject) =>
      zlib.gzip(bytes, (err, out) => err ? reject(err) : resolve(_u8(out)))
    ),
  decompress: (bytes, maxBytes) =>
    new Promise((resolve, reject) =>
      zlib.gunzip(bytes, { maxOutputLength: Math.max(1, maxBytes) }, (err, out) => {
        if (err === null) return resolve(_u8(out));
        if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
          return reject(_tooLarge("gzip", maxBytes, err));
        }
        reject(
          new CorruptRecordError(`Cannot decompress gzip data: ${err.message}`, { cause: err }),
        );
      })
    ),
};

async function _loadSnappy(): Promise<_Codec> {
  const js: _Codec = {
    backend: "js",
    compress: (bytes) => snappyCompressXerial(bytes),
    decompress: (bytes, maxBytes) => snappyDecompress(bytes, maxBytes),
  };
  if (_portableOnly) return js;
  try {
    const snappy = await import("snappy");
    const raw = (block: Uint8Array, budget: number): Uint8Array => {
      // The addon allocates whatever the preamble claims, so check it against the budget first.
      _checkSnappyPreamble(block, budget);
      return _u8(snappy.uncompressSync(block) as Uint8Array);
    };
    return {
      backend: "napi",
      compress: (bytes) => snappyCompressXerial(bytes, (b) => _u8(snappy.compressSync(b))),
      decompress: (bytes, maxBytes) => {
        if (!isXerialFramed(bytes)) return raw(bytes, maxBytes);
        const blocks: Uint8Array[] = [];
        let budget = maxBytes;
        for (const block of xerialBlocks(bytes)) {
          const plain = raw(block, budget);
          budget -= plain.length;
          blocks.push(plain);
        }
        return concatBlocks(blocks, maxBytes);
      },
    };
  } catch {
    return js;
  }
}

function _checkSnappyPreamble(block: Uint8Array, budget: number): void {
  let length = 0;
  let scale = 1;
  for (let i = 0; i < 5 && i < block.length; i++) {
    length += (block[i]! & 0x7f) * scale;
    if ((block[i]! & 0x80) === 0) break;
    scale *= 128;
  }
  if (length > budget) throw _tooLarge("snappy", budget);
}

async function _loadLz4(): Promise<_Codec> {
  const js: _Codec = {
    backend: "js",
    compress: (bytes) => lz4CompressFrame(bytes),
    decompress: (bytes, maxBytes) => lz4DecompressFrame(bytes, maxBytes),
  };
  if (_portableOnly) return js;
  try {
    const lz4 = await import("lz4-napi");
    return {
      backend: "napi",
      compress: async (bytes) => _u8(await lz4.compressFrame(bytes)),
      decompress: async (bytes, maxBytes) => {
        // The addon has no output limit; frames inside a batch are bounded by the batch size
        // times LZ4's maximum ratio (255), and the result is checked after.
        const out = _u8(await lz4.decompressFrame(bytes));
        if (out.length > maxBytes) throw _tooLarge("lz4", maxBytes);
        return out;
      },
    };
  } catch {
    return js;
  }
}

async function _loadZstd(): Promise<_Codec> {
  const zstd = (await import("@bokuweb/zstd-wasm")) as unknown as _ZstdModule;
  await zstd.init();
  return {
    backend: "wasm",
    compress: (bytes) => zstd.compress(bytes, 3),
    decompress: (bytes, maxBytes) => _zstdDecompress(zstd, bytes, maxBytes),
  };
}

/**
 * Reads the content size declared by the first zstd frame header, or null when the frame omits
 * it. The wasm library allocates whatever the header declares, so this is checked first.
 */
export function zstdFrameContentSize(bytes: Uint8Array): number | null {
  if (bytes.length < 5) return null; // too short for a header: the decoder reports it
  const fhd = bytes[4]!;
  const singleSegment = (fhd >>> 5) & 1;
  const fcsFlag = fhd >>> 6;
  const fcsBytes = [singleSegment, 2, 4, 8][fcsFlag]!;
  if (fcsBytes === 0) return null;
  const at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][fhd & 3]!;
  if (bytes.length < at + fcsBytes) return null;
  let size = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) size = size * 256 + bytes[at + i]!;
  return fcsBytes === 2 ? size + 256 : size;
}

// ZSTD_error_dstSize_tooSmall, as the wasm build reports it in its error message.
const _ZSTD_DST_TOO_SMALL = "code -70";

function _zstdDecompress(zstd: _ZstdModule, bytes: Uint8Array, maxBytes: number): Uint8Array {
  const declared = zstdFrameContentSize(bytes);
  if (declared !== null && declared > maxBytes) throw _tooLarge("zstd", maxBytes);
  // With a declared size the library ignores the hint; without one, start near a typical
  // ratio and grow on "destination too small".
  let capacity = Math.min(maxBytes, Math.max(64 * 1024, bytes.length * 8));
  for (;;) {
    try {
      const out = zstd.decompress(bytes, { defaultHeapSize: Math.max(1, capacity) });
      if (out.length > maxBytes) throw _tooLarge("zstd", maxBytes);
      return out;
    } catch (err) {
      if (err instanceof RecordTooLargeError) throw err;
      const tooSmall = String(err).includes(_ZSTD_DST_TOO_SMALL);
      if (tooSmall && capacity >= maxBytes) throw _tooLarge("zstd", maxBytes, err);
      if (!tooSmall || declared !== null) {
        throw new CorruptRecordError(`Cannot decompress zstd data: ${String(err)}`, { cause: err });
      }
      capacity = Math.min(maxBytes, capacity * 4);
    }
  }
}

function _load(codec: CompressionCodec): Promise<_Codec> | _Codec {
  const ready = _codecs[codec];
  if (ready !== undefined) return ready;
  let loading = _loading[codec];
  if (loading === undefined) {
    const loader = codec === "gzip"
      ? Promise.resolve(_gzip)
      : codec === "snappy"
      ? _loadSnappy()
      : codec === "lz4"
      ? _loadLz4()
      : codec === "zstd"
      ? _loadZstd()
      : Promise.reject(new RangeError(`Cannot load codec "${codec}" as it is unknown`));
    loading = loader.then((c) => (_codecs[codec] = c));
    // A failed load (zstd wasm) may be retried by a later call.
    loading.catch(() => delete _loading[codec]);
    _loading[codec] = loading;
  }
  return loading;
}

/**
 * Compresses `bytes` with `codec`. "none" returns the input itself.
 *
 * @example
 * ```ts
 * import { compress, decompress } from "./compression.ts";
 * import assert from "node:assert/strict";
 * const data = new TextEncoder().encode("hello hello hello hello");
 * for (const codec of ["gzip", "snappy", "lz4", "zstd"] as const) {
 *   assert.deepEqual(await decompress(codec, await compress(codec, data)), data);
 * }
 * ```
 */
export async function compress(codec: CompressionCodec, bytes: Uint8Array): Promise<Uint8Array> {
  if (codec === "none") return bytes;
  return await (await _load(codec)).compress(bytes);
}

/**
 * Decompresses `bytes` written with `codec`. Malformed input raises
 * {@linkcode CorruptRecordError}; output beyond `maxBytes` raises {@linkcode RecordTooLargeError}.
 */
export async function decompress(
  codec: CompressionCodec,
  bytes: Uint8Array,
  options: DecompressOptions = {},
): Promise<Uint8Array> {
  const maxBytes = options.maxBytes ?? DECOMPRESSED_BYTES_MAX_DEFAULT;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new RangeError(`Cannot decompress as maxBytes is invalid: current value is ${maxBytes}`);
  }
  if (codec === "none") {
    if (bytes.length > maxBytes) throw _tooLarge("uncompressed", maxBytes);
    return bytes;
  }
  const impl = await _load(codec);
  try {
    return await impl.decompress(bytes, maxBytes);
  } catch (err) {
    if (err instanceof CorruptRecordError || err instanceof RecordTooLargeError) throw err;
    throw new CorruptRecordError(`Cannot decompress ${codec} data: ${String(err)}`, {
      cause: err,
    });
  }
}

/**
 * Which backend runs each codec; "unloaded" until first used (or {@linkcode loadCompression}).
 *
 * @example
 * ```ts
 * import { compressionBackends } from "./compression.ts";
 * import assert from "node:assert/strict";
 * assert.equal(compressionBackends().none, "builtin");
 * ```
 */
export function compressionBackends(): Record<CompressionCodec, CompressionBackend> {
  return {
    none: "builtin",
    gzip: "node:zlib",
    snappy: _codecs.snappy?.backend ?? "unloaded",
    lz4: _codecs.lz4?.backend ?? "unloaded",
    zstd: _codecs.zstd?.backend ?? "unloaded",
  };
}

/** Options of {@linkcode loadCompression}. */
export interface LoadCompressionOptions {
  /**
   * Use only the portable implementations (pure JS and wasm), never napi addons. Takes effect
   * for codecs not yet loaded; tests use it with a fresh module graph.
   * @default {false}
   */
  portableOnly?: boolean;
}

/** Loads every codec now (so the first batch pays no latency) and returns the backends. */
export async function loadCompression(
  options: LoadCompressionOptions = {},
): Promise<Record<CompressionCodec, CompressionBackend>> {
  if (options.portableOnly === true) _portableOnly = true;
  for (const codec of COMPRESSION_CODECS) if (codec !== "none") await _load(codec);
  return compressionBackends();
}
