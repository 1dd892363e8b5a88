/**
 * A whole record batch through a chain, as the Worker runs it: decode, run every record through
 * the chain's instances, re-encode with the input's compression, producer id and epoch, and a
 * fresh CRC. Running this in the Worker keeps the broker's main thread to one copy of the
 * batch each way.
 *
 * Sequence numbers: the stored batch's base sequence is chosen so that it ends on the
 * producer's last sequence (`baseSequence + recordsOut - 1` = the input's last), because
 * followers and a restarted broker rebuild producer state from stored headers.
 *
 * @module
 */

import {
  batchCompression,
  BatchWriter,
  buildBatch,
  type BuildBatchOptions,
  decodeRecords,
  type RecordInput,
} from "../protocol/record/record_batch.ts";
import {
  type ChainStage,
  type EtlRecordFailure,
  runRecordInto,
  type StageStats,
} from "./chain_runner.ts";

/** What became of a batch in the Worker. */
export interface BatchTransformResult {
  /** The re-encoded batch; null when no record remains, or when a record failed and
   * `buildOnFailure` was false. */
  readonly batch: Uint8Array | null;
  readonly recordsIn: number;
  readonly recordsOut: number;
  /** Failed input records by index. */
  readonly failures: Record<number, EtlRecordFailure>;
}

const INT32_MAX = 2147483647;

/** The base sequence that makes `count` records end on `lastSeq`, wrapping as Kafka does. */
export function rebasedSequence(lastSeq: number, count: number): number {
  const base = lastSeq - (count - 1);
  return base < 0 ? base + INT32_MAX + 1 : base;
}

/** The sequence of the last of `count` records from `baseSequence`, wrapping as Kafka does. */
export function lastSequence(baseSequence: number, count: number): number {
  const last = baseSequence + count - 1;
  return last > INT32_MAX ? last - INT32_MAX - 1 : last;
}

/** Re-encodes `out` with the producer fields of the input header. */
export function rebuildBatch(
  header: Awaited<ReturnType<typeof decodeRecords>>["header"],
  out: RecordInput[],
): Promise<Uint8Array> {
  return buildBatch(out, _rebuiltFields(header, out.length));
}

/** The header fields of a rebuilt batch of `count` records from the batch with `header`. */
function _rebuiltFields(
  header: Awaited<ReturnType<typeof decodeRecords>>["header"],
  count: number,
): BuildBatchOptions {
  const idempotent = header.producerId >= 0 && header.baseSequence >= 0;
  return {
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    baseSequence: idempotent
      ? rebasedSequence(lastSequence(header.baseSequence, header.recordCount), count)
      : header.baseSequence,
    compression: batchCompression(header),
    transactional: header.isTransactional,
    partitionLeaderEpoch: header.partitionLeaderEpoch,
  };
}

/**
 * Runs the records of `bytes` (one v2 batch) through `stages`. A memory-limit failure is
 * thrown (the caller discards the instances); other failures are listed per record.
 *
 * What the last module emits is written straight from its memory into the output batch
 * ({@linkcode BatchWriter}), so a record is not copied into a fresh array first; `buffer` is
 * the one written into, of which an uncompressed `batch` is a view (see
 * {@linkcode BatchWriter.finish}).
 */
export async function transformBatchBytes(
  stages: ChainStage[],
  bytes: Uint8Array,
  stats: StageStats[],
  options: { buildOnFailure: boolean },
): Promise<BatchTransformResult & { readonly buffer?: ArrayBuffer }> {
  // The produce path validated these bytes (CRC included) before handing a copy over.
  const { header, records } = await decodeRecords(bytes, { alreadyValidated: true });
  const codec = batchCompression(header);
  // A module that maps records to records of the same size fills an uncompressed input's size.
  const writer = new BatchWriter(codec === "none" ? header.sizeBytes : bytes.length * 2);
  const failures: Record<number, EtlRecordFailure> = {};
  let failed = false;
  for (let i = 0; i < records.length; i++) {
    const input = records[i]!;
    writer.mark();
    const failure = runRecordInto(stages, input, stats, (key, value) => {
      writer.add(key, value, input.timestamp, input.headers);
    });
    if (failure !== null) {
      writer.rollback();
      failures[i] = failure;
      failed = true;
    }
  }
  const recordsIn = records.length;
  const recordsOut = writer.count;
  if (recordsOut === 0 || (failed && !options.buildOnFailure)) {
    return { batch: null, recordsIn, recordsOut, failures };
  }
  const { batch, buffer } = await writer.finish(_rebuiltFields(header, recordsOut));
  return { batch, buffer, recordsIn, recordsOut, failures };
}
