/**
 * Kafka RecordBatch v2 (magic 2): a zero-copy header view, validation, in-place patching,
 * splitting of concatenated batches, and (off the broker's hot path) building and decoding.
 *
 * ```
 * RecordBatch =>
 *   baseOffset           int64   @0   not covered by the CRC, so it is patched in place
 *   batchLength          int32   @8   bytes after this field
 *   partitionLeaderEpoch int32   @12  not covered by the CRC either
 *   magic                int8    @16  2
 *   crc                  uint32  @17  CRC32C of attributes .. end
 *   attributes           int16   @21  bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control
 *   lastOffsetDelta      int32   @23
 *   baseTimestamp        int64   @27
 *   maxTimestamp         int64   @35
 *   producerId           int64   @43
 *   producerEpoch        int16   @51
 *   baseSequence         int32   @53
 *   recordCount          int32   @57
 *   records              [Record] @61, compressed as a whole when the codec is not none
 * Record =>
 *   length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
 *   keyLength varint, key, valueLength varint, value, headerCount varint, [Header]
 * Header =>
 *   keyLength varint, key (UTF-8), valueLength varint, value
 * ```
 *
 * The broker only ever calls {@linkcode validateBatch}, {@linkcode readBatchHeader} and the
 * `set*` patchers on the produce path: none of them decodes or decompresses records.
 *
 * @module
 */

import { crc32c } from "../crc32c.ts";
import {
  compress,
  COMPRESSION_ATTRIBUTE_MASK,
  COMPRESSION_CODECS,
  COMPRESSION_IDS,
  type CompressionCodec,
  decompress,
} from "./compression.ts";
import {
  CorruptRecordError,
  RecordError,
  RecordTooLargeError,
  UnsupportedCompressionTypeError,
} from "./record_errors.ts";
import {
  readVarint,
  readVarlong,
  type VarintCursor,
  varintSize,
  varlongSize,
  writeVarint,
  writeVarlong,
} from "./varint.ts";

/** Size of the fixed batch header, up to and including the record count. */
export const BATCH_HEADER_BYTES = 61;
/** Size of the baseOffset and batchLength fields that precede what batchLength counts. */
export const BATCH_LOG_OVERHEAD = 12;
/** The only magic this codec speaks. */
export const MAGIC_V2 = 2;
/** Attribute bit: timestamps are LogAppendTime (set by the broker) rather than CreateTime. */
export const ATTR_LOG_APPEND_TIME = 0x08;
/** Attribute bit: the batch belongs to a transaction. */
export const ATTR_TRANSACTIONAL = 0x10;
/** Attribute bit: the batch holds control records (transaction markers). */
export const ATTR_CONTROL = 0x20;
/** Smallest possible encoding of one record: 7 one-byte fields. */
export const RECORD_BYTES_MIN = 7;

const OFF_BATCH_LENGTH = 8;
const OFF_LEADER_EPOCH = 12;
const OFF_MAGIC = 16;
const OFF_CRC = 17;
const OFF_ATTRIBUTES = 21;
const OFF_LAST_OFFSET_DELTA = 23;
const OFF_BASE_TIMESTAMP = 27;
const OFF_MAX_TIMESTAMP = 35;
const OFF_PRODUCER_ID = 43;
const OFF_PRODUCER_EPOCH = 51;
const OFF_BASE_SEQUENCE = 53;
const OFF_RECORD_COUNT = 57;

function _view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Reads an int64 as a number; callers have checked the length. Offsets never reach 2^53. */
function _getInt64(view: DataView, at: number): number {
  const hi = view.getInt32(at);
  const lo = view.getUint32(at + 4);
  if (hi > 0x1fffff || hi < -0x200000) {
    throw new CorruptRecordError(`Cannot read int64 at ${at} as a number: it exceeds 2^53`);
  }
  return hi * 0x100000000 + lo;
}

function _setInt64(view: DataView, at: number, value: number): void {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`Cannot write int64 as value is not a safe integer: ${value}`);
  }
  view.setInt32(at, Math.floor(value / 0x100000000));
  view.setUint32(at + 4, value >>> 0);
}

/**
 * A zero-copy view of a batch header. Fields are read from the bytes on access, so it stays
 * true after in-place patching. Construct with {@linkcode readBatchHeader}.
 */
export class BatchHeader {
  readonly #view: DataView;

  /** @param bytes at least {@linkcode BATCH_HEADER_BYTES} bytes starting at a batch. */
  constructor(bytes: Uint8Array) {
    if (bytes.length < BATCH_HEADER_BYTES) {
      throw new CorruptRecordError(
        `Cannot read batch header as it is truncated: length is ${bytes.length}, need ${BATCH_HEADER_BYTES}`,
      );
    }
    this.#view = _view(bytes);
  }

  /** Offset of the first record. */
  get baseOffset(): number {
    return _getInt64(this.#view, 0);
  }
  /** Bytes after the batchLength field; the whole batch is this plus 12. */
  get batchLength(): number {
    return this.#view.getInt32(OFF_BATCH_LENGTH);
  }
  /** Total size of the batch in bytes. */
  get sizeBytes(): number {
    return this.batchLength + BATCH_LOG_OVERHEAD;
  }
  /** Leader epoch stamped by the broker that appended the batch. */
  get partitionLeaderEpoch(): number {
    return this.#view.getInt32(OFF_LEADER_EPOCH);
  }
  /** Format version, 2. */
  get magic(): number {
    return this.#view.getInt8(OFF_MAGIC);
  }
  /** Stored CRC32C. */
  get crc(): number {
    return this.#view.getUint32(OFF_CRC);
  }
  /** Raw attributes. */
  get attributes(): number {
    return this.#view.getInt16(OFF_ATTRIBUTES);
  }
  /** Compression codec id (0..7; 5..7 are invalid). */
  get compressionId(): number {
    return this.attributes & COMPRESSION_ATTRIBUTE_MASK;
  }
  /** Whether timestamps are LogAppendTime. */
  get isLogAppendTime(): boolean {
    return (this.attributes & ATTR_LOG_APPEND_TIME) !== 0;
  }
  /** Whether the batch is transactional. */
  get isTransactional(): boolean {
    return (this.attributes & ATTR_TRANSACTIONAL) !== 0;
  }
  /** Whether the batch holds control records. */
  get isControl(): boolean {
    return (this.attributes & ATTR_CONTROL) !== 0;
  }
  /** Offset of the last record minus the base offset. */
  get lastOffsetDelta(): number {
    return this.#view.getInt32(OFF_LAST_OFFSET_DELTA);
  }
  /** Offset of the last record. */
  get lastOffset(): number {
    return this.baseOffset + this.lastOffsetDelta;
  }
  /** Timestamp of the first record (CreateTime). */
  get baseTimestamp(): number {
    return _getInt64(this.#view, OFF_BASE_TIMESTAMP);
  }
  /** Largest record timestamp, or the append time for LogAppendTime batches. */
  get maxTimestamp(): number {
    return _getInt64(this.#view, OFF_MAX_TIMESTAMP);
  }
  /** Idempotent producer id, or -1. */
  get producerId(): number {
    return _getInt64(this.#view, OFF_PRODUCER_ID);
  }
  /** Producer epoch, or -1. */
  get producerEpoch(): number {
    return this.#view.getInt16(OFF_PRODUCER_EPOCH);
  }
  /** Sequence number of the first record, or -1. */
  get baseSequence(): number {
    return this.#view.getInt32(OFF_BASE_SEQUENCE);
  }
  /** Number of records. */
  get recordCount(): number {
    return this.#view.getInt32(OFF_RECORD_COUNT);
  }
}

/**
 * Returns a zero-copy header view of the batch at the start of `bytes`.
 * Throws {@linkcode CorruptRecordError} if fewer than 61 bytes are given.
 *
 * @example
 * ```ts
 * import { buildBatch, readBatchHeader } from "./record_batch.ts";
 * import assert from "node:assert/strict";
 * const batch = await buildBatch([{ value: new Uint8Array([1]), timestamp: 1000 }]);
 * assert.equal(readBatchHeader(batch).recordCount, 1);
 * ```
 */
export function readBatchHeader(bytes: Uint8Array): BatchHeader {
  return new BatchHeader(bytes);
}

/** Options of {@linkcode validateBatch}. */
export interface ValidateBatchOptions {
  /**
   * Largest batch accepted, in bytes (the topic's `max.message.bytes`).
   * @default {1048588}
   */
  maxBytes?: number;
  /**
   * Require `recordCount === lastOffsetDelta + 1`, as for batches from producers. Batches
   * written by compaction may hold fewer records than their offset span, so readers of
   * stored data pass false, which checks `recordCount <= lastOffsetDelta + 1`.
   * @default {true}
   */
  strictCount?: boolean;
}

/** Kafka's default `max.message.bytes`. */
export const BATCH_BYTES_MAX_DEFAULT = 1048588;

function _corrupt(why: string): CorruptRecordError {
  return new CorruptRecordError(`Cannot accept record batch as ${why}`);
}

/**
 * Checks that `bytes` is exactly one well-formed v2 batch: length, magic, codec, CRC32C, and
 * that the record count agrees with lastOffsetDelta. Never decompresses or decodes records.
 * Returns the header view on success.
 *
 * @example
 * ```ts
 * import { buildBatch, validateBatch } from "./record_batch.ts";
 * import { CorruptRecordError } from "./record_errors.ts";
 * import assert from "node:assert/strict";
 * const batch = await buildBatch([{ value: new Uint8Array([1]), timestamp: 1000 }]);
 * assert.equal(validateBatch(batch).recordCount, 1);
 * batch[batch.length - 1]! ^= 0xff;
 * assert.throws(() => validateBatch(batch), CorruptRecordError);
 * ```
 */
export function validateBatch(bytes: Uint8Array, options: ValidateBatchOptions = {}): BatchHeader {
  const maxBytes = options.maxBytes ?? BATCH_BYTES_MAX_DEFAULT;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < BATCH_HEADER_BYTES) {
    throw new RangeError(
      `Cannot validate batch as maxBytes is invalid: current value is ${maxBytes}`,
    );
  }
  if (bytes.length > maxBytes) {
    throw new RecordTooLargeError(
      `Cannot accept record batch as it is ${bytes.length} bytes: maximum is ${maxBytes}`,
    );
  }
  const header = readBatchHeader(bytes);
  if (header.magic !== MAGIC_V2) throw _corrupt(`its magic is ${header.magic}, not 2`);
  const size = header.sizeBytes;
  if (header.batchLength < BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD || size !== bytes.length) {
    throw _corrupt(`batchLength ${header.batchLength} disagrees with ${bytes.length} bytes given`);
  }
  const crc = crc32c(bytes.subarray(OFF_ATTRIBUTES));
  if (crc !== header.crc) throw _corrupt(`its CRC is ${header.crc}, computed ${crc}`);
  _checkCodecAndCount(header, bytes.length, options.strictCount ?? true);
  return header;
}

function _checkCodecAndCount(header: BatchHeader, size: number, strictCount: boolean): void {
  const codecId = header.compressionId;
  if (codecId >= COMPRESSION_CODECS.length) {
    throw new UnsupportedCompressionTypeError(
      `Cannot accept record batch as its compression codec id is ${codecId}`,
    );
  }
  const count = header.recordCount;
  const span = header.lastOffsetDelta + 1;
  if (count < 0 || header.lastOffsetDelta < 0) {
    throw _corrupt(`recordCount ${count} or lastOffsetDelta ${header.lastOffsetDelta} < 0`);
  }
  if (strictCount ? count !== span || count === 0 : count > span) {
    throw _corrupt(`recordCount ${count} disagrees with lastOffsetDelta ${span - 1}`);
  }
  const recordsBytes = size - BATCH_HEADER_BYTES;
  // Uncompressed records can be bounded without decoding them; compressed ones cannot, and
  // the broker must not decompress here.
  if (codecId === 0 && recordsBytes < count * RECORD_BYTES_MIN) {
    throw _corrupt(`${recordsBytes} bytes cannot hold ${count} records`);
  }
  if (codecId !== 0 && count > 0 && recordsBytes === 0) {
    throw _corrupt(`it claims ${count} compressed records in 0 bytes`);
  }
}

/**
 * Sets baseOffset in place. The CRC does not cover it, so nothing else changes.
 *
 * @example
 * ```ts
 * import { buildBatch, readBatchHeader, setBaseOffset, validateBatch } from "./record_batch.ts";
 * import assert from "node:assert/strict";
 * const batch = await buildBatch([{ value: null, timestamp: 5 }]);
 * setBaseOffset(batch, 42);
 * assert.equal(readBatchHeader(batch).baseOffset, 42);
 * validateBatch(batch); // still valid
 * ```
 */
export function setBaseOffset(bytes: Uint8Array, offset: number): void {
  readBatchHeader(bytes);
  _setInt64(_view(bytes), 0, offset);
}

/** Sets partitionLeaderEpoch in place. The CRC does not cover it. */
export function setPartitionLeaderEpoch(bytes: Uint8Array, epoch: number): void {
  readBatchHeader(bytes);
  _view(bytes).setInt32(OFF_LEADER_EPOCH, epoch);
}

/**
 * Marks the batch LogAppendTime with append time `timestampMs`: sets maxTimestamp and the
 * timestamp-type bit, then recomputes the CRC. Record timestamps are left alone; readers of a
 * LogAppendTime batch take maxTimestamp for every record, as Kafka does.
 */
export function setLogAppendTime(bytes: Uint8Array, timestampMs: number): void {
  const header = readBatchHeader(bytes);
  const view = _view(bytes);
  _setInt64(view, OFF_MAX_TIMESTAMP, timestampMs);
  view.setInt16(OFF_ATTRIBUTES, header.attributes | ATTR_LOG_APPEND_TIME);
  view.setUint32(OFF_CRC, crc32c(bytes.subarray(OFF_ATTRIBUTES, header.sizeBytes)));
}

/** Options of {@linkcode splitBatches}. */
export interface SplitBatchesOptions {
  /**
   * Stop quietly at an incomplete last batch instead of throwing. Fetch responses may end in
   * a partial batch; Produce requests may not.
   * @default {false}
   */
  allowPartialTail?: boolean;
}

/**
 * Iterates over the batches in a concatenation (a Produce request's records field, a fetch
 * response, a stored object), yielding zero-copy subarrays. Only lengths are checked; pass
 * each batch to {@linkcode validateBatch}.
 *
 * @example
 * ```ts
 * import { buildBatch, splitBatches } from "./record_batch.ts";
 * import assert from "node:assert/strict";
 * const a = await buildBatch([{ value: null, timestamp: 1 }]);
 * const both = new Uint8Array([...a, ...a]);
 * assert.equal([...splitBatches(both)].length, 2);
 * ```
 */
export function* splitBatches(
  bytes: Uint8Array,
  options: SplitBatchesOptions = {},
): Generator<Uint8Array> {
  let at = 0;
  while (at < bytes.length) {
    const rest = bytes.length - at;
    if (rest < BATCH_LOG_OVERHEAD) {
      if (options.allowPartialTail === true) return;
      throw _corrupt(`${rest} trailing bytes do not hold a batch length`);
    }
    const batchLength = _view(bytes).getInt32(at + OFF_BATCH_LENGTH);
    if (batchLength < BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD) {
      throw _corrupt(`a batchLength is ${batchLength}`);
    }
    const size = batchLength + BATCH_LOG_OVERHEAD;
    if (size > rest) {
      if (options.allowPartialTail === true) return;
      throw _corrupt(`its last batch needs ${size} bytes but ${rest} remain`);
    }
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

/** Codec used by a batch, by name. */
export function batchCompression(header: BatchHeader): CompressionCodec {
  const codec = COMPRESSION_CODECS[header.compressionId];
  if (codec === undefined) {
    throw new UnsupportedCompressionTypeError(
      `Cannot read record batch as its compression codec id is ${header.compressionId}`,
    );
  }
  return codec;
}

/** One record header: a UTF-8 key and a nullable value. */
export interface RecordHeader {
  /** Header key. */
  key: string;
  /** Header value, or null. */
  value: Uint8Array | null;
}

/** A record given to {@linkcode buildBatch}. */
export interface RecordInput {
  /** Record key, or null. @default {null} */
  key?: Uint8Array | null;
  /** Record value, or null (a tombstone). */
  value: Uint8Array | null;
  /** Headers, in order. @default {[]} */
  headers?: readonly RecordHeader[];
  /** CreateTime in milliseconds since the epoch. */
  timestamp: number;
}

/** Options of {@linkcode buildBatch}. */
export interface BuildBatchOptions {
  /** @default {0} */
  baseOffset?: number;
  /** @default {-1} */
  partitionLeaderEpoch?: number;
  /** Idempotent producer id. @default {-1} */
  producerId?: number;
  /** @default {-1} */
  producerEpoch?: number;
  /** Sequence number of the first record. @default {-1} */
  baseSequence?: number;
  /** @default {"none"} */
  compression?: CompressionCodec;
  /** @default {false} */
  transactional?: boolean;
  /** Whether the records are control records (transaction markers). @default {false} */
  control?: boolean;
}

/** Most records {@linkcode buildBatch} puts into one batch. */
export const BATCH_RECORDS_MAX = 1_000_000;

const _encoder = new TextEncoder();
const _decoder = new TextDecoder("utf-8", { fatal: true });

function _bytesFieldSize(b: Uint8Array | null): number {
  return b === null ? 1 : varintSize(b.length) + b.length;
}

function _writeBytesField(out: Uint8Array, at: number, b: Uint8Array | null): number {
  if (b === null) return writeVarint(out, at, -1);
  at = writeVarint(out, at, b.length);
  out.set(b, at);
  return at + b.length;
}

/** UTF-8 length of `s` without encoding it (a lone surrogate counts as U+FFFD, 3 bytes). */
function _utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

function _recordBodySize(r: RecordInput, delta: number, baseTs: number): number {
  const headers = r.headers;
  let body = 1 + varlongSize(r.timestamp - baseTs) + varintSize(delta) +
    _bytesFieldSize(r.key ?? null) + _bytesFieldSize(r.value) +
    varintSize(headers?.length ?? 0);
  if (headers !== undefined) {
    for (const h of headers) {
      const k = _utf8Length(h.key);
      body += varintSize(k) + k + _bytesFieldSize(h.value);
    }
  }
  return body;
}

/** Record body sizes of the batch being encoded, kept between calls (encoding is synchronous). */
let _bodySizes = new Int32Array(1024);

/**
 * Encodes the records section (uncompressed) at `headRoom` bytes into a new array; offset
 * deltas are 0..n-1 unless given. It sizes every record first and then writes each field
 * straight into place, so a record's bytes are copied once and nothing is allocated per
 * record (a producer at 10^6 records/s spent a third of its time in GC with a size object and
 * an encoded-key array per record).
 */
function _encodeRecords(
  records: readonly RecordInput[],
  baseTs: number,
  deltas?: readonly number[],
  headRoom = 0,
): Uint8Array {
  if (_bodySizes.length < records.length) _bodySizes = new Int32Array(records.length * 2);
  const sizes = _bodySizes;
  let total = headRoom;
  for (let i = 0; i < records.length; i++) {
    const body = _recordBodySize(records[i]!, deltas?.[i] ?? i, baseTs);
    sizes[i] = body;
    total += varintSize(body) + body;
  }
  const out = new Uint8Array(total);
  let at = headRoom;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    at = writeVarint(out, at, sizes[i]!);
    out[at++] = 0; // record attributes: unused
    at = writeVarlong(out, at, r.timestamp - baseTs);
    at = writeVarint(out, at, deltas?.[i] ?? i);
    at = _writeBytesField(out, at, r.key ?? null);
    at = _writeBytesField(out, at, r.value);
    const headers = r.headers;
    at = writeVarint(out, at, headers?.length ?? 0);
    if (headers === undefined) continue;
    for (const h of headers) {
      const k = _utf8Length(h.key);
      at = writeVarint(out, at, k);
      _encoder.encodeInto(h.key, out.subarray(at, at + k));
      at = _writeBytesField(out, at + k, h.value);
    }
  }
  return out;
}

/**
 * Builds one v2 batch from records, as a producer does: offset deltas 0..n-1, CreateTime
 * timestamps relative to the first record, optional compression, and a CRC32C.
 *
 * @example
 * ```ts
 * import { buildBatch, decodeRecords } from "./record_batch.ts";
 * import assert from "node:assert/strict";
 * const value = new TextEncoder().encode("v");
 * const batch = await buildBatch([{ value, timestamp: 1000 }], { baseOffset: 7, compression: "gzip" });
 * const [record] = (await decodeRecords(batch)).records;
 * assert.equal(record?.offset, 7);
 * assert.deepEqual(record?.value, value);
 * ```
 */
export async function buildBatch(
  records: readonly RecordInput[],
  options: BuildBatchOptions = {},
): Promise<Uint8Array> {
  if (records.length === 0 || records.length > BATCH_RECORDS_MAX) {
    throw new RangeError(
      `Cannot build batch as it has ${records.length} records: 1..${BATCH_RECORDS_MAX}`,
    );
  }
  const baseTs = records[0]!.timestamp;
  let maxTs = baseTs;
  for (const r of records) if (r.timestamp > maxTs) maxTs = r.timestamp;
  const codec = options.compression ?? "none";
  let out: Uint8Array;
  if (codec === "none") {
    // Records are written after room for the header, which is filled in place: no copy.
    out = _encodeRecords(records, baseTs, undefined, BATCH_HEADER_BYTES);
  } else {
    const body = await compress(codec, _encodeRecords(records, baseTs));
    out = new Uint8Array(BATCH_HEADER_BYTES + body.length);
    out.set(body, BATCH_HEADER_BYTES);
  }
  _writeHeader(out, options, records.length, baseTs, maxTs);
  return out;
}

/** Fills the 61-byte header of `out` (whose records are in place) and its CRC. */
function _writeHeader(
  out: Uint8Array,
  options: BuildBatchOptions,
  count: number,
  baseTs: number,
  maxTs: number,
): void {
  const view = _view(out);
  _setInt64(view, 0, options.baseOffset ?? 0);
  view.setInt32(OFF_BATCH_LENGTH, out.length - BATCH_LOG_OVERHEAD);
  view.setInt32(OFF_LEADER_EPOCH, options.partitionLeaderEpoch ?? -1);
  view.setInt8(OFF_MAGIC, MAGIC_V2);
  const attributes = COMPRESSION_IDS[options.compression ?? "none"] |
    (options.transactional === true ? ATTR_TRANSACTIONAL : 0) |
    (options.control === true ? ATTR_CONTROL : 0);
  view.setInt16(OFF_ATTRIBUTES, attributes);
  view.setInt32(OFF_LAST_OFFSET_DELTA, count - 1);
  _setInt64(view, OFF_BASE_TIMESTAMP, baseTs);
  _setInt64(view, OFF_MAX_TIMESTAMP, maxTs);
  _setInt64(view, OFF_PRODUCER_ID, options.producerId ?? -1);
  view.setInt16(OFF_PRODUCER_EPOCH, options.producerEpoch ?? -1);
  view.setInt32(OFF_BASE_SEQUENCE, options.baseSequence ?? -1);
  view.setInt32(OFF_RECORD_COUNT, count);
  view.setUint32(OFF_CRC, crc32c(out.subarray(OFF_ATTRIBUTES)));
}

/**
 * Builds one v2 batch a record at a time, as {@linkcode buildBatch} would from the same records,
 * but writing each key and value straight into the batch: the ETL Worker hands it views of a
 * module's memory, so an emitted record is copied once, not into a fresh array first. The
 * records written since {@linkcode BatchWriter.mark} can be taken back (a record the chain
 * failed on after it had emitted some). Uncompressed, the records are written after room for
 * the header, so {@linkcode BatchWriter.finish} fills the header in place and copies nothing.
 *
 * @example
 * ```ts
 * import { BatchWriter, buildBatch } from "./record_batch.ts";
 * import assert from "node:assert/strict";
 * const w = new BatchWriter();
 * w.add(null, new Uint8Array([1]), 10, []);
 * w.mark();
 * w.add(null, new Uint8Array([2]), 11, []);
 * w.rollback();
 * w.add(new Uint8Array([3]), null, 12, [{ key: "h", value: null }]);
 * const expected = await buildBatch([
 *   { value: new Uint8Array([1]), timestamp: 10 },
 *   { key: new Uint8Array([3]), value: null, timestamp: 12, headers: [{ key: "h", value: null }] },
 * ], { producerId: 4 });
 * assert.deepEqual((await w.finish({ producerId: 4 })).batch, expected);
 * ```
 */
export class BatchWriter {
  #buf: Uint8Array;
  #at = BATCH_HEADER_BYTES;
  #count = 0;
  #baseTs = 0;
  #maxTs = 0;
  #markAt = BATCH_HEADER_BYTES;
  #markCount = 0;
  #markMaxTs = 0;

  /** `capacity`: the bytes the batch is expected to take, header included. */
  constructor(capacity = 4096) {
    this.#buf = new Uint8Array(Math.max(capacity, BATCH_HEADER_BYTES + 64));
  }

  /** Records written so far. */
  get count(): number {
    return this.#count;
  }

  /** Remembers this point for {@linkcode BatchWriter.rollback}. */
  mark(): void {
    this.#markAt = this.#at;
    this.#markCount = this.#count;
    this.#markMaxTs = this.#maxTs;
  }

  /** Takes back every record written since the last {@linkcode BatchWriter.mark}. */
  rollback(): void {
    this.#at = this.#markAt;
    this.#count = this.#markCount;
    this.#maxTs = this.#markMaxTs;
  }

  /** Appends one record; `key` and `value` are copied before this returns. */
  add(
    key: Uint8Array | null,
    value: Uint8Array | null,
    timestamp: number,
    headers: readonly RecordHeader[],
  ): void {
    if (this.#count >= BATCH_RECORDS_MAX) {
      throw new RangeError(`Cannot build batch as it has more than ${BATCH_RECORDS_MAX} records`);
    }
    if (this.#count === 0) this.#baseTs = this.#maxTs = timestamp;
    else if (timestamp > this.#maxTs) this.#maxTs = timestamp;
    const tsDelta = timestamp - this.#baseTs;
    const delta = this.#count;
    const body = _recordBodySize({ key, value, timestamp, headers }, delta, this.#baseTs);
    this.#reserve(varintSize(body) + body);
    const out = this.#buf;
    let at = writeVarint(out, this.#at, body);
    out[at++] = 0; // record attributes: unused
    at = writeVarlong(out, at, tsDelta);
    at = writeVarint(out, at, delta);
    at = _writeBytesField(out, at, key);
    at = _writeBytesField(out, at, value);
    at = writeVarint(out, at, headers.length);
    for (const h of headers) {
      const k = _utf8Length(h.key);
      at = writeVarint(out, at, k);
      _encoder.encodeInto(h.key, out.subarray(at, at + k));
      at = _writeBytesField(out, at + k, h.value);
    }
    this.#at = at;
    this.#count++;
  }

  /**
   * The batch, with `options`' header fields, compressed with `options.compression`, and the
   * buffer the records were written into, which nothing else refers to. Uncompressed, `batch`
   * is a view of its start, so the caller can hand `buffer` on instead of copying when the
   * slack is small; compressed, `batch` has a buffer of its own and `buffer` is free to reuse.
   */
  async finish(
    options: Omit<BuildBatchOptions, "control"> = {},
  ): Promise<{ batch: Uint8Array; buffer: ArrayBuffer }> {
    if (this.#count === 0) throw new RangeError("Cannot build batch as it has 0 records");
    const codec = options.compression ?? "none";
    let out: Uint8Array;
    if (codec === "none") {
      out = this.#buf.subarray(0, this.#at);
    } else {
      const body = await compress(codec, this.#buf.subarray(BATCH_HEADER_BYTES, this.#at));
      out = new Uint8Array(BATCH_HEADER_BYTES + body.length);
      out.set(body, BATCH_HEADER_BYTES);
    }
    _writeHeader(out, options, this.#count, this.#baseTs, this.#maxTs);
    return { batch: out, buffer: this.#buf.buffer as ArrayBuffer };
  }

  #reserve(bytes: number): void {
    const need = this.#at + bytes;
    if (need <= this.#buf.length) return;
    const grown = new Uint8Array(Math.max(need, this.#buf.length * 2));
    grown.set(this.#buf.subarray(0, this.#at));
    this.#buf = grown;
  }
}

/**
 * A batch with no records that keeps an idempotent producer's place: it carries `input`'s
 * producer id, epoch and attributes, spans one offset (lastOffsetDelta 0), and has base
 * sequence `lastSequence`, so whoever rebuilds producer state from stored headers (a follower,
 * a restarted broker) expects the sequence after it. Kafka's log cleaner keeps such empty
 * batches for the same reason; consumers move past it by its last offset. The produce path
 * stores one when an ETL chain dropped every record of an idempotent producer's batch.
 *
 * @example
 * ```ts
 * import { buildBatch, buildEmptyBatch, readBatchHeader, validateBatch } from "./record_batch.ts";
 * import assert from "node:assert/strict";
 * const input = readBatchHeader(await buildBatch([{ value: null, timestamp: 5 }, { value: null, timestamp: 9 }], {
 *   producerId: 7, producerEpoch: 1, baseSequence: 4,
 * }));
 * const empty = validateBatch(buildEmptyBatch(input, 5), { strictCount: false });
 * assert.deepEqual([empty.recordCount, empty.lastOffsetDelta, empty.baseSequence, empty.producerId], [0, 0, 5, 7]);
 * assert.equal(empty.maxTimestamp, 9);
 * ```
 */
export function buildEmptyBatch(input: BatchHeader, lastSequence: number): Uint8Array {
  const out = new Uint8Array(BATCH_HEADER_BYTES);
  const view = _view(out);
  view.setInt32(OFF_BATCH_LENGTH, out.length - BATCH_LOG_OVERHEAD);
  view.setInt32(OFF_LEADER_EPOCH, input.partitionLeaderEpoch);
  view.setInt8(OFF_MAGIC, MAGIC_V2);
  // No records, so no compression; the transactional bit stays, so the transaction's marker
  // still closes what this batch opened.
  view.setInt16(OFF_ATTRIBUTES, input.isTransactional ? ATTR_TRANSACTIONAL : 0);
  view.setInt32(OFF_LAST_OFFSET_DELTA, 0);
  _setInt64(view, OFF_BASE_TIMESTAMP, input.maxTimestamp);
  _setInt64(view, OFF_MAX_TIMESTAMP, input.maxTimestamp);
  _setInt64(view, OFF_PRODUCER_ID, input.producerId);
  view.setInt16(OFF_PRODUCER_EPOCH, input.producerEpoch);
  view.setInt32(OFF_BASE_SEQUENCE, lastSequence);
  view.setInt32(OFF_RECORD_COUNT, 0);
  view.setUint32(OFF_CRC, crc32c(out.subarray(OFF_ATTRIBUTES)));
  return out;
}

/**
 * The batch with only the records `keep` accepts, as log compaction leaves it: the header is
 * unchanged (base offset, last offset delta, timestamps, producer fields, attributes) and each
 * kept record keeps its offset delta, so offsets never move. Returns `batch` itself when every
 * record is kept, and null when none is. Control batches are kept whole.
 *
 * @example
 * ```ts
 * import { buildBatch, decodeRecords, retainRecords } from "./record_batch.ts";
 * import assert from "node:assert/strict";
 * const enc = (s: string) => new TextEncoder().encode(s);
 * const batch = await buildBatch([
 *   { key: enc("a"), value: enc("1"), timestamp: 1 },
 *   { key: enc("b"), value: enc("2"), timestamp: 2 },
 * ], { baseOffset: 10 });
 * const kept = await retainRecords(batch, (r) => r.offset === 11);
 * assert.deepEqual((await decodeRecords(kept!)).records.map((r) => r.offset), [11]);
 * ```
 */
export async function retainRecords(
  batch: Uint8Array,
  keep: (record: DecodedRecord) => boolean,
): Promise<Uint8Array | null> {
  const { header, records } = await decodeRecords(batch);
  if (header.isControl) return batch;
  const kept = records.filter(keep);
  if (kept.length === records.length) return batch;
  if (kept.length === 0) return null;
  const baseTs = header.baseTimestamp;
  const body = await compress(
    batchCompression(header),
    _encodeRecords(
      kept.map((r) => ({
        key: r.key,
        value: r.value,
        headers: r.headers,
        // LogAppendTime batches ignore record timestamps; keep the deltas small.
        timestamp: header.isLogAppendTime ? baseTs : r.timestamp,
      })),
      baseTs,
      kept.map((r) => r.offset - header.baseOffset),
    ),
  );
  const out = new Uint8Array(BATCH_HEADER_BYTES + body.length);
  out.set(batch.subarray(0, BATCH_HEADER_BYTES));
  out.set(body, BATCH_HEADER_BYTES);
  const view = _view(out);
  view.setInt32(OFF_BATCH_LENGTH, out.length - BATCH_LOG_OVERHEAD);
  view.setInt32(OFF_RECORD_COUNT, kept.length);
  view.setUint32(OFF_CRC, crc32c(out.subarray(OFF_ATTRIBUTES)));
  return out;
}

/**
 * The same batch with its records compressed by `codec` instead, as a broker does for a topic
 * whose `compression.type` differs from the producer's: every header field (offsets, timestamps,
 * producer id, epoch and sequence, transactional and timestamp-type bits) and every record's
 * offset and timestamp delta stay; only the compression bits, the length and the CRC change.
 * Returns `batch` itself when it already uses `codec`, and control batches untouched.
 *
 * @example
 * ```ts
 * import { batchCompression, buildBatch, decodeRecords, readBatchHeader, recompressBatch } from "./record_batch.ts";
 * import assert from "node:assert/strict";
 * const value = new TextEncoder().encode("v".repeat(100));
 * const batch = await buildBatch([{ value, timestamp: 5 }], { producerId: 9, baseSequence: 3 });
 * const gz = await recompressBatch(batch, "gzip");
 * assert.equal(batchCompression(readBatchHeader(gz)), "gzip");
 * assert.equal(readBatchHeader(gz).baseSequence, 3);
 * assert.deepEqual((await decodeRecords(gz)).records[0]?.value, value);
 * ```
 */
export async function recompressBatch(
  batch: Uint8Array,
  codec: CompressionCodec,
): Promise<Uint8Array> {
  const header = readBatchHeader(batch);
  if (header.isControl || batchCompression(header) === codec) return batch;
  const { records } = await decodeRecords(batch);
  const baseTs = header.baseTimestamp;
  const body = await compress(
    codec,
    _encodeRecords(
      records.map((r) => ({
        key: r.key,
        value: r.value,
        headers: r.headers,
        // LogAppendTime batches ignore record timestamps; keep the deltas small.
        timestamp: header.isLogAppendTime ? baseTs : r.timestamp,
      })),
      baseTs,
      records.map((r) => r.offset - header.baseOffset),
    ),
  );
  const out = new Uint8Array(BATCH_HEADER_BYTES + body.length);
  out.set(batch.subarray(0, BATCH_HEADER_BYTES));
  out.set(body, BATCH_HEADER_BYTES);
  const view = _view(out);
  view.setInt32(OFF_BATCH_LENGTH, out.length - BATCH_LOG_OVERHEAD);
  const attributes = (header.attributes & ~COMPRESSION_ATTRIBUTE_MASK) | COMPRESSION_IDS[codec];
  view.setInt16(OFF_ATTRIBUTES, attributes);
  view.setUint32(OFF_CRC, crc32c(out.subarray(OFF_ATTRIBUTES)));
  return out;
}

/** A decoded record with absolute offset and timestamp. Byte fields are views, not copies. */
export interface DecodedRecord {
  /** Absolute offset: baseOffset + offsetDelta. */
  offset: number;
  /** CreateTime, or the batch's maxTimestamp for LogAppendTime batches. */
  timestamp: number;
  /** Record key, or null. */
  key: Uint8Array | null;
  /** Record value, or null. */
  value: Uint8Array | null;
  /** Headers, in order. */
  headers: RecordHeader[];
}

/** What {@linkcode decodeRecords} returns: the header view and the records. */
export interface DecodedBatch {
  /** Header of the batch. */
  header: BatchHeader;
  /** Records in order. */
  records: DecodedRecord[];
}

/** Options of {@linkcode decodeRecords}. */
export interface DecodeRecordsOptions {
  /**
   * Most bytes the records may take once decompressed.
   * @default {64 MiB}
   */
  maxDecompressedBytes?: number;
  /**
   * The caller has just checked these exact bytes with {@linkcode validateBatch} (the ETL
   * Worker gets a copy of a batch the produce path validated), so the CRC is not computed again.
   * @default {false}
   */
  alreadyValidated?: boolean;
}

function _readBytesField(src: Uint8Array, c: VarintCursor, end: number): Uint8Array | null {
  const len = readVarint(src, c);
  if (len < 0) {
    if (len !== -1) throw _corrupt(`a field length is ${len}`);
    return null;
  }
  if (c.offset + len > end) throw _corrupt("a record field overruns its record");
  const b = src.subarray(c.offset, c.offset + len);
  c.offset += len;
  return b;
}

function _readHeaders(src: Uint8Array, c: VarintCursor, end: number): RecordHeader[] {
  const count = readVarint(src, c);
  // Each header takes at least 2 bytes, which bounds the count before any allocation.
  if (count < 0 || count * 2 > end - c.offset) throw _corrupt(`a header count is ${count}`);
  const headers: RecordHeader[] = [];
  for (let i = 0; i < count; i++) {
    const key = _readBytesField(src, c, end);
    if (key === null) throw _corrupt("a header key is null");
    let text: string;
    try {
      text = _decoder.decode(key);
    } catch (err) {
      throw new CorruptRecordError("Cannot decode header key as it is not UTF-8", { cause: err });
    }
    headers.push({ key: text, value: _readBytesField(src, c, end) });
  }
  return headers;
}

function _readRecord(src: Uint8Array, c: VarintCursor, header: BatchHeader, base: number[]) {
  const length = readVarint(src, c);
  const end = c.offset + length;
  if (length < RECORD_BYTES_MIN - 1 || end > src.length) {
    throw _corrupt(`a record length is ${length}`);
  }
  c.offset++; // record attributes: unused in v2
  const tsDelta = readVarlong(src, c);
  const offsetDelta = readVarint(src, c);
  const key = _readBytesField(src, c, end);
  const value = _readBytesField(src, c, end);
  const headers = _readHeaders(src, c, end);
  if (c.offset !== end) throw _corrupt(`a record is ${length} bytes but its fields are not`);
  const [baseOffset, baseTs] = base as [number, number];
  const timestamp = header.isLogAppendTime ? header.maxTimestamp : baseTs + tsDelta;
  return { offset: baseOffset + offsetDelta, timestamp, key, value, headers };
}

/**
 * Decodes the records of one batch, decompressing if needed. For consumers, tools and ETL, never
 * the broker's produce path. Validates the batch first; every malformed input raises a
 * {@linkcode RecordError}.
 */
export async function decodeRecords(
  bytes: Uint8Array,
  options: DecodeRecordsOptions = {},
): Promise<DecodedBatch> {
  const header = options.alreadyValidated === true
    ? readBatchHeader(bytes)
    : validateBatch(bytes, { maxBytes: bytes.length + BATCH_HEADER_BYTES, strictCount: false });
  const body = bytes.subarray(BATCH_HEADER_BYTES, header.sizeBytes);
  const maxBytes = options.maxDecompressedBytes ?? 64 * 1024 * 1024;
  const src = await decompress(batchCompression(header), body, { maxBytes });
  const count = header.recordCount;
  if (count * RECORD_BYTES_MIN > src.length) {
    throw _corrupt(`${src.length} bytes cannot hold ${count} records`);
  }
  const base = [header.baseOffset, header.baseTimestamp];
  const c: VarintCursor = { offset: 0 };
  const records: DecodedRecord[] = [];
  try {
    for (let i = 0; i < count; i++) records.push(_readRecord(src, c, header, base));
  } catch (err) {
    if (err instanceof RecordError) throw err;
    throw new CorruptRecordError(`Cannot decode records: ${String(err)}`, { cause: err });
  }
  if (c.offset !== src.length) {
    throw _corrupt(`${src.length - c.offset} bytes follow the last record`);
  }
  return { header, records };
}
