/**
 * The produce path's ETL stage: one record batch in, the batch its topic's module chain makes
 * of it out, before offsets are assigned, so a scrubber's input is never stored. The batch is
 * decoded, run through the chain in the ETL pool, and re-encoded with the input's compression,
 * producer id and epoch, and a fresh CRC. A batch of at most `etl.batch_size` records goes to
 * one Worker whole, which does all three, so this thread only copies it; a larger one is
 * decoded here and sent in slices.
 *
 * Sequence numbers: the caller checks and records the producer's sequence against the batch
 * the producer sent (`recordsIn`), so a retry is a duplicate however many records the chain
 * made. The stored batch's base sequence is chosen so that it ends on the producer's last
 * sequence (`baseSequence + recordsOut - 1` = the input's last), because followers and a
 * restarted broker rebuild producer state from stored headers: they then expect the producer's
 * next sequence, not a gap or an overlap.
 *
 * @module
 */

import {
  decodeRecords,
  readBatchHeader,
  type RecordInput,
} from "../../protocol/record/record_batch.ts";
import { rebasedSequence, rebuildBatch } from "../../etl/batch_transform.ts";
import { EtlExecutionError, type EtlFailureKind } from "../../etl/etl_error.ts";
import type { EtlModule, EtlPool } from "../../etl/worker_pool.ts";
import type { EtlFailurePolicy } from "../../model/etl_topic_config.ts";
import type { TopicConfig } from "../../model/topic_config.ts";

export type { EtlFailurePolicy };

/**
 * The transform step as the partition manager calls it, on the leader, before the producer's
 * sequence is checked and offsets are assigned: null when the topic has no chain, otherwise
 * the batch to store (null when nothing remains) and the records the producer sent.
 */
export type ProduceTransform = (
  topic: string,
  partition: number,
  config: Readonly<TopicConfig>,
  batch: Uint8Array,
) => Promise<{ readonly batch: Uint8Array | null; readonly recordsIn: number }> | null;

/** Options of {@linkcode transformBatch}. */
export interface TransformStageOptions {
  /** The pool that runs modules under the `[etl]` limits. */
  readonly pool: EtlPool;
  /** What a failing record does. @default "reject" */
  readonly onFailure?: EtlFailurePolicy;
}

/** An input record a module failed on, kept for `dead-letter`. */
export interface FailedRecord {
  readonly record: RecordInput;
  readonly kind: EtlFailureKind;
  readonly module: string;
  readonly message: string;
}

/** What {@linkcode transformBatch} made of a batch. */
export interface TransformStageResult {
  /** The batch to append, or null when nothing of it remains to store. */
  readonly batch: Uint8Array | null;
  /** Records the producer sent: sequence checks use this count. */
  readonly recordsIn: number;
  /** Records in `batch`. */
  readonly recordsOut: number;
  /** Input records that failed (skipped or to dead-letter); empty under `reject`. */
  readonly failed: readonly FailedRecord[];
}

export { rebasedSequence };

/**
 * Runs one v2 record batch through `chain`. An empty chain and control batches (transaction
 * markers) pass through untouched. A failing record (or a whole batch that timed out or ran out
 * of memory) fails the produce with an {@linkcode EtlExecutionError} naming the module and the
 * reason under `reject`; under `skip` and `dead-letter` it is dropped and listed in `failed`.
 */
export async function transformBatch(
  batch: Uint8Array,
  chain: readonly EtlModule[],
  options: TransformStageOptions,
): Promise<TransformStageResult> {
  const header = readBatchHeader(batch);
  const count = header.recordCount;
  if (chain.length === 0 || header.isControl) {
    return { batch, recordsIn: count, recordsOut: count, failed: [] };
  }
  const policy = options.onFailure ?? "reject";
  if (count <= options.pool.batchSize) return await _inWorker(batch, chain, options.pool, policy);
  // Larger than one Worker call: decoded here, run in slices of batch_size, re-encoded here.
  const { header: h, records } = await decodeRecords(batch);
  const inputs: (RecordInput & { key: Uint8Array | null })[] = records.map((r) => ({
    key: r.key,
    value: r.value,
    headers: r.headers,
    timestamp: r.timestamp,
  }));
  const { out, failed } = await _runChain(options.pool, chain, inputs, policy);
  if (out.length === 0) return { batch: null, recordsIn: count, recordsOut: 0, failed };
  return { batch: await rebuildBatch(h, out), recordsIn: count, recordsOut: out.length, failed };
}

/** The whole batch in one Worker call: one copy each way on this thread. */
async function _inWorker(
  batch: Uint8Array,
  chain: readonly EtlModule[],
  pool: EtlPool,
  policy: EtlFailurePolicy,
): Promise<TransformStageResult> {
  let r;
  try {
    r = await pool.runRecordBatch([...chain], batch, { buildOnFailure: policy !== "reject" });
  } catch (err) {
    if (policy === "reject" || !(err instanceof EtlExecutionError)) throw err;
    // A batch-level failure (timeout, memory) fails every record of the batch.
    const { records } = await decodeRecords(batch);
    const failed = records.map((record) => ({
      record,
      kind: err.kind,
      module: err.module,
      message: err.message,
    }));
    return { batch: null, recordsIn: records.length, recordsOut: 0, failed };
  }
  const indexes = Object.keys(r.failures).map(Number);
  if (indexes.length === 0) {
    return { batch: r.batch, recordsIn: r.recordsIn, recordsOut: r.recordsOut, failed: [] };
  }
  const first = r.failures[indexes[0]!]!;
  // `reject`: the produce fails as a whole, so nothing of the batch is stored.
  if (policy === "reject") throw new EtlExecutionError(first.kind, first.module, first.message);
  // Failures are rare: only then is the input decoded here, for the records to dead-letter.
  const { records } = await decodeRecords(batch);
  const failed = indexes.map((i) => ({ record: records[i]!, ...r.failures[i]! }));
  return { batch: r.batch, recordsIn: r.recordsIn, recordsOut: r.recordsOut, failed };
}

async function _runChain(
  pool: EtlPool,
  chain: readonly EtlModule[],
  inputs: (RecordInput & { key: Uint8Array | null })[],
  policy: EtlFailurePolicy,
): Promise<{ out: RecordInput[]; failed: FailedRecord[] }> {
  let outcomes;
  try {
    outcomes = await pool.run([...chain], inputs);
  } catch (err) {
    // A batch-level failure (timeout, memory) fails every record of the batch.
    if (policy === "reject" || !(err instanceof EtlExecutionError)) throw err;
    const failed = inputs.map((record) => ({
      record,
      kind: err.kind,
      module: err.module,
      message: err.message,
    }));
    return { out: [], failed };
  }
  const out: RecordInput[] = [];
  const failed: FailedRecord[] = [];
  outcomes.forEach((o, i) => {
    if ("records" in o) {
      for (const r of o.records) out.push(r);
      return;
    }
    // `reject`: the produce fails as a whole, so nothing of the batch is stored.
    if (policy === "reject") {
      throw new EtlExecutionError(o.failure.kind, o.failure.module, o.failure.message);
    }
    failed.push({ record: inputs[i]!, ...o.failure });
  });
  return { out, failed };
}
