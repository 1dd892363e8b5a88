/**
 * The produce path's ETL stage: one record batch in, the batch its topic's module chain makes
 * of it out, before offsets are assigned, so a scrubber's input is never stored. The batch is
 * decoded, run through the chain in the ETL pool, and re-encoded with the input's compression,
 * producer id, epoch and base sequence, and a fresh CRC.
 *
 * Not yet called by the produce path: the produce pipeline places it between validation and
 * the producer-sequence check. That caller must check sequences against `recordsIn` (what the
 * producer sent), not the output's count, so a retried batch whose count the chain changed is
 * still recognised as a duplicate; and with `batch: null` (every record dropped) it still
 * records the sequence range without appending.
 *
 * @module
 */

import {
  batchCompression,
  buildBatch,
  decodeRecords,
  type RecordInput,
} from "../../protocol/record/record_batch.ts";
import { EtlExecutionError } from "../../etl/etl_error.ts";
import type { EtlModule, EtlPool } from "../../etl/worker_pool.ts";

/** Failure policy of a topic (`rustmq.etl.on.failure`); only `reject` is implemented. */
export type EtlFailurePolicy = "reject";

/** Options of {@linkcode transformBatch}. */
export interface TransformStageOptions {
  /** The pool that runs modules under the `[etl]` limits. */
  readonly pool: EtlPool;
  /** What a failing record does. @default "reject" */
  readonly onFailure?: EtlFailurePolicy;
}

/** What {@linkcode transformBatch} made of a batch. */
export interface TransformStageResult {
  /** The batch to append, or null when the chain dropped every record. */
  readonly batch: Uint8Array | null;
  /** Records the producer sent: sequence checks use this count. */
  readonly recordsIn: number;
  /** Records in `batch`. */
  readonly recordsOut: number;
}

/**
 * Runs one v2 record batch through `chain`. An empty chain and control batches (transaction
 * markers) pass through untouched. With the `reject` policy, the first failing record fails
 * the whole batch with an {@linkcode EtlExecutionError} naming the module and the reason
 * (trap, timeout, memory, non-zero return); the produce answers it as INVALID_RECORD.
 */
export async function transformBatch(
  batch: Uint8Array,
  chain: readonly EtlModule[],
  options: TransformStageOptions,
): Promise<TransformStageResult> {
  const { header, records } = await decodeRecords(batch);
  if (chain.length === 0 || header.isControl) {
    return { batch, recordsIn: header.recordCount, recordsOut: header.recordCount };
  }
  const inputs: (RecordInput & { key: Uint8Array | null })[] = records.map((r) => ({
    key: r.key,
    value: r.value,
    headers: r.headers,
    timestamp: r.timestamp,
  }));
  const outcomes = await options.pool.run([...chain], inputs);
  const out: RecordInput[] = [];
  for (const o of outcomes) {
    if ("failure" in o) {
      // `reject`: the produce fails as a whole, so nothing of the batch is stored.
      throw new EtlExecutionError(o.failure.kind, o.failure.module, o.failure.message);
    }
    for (const r of o.records) out.push(r);
  }
  if (out.length === 0) return { batch: null, recordsIn: records.length, recordsOut: 0 };
  const rebuilt = await buildBatch(out, {
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    baseSequence: header.baseSequence,
    compression: batchCompression(header),
    transactional: header.isTransactional,
    partitionLeaderEpoch: header.partitionLeaderEpoch,
  });
  return { batch: rebuilt, recordsIn: records.length, recordsOut: out.length };
}
