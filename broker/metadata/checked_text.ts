/**
 * The on-disk framing of the broker's small durable text files (`streams.json`, the
 * leader-epoch checkpoints, the local metadata, manifest and security files): one header line
 * with the CRC32C and length of the text that follows, so a torn or damaged file is refused by
 * checksum instead of being parsed into a wrong state.
 *
 * ```text
 * file   = header text
 * header = "#rustmq crc32c=" 8HEXDIG " bytes=" 1*DIGIT LF   ; over the UTF-8 bytes of text
 * ```
 *
 * Files written before this framing (no header) are still read, unverified: they start with
 * `{` or a digit, never with `#`.
 *
 * @module
 */

import { crc32c } from "../../protocol/crc32c.ts";

const _PREFIX = "#rustmq crc32c=";
const _HEADER = /^#rustmq crc32c=([0-9a-f]{8}) bytes=(\d{1,12})\n/;
const _encoder = new TextEncoder();

/** A durable text file that fails its checksum or length: torn or damaged on disk. */
export class MetadataFileCorruptError extends Error {
  /** Stable code for callers and logs. */
  readonly code = "METADATA_FILE_CORRUPT";
  /** Reading again gives the same bytes. */
  readonly retriable = false;
  /** The damaged file. */
  readonly path: string;

  constructor(path: string, reason: string) {
    super(
      `Cannot load '${path}' as it is torn or damaged: ${reason}; restore it from a replica or backup, or move it away to start that state afresh`,
    );
    this.name = "MetadataFileCorruptError";
    this.path = path;
  }
}

/**
 * Frames `text` with its checksum header.
 *
 * @example
 * ```ts
 * import { decodeCheckedText, encodeCheckedText } from "./checked_text.ts";
 * const bytes = encodeCheckedText('{"v":1}');
 * if (decodeCheckedText(bytes, "f") !== '{"v":1}') throw new Error("round trip");
 * ```
 */
export function encodeCheckedText(text: string): Uint8Array {
  const body = _encoder.encode(text);
  const header = _encoder.encode(
    `${_PREFIX}${crc32c(body).toString(16).padStart(8, "0")} bytes=${body.length}\n`,
  );
  const out = new Uint8Array(header.length + body.length);
  out.set(header);
  out.set(body, header.length);
  return out;
}

/**
 * The text of a framed file, checked; a file without the header (an older one) as it is.
 * @throws {MetadataFileCorruptError} when the header, length or checksum is wrong.
 */
export function decodeCheckedText(bytes: Uint8Array, path: string): string {
  const decoder = new TextDecoder("utf-8", { fatal: false });
  const start = decoder.decode(bytes.subarray(0, 64));
  if (!start.startsWith("#")) return decoder.decode(bytes);
  const header = _HEADER.exec(start);
  if (header === null) {
    throw new MetadataFileCorruptError(path, "its checksum header is unreadable");
  }
  const body = bytes.subarray(header[0].length);
  const want = Number(header[2]);
  if (body.length !== want) {
    throw new MetadataFileCorruptError(
      path,
      `it holds ${body.length} bytes of text where its header says ${want}`,
    );
  }
  const crc = crc32c(body).toString(16).padStart(8, "0");
  if (crc !== header[1]) {
    throw new MetadataFileCorruptError(
      path,
      `its CRC32C is ${crc} where its header says ${header[1]}`,
    );
  }
  return new TextDecoder("utf-8", { fatal: true }).decode(body);
}
