/**
 * Kafka's message sets, magic 0 (0.8) and magic 1 (0.10, with timestamps), which Produce v0-2
 * and Fetch v0-3 carry instead of RecordBatch v2. RustMQ stores only v2 batches, so message sets
 * are converted on the way in ({@linkcode messageSetToBatch}) and down-converted on the way out
 * ({@linkcode batchesToMessageSet}), as a Kafka 3 broker does.
 *
 * Grammar (protocol.html, "Message Sets"):
 * ```text
 *   MessageSet => [offset: int64, messageSize: int32, Message]
 *   Message    => crc: uint32 (CRC-32 of magic..end), magic: int8, attributes: int8,
 *                 timestamp: int64 (magic 1 only), key: int32-length bytes, value: bytes
 *   attributes => bits 0-2 compression (0 none, 1 gzip, 2 snappy, 3 lz4), bit 3 LogAppendTime
 * ```
 * A compressed message is a wrapper whose value is an inner message set, compressed.
 *
 * @module
 */

import { crc32 } from "node:zlib";
import { compress, type CompressionCodec, decompress } from "./compression.ts";
import { buildBatch, decodeRecords, type RecordInput, splitBatches } from "./record_batch.ts";
import { CorruptRecordError } from "./record_errors.ts";
import { xxhash32 } from "./lz4_js.ts";

/** One message of a message set, after any compressed wrapper has been opened. */
export interface LegacyMessage {
  readonly offset: number;
  readonly magic: 0 | 1;
  /** The message's timestamp (magic 1), or -1 (magic 0 has none). */
  readonly timestamp: number;
  readonly logAppendTime: boolean;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
}

const _CODECS: readonly CompressionCodec[] = ["none", "gzip", "snappy", "lz4"];
/** offset + messageSize + crc + magic + attributes + key length + value length. */
const _MESSAGE_MIN_BYTES = 8 + 4 + 4 + 1 + 1 + 4 + 4;
/** Nested wrappers are not legal; one level of inner messages is all Kafka writes. */
const _DEPTH_MAX = 1;

function _corrupt(why: string): CorruptRecordError {
  return new CorruptRecordError(`Cannot read the message set: ${why}`);
}

function _bytes(view: DataView, src: Uint8Array, at: number, end: number) {
  if (at + 4 > end) throw _corrupt("a length overruns its message");
  const len = view.getInt32(at);
  if (len < -1 || at + 4 + Math.max(0, len) > end) throw _corrupt(`a field length is ${len}`);
  const value = len < 0 ? null : src.subarray(at + 4, at + 4 + len);
  return { value, next: at + 4 + Math.max(0, len) };
}

/**
 * Reads a message set, opening compressed wrappers. A partial message at the end is dropped
 * when `partialTail` allows it (a fetch response may end mid-message); otherwise it fails.
 *
 * @throws {CorruptRecordError} on a bad CRC, a magic other than 0 or 1, or a bad length
 */
export async function decodeMessageSet(
  bytes: Uint8Array,
  options: { partialTail?: boolean; depth?: number } = {},
): Promise<LegacyMessage[]> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: LegacyMessage[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 12 > bytes.length) {
      if (options.partialTail) break;
      throw _corrupt("it ends inside a message header");
    }
    const offset = Number(view.getBigInt64(at));
    const size = view.getInt32(at + 8);
    const end = at + 12 + size;
    if (size < _MESSAGE_MIN_BYTES - 12) throw _corrupt(`a message size is ${size}`);
    if (end > bytes.length) {
      if (options.partialTail) break;
      throw _corrupt("it ends inside a message");
    }
    const crc = view.getUint32(at + 12);
    if (crc32(bytes.subarray(at + 16, end)) !== crc) {
      throw _corrupt(`offset ${offset} fails its CRC`);
    }
    const magic = view.getInt8(at + 16);
    if (magic !== 0 && magic !== 1) throw _corrupt(`magic ${magic} is not 0 or 1`);
    const attributes = view.getInt8(at + 17);
    let p = at + 18;
    let timestamp = -1;
    if (magic === 1) {
      if (p + 8 > end) throw _corrupt("a timestamp overruns its message");
      timestamp = Number(view.getBigInt64(p));
      p += 8;
    }
    const key = _bytes(view, bytes, p, end);
    const value = _bytes(view, bytes, key.next, end);
    const codec = _CODECS[attributes & 0x07];
    if (codec === undefined) throw _corrupt(`compression id ${attributes & 0x07} is unknown`);
    const logAppendTime = magic === 1 && (attributes & 0x08) !== 0;
    if (codec === "none") {
      out.push({ offset, magic, timestamp, logAppendTime, key: key.value, value: value.value });
    } else {
      const depth = options.depth ?? 0;
      if (depth >= _DEPTH_MAX) throw _corrupt("a compressed message nests another");
      if (value.value === null) throw _corrupt("a compressed message has no value");
      const compressed = magic === 0 && codec === "lz4" ? _fixKafkaLz4(value.value) : value.value;
      const inner = await decodeMessageSet(await decompress(codec, compressed), {
        depth: depth + 1,
      });
      out.push(...inner.map((m) => ({
        ...m,
        // Magic 1 wrappers carry the timestamp when the broker stamped them on append.
        timestamp: logAppendTime ? timestamp : m.timestamp,
        logAppendTime,
      })));
    }
    at = end;
  }
  return out;
}

/**
 * Kafka before 0.10 wrote LZ4 frames whose header checksum also covers the 4-byte frame magic
 * (KAFKA-3160), and Kafka still reads magic 0 frames without checking it. The checksum byte is
 * recomputed here the standard way, so both forms decompress; magic 1 frames are taken as sent.
 */
function _fixKafkaLz4(frame: Uint8Array): Uint8Array {
  if (frame.length < 7) return frame; // the decompressor names the damage
  const flg = frame[4]!;
  const headerBytes = 7 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0);
  if (frame.length < headerBytes) return frame;
  const fixed = frame.slice();
  fixed[headerBytes - 1] = (xxhash32(frame.subarray(4, headerBytes - 1)) >>> 8) & 0xff;
  return fixed;
}

/** The codec of the first compressed wrapper of a message set, or "none". */
function _setCodec(bytes: Uint8Array): CompressionCodec {
  if (bytes.length < 18) return "none";
  return _CODECS[bytes[17]! & 0x07] ?? "none";
}

/**
 * Converts a Produce v0-2 message set to one RecordBatch v2 with the same key, value and
 * compression per message. Magic 0 messages carry no timestamp: they get `nowMs`, so retention
 * by time treats them as just written.
 *
 * @example
 * ```ts
 * import { encodeMessageSet, messageSetToBatch } from "./legacy_message_set.ts";
 * import { decodeRecords } from "./record_batch.ts";
 * import assert from "node:assert/strict";
 * const value = new TextEncoder().encode("old");
 * const set = encodeMessageSet([{ offset: 0, key: null, value, timestamp: 5, logAppendTime: false }], 1);
 * const [r] = (await decodeRecords(await messageSetToBatch(set, 99))).records;
 * assert.deepEqual([r?.value, r?.timestamp], [value, 5]);
 * ```
 */
export async function messageSetToBatch(bytes: Uint8Array, nowMs: number): Promise<Uint8Array> {
  const messages = await decodeMessageSet(bytes);
  if (messages.length === 0) throw _corrupt("it holds no message");
  const records: RecordInput[] = messages.map((m) => ({
    key: m.key,
    value: m.value,
    timestamp: m.magic === 0 || m.timestamp < 0 ? nowMs : m.timestamp,
  }));
  return await buildBatch(records, { compression: _setCodec(bytes) });
}

/**
 * Encodes uncompressed messages as a message set of `magic` 0 or 1.
 *
 * @example
 * ```ts
 * import { decodeMessageSet, encodeMessageSet } from "./legacy_message_set.ts";
 * import assert from "node:assert/strict";
 * const m = { offset: 7, key: null, value: new Uint8Array([1]), timestamp: 3, logAppendTime: false };
 * const [back] = await decodeMessageSet(encodeMessageSet([m], 1));
 * assert.deepEqual([back?.offset, back?.timestamp, back?.magic], [7, 3, 1]);
 * ```
 */
export function encodeMessageSet(
  messages: readonly Omit<LegacyMessage, "magic">[],
  magic: 0 | 1,
): Uint8Array {
  const headerBytes = magic === 1 ? 22 : 14; // crc, magic, attributes, [timestamp], key len, value len
  let total = 0;
  for (const m of messages) {
    total += 12 + headerBytes + (m.key?.length ?? 0) + (m.value?.length ?? 0);
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const m of messages) {
    const size = headerBytes + (m.key?.length ?? 0) + (m.value?.length ?? 0);
    view.setBigInt64(at, BigInt(m.offset));
    view.setInt32(at + 8, size);
    const start = at + 12;
    let p = start + 4;
    view.setInt8(p++, magic);
    view.setInt8(p++, magic === 1 && m.logAppendTime ? 0x08 : 0);
    if (magic === 1) {
      view.setBigInt64(p, BigInt(m.timestamp));
      p += 8;
    }
    for (const field of [m.key, m.value]) {
      view.setInt32(p, field === null ? -1 : field.length);
      p += 4;
      if (field !== null) out.set(field, p);
      p += field?.length ?? 0;
    }
    view.setUint32(start, crc32(out.subarray(start + 4, p)));
    at = p;
  }
  return out;
}

/**
 * Down-converts v2 batches (as a Fetch reads them) to an uncompressed message set of `magic`,
 * for Fetch v0-1 (magic 0) and v2-3 (magic 1). Records below `fromOffset` and control batches
 * are left out; headers are dropped, as message sets cannot carry them. The set holds whole
 * messages up to `maxBytes`, and always the first, so a large message cannot stall a consumer.
 */
export async function batchesToMessageSet(
  batches: Uint8Array,
  magic: 0 | 1,
  options: { fromOffset: number; maxBytes: number },
): Promise<Uint8Array> {
  const out: Omit<LegacyMessage, "magic">[] = [];
  let bytes = 0;
  for (const batch of splitBatches(batches)) {
    const { header, records } = await decodeRecords(batch);
    if (header.isControl) continue;
    for (const r of records) {
      if (r.offset < options.fromOffset) continue;
      const size = 12 + (magic === 1 ? 22 : 14) + (r.key?.length ?? 0) + (r.value?.length ?? 0);
      if (out.length > 0 && bytes + size > options.maxBytes) return encodeMessageSet(out, magic);
      bytes += size;
      out.push({
        offset: r.offset,
        timestamp: r.timestamp,
        logAppendTime: header.isLogAppendTime,
        key: r.key,
        value: r.value,
      });
    }
  }
  return encodeMessageSet(out, magic);
}

/** Compresses a message set into one wrapper message, as old producers send them (for tests). */
export async function wrapMessageSet(
  inner: Uint8Array,
  codec: Exclude<CompressionCodec, "none" | "zstd">,
  magic: 0 | 1,
  offset: number,
): Promise<Uint8Array> {
  const value = await compress(codec, inner);
  const set = encodeMessageSet(
    [{ offset, key: null, value, timestamp: -1, logAppendTime: false }],
    magic,
  );
  // Set the codec bits and re-sign: encodeMessageSet writes uncompressed attributes.
  set[17] = (set[17]! & ~0x07) | _CODECS.indexOf(codec);
  new DataView(set.buffer).setUint32(12, crc32(set.subarray(16)));
  return set;
}
