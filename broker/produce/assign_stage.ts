/**
 * The produce pipeline's "assign offsets" stage: the partition log sets the batch's base offset
 * (and LogAppendTime, when the topic asks) in place, the append is counted as in flight for the
 * rollbacks, and the producer's sequence is recorded at the assigned offset. The WAL submission
 * must follow in the same synchronous step, so the WAL sees each partition's batches in offset
 * order.
 *
 * @module
 */

import type { BatchHeader } from "../../protocol/record/record_batch.ts";
import type { AssignedOffsets } from "../log/partition_log.ts";
import type { BatchSequence } from "./producer_state.ts";
import type { HostedPartition } from "../hosted_partition.ts";
import type { AppendRollbacks } from "../append_rollback.ts";

/** Assigns offsets to `batch` (in place) and records its producer sequence. */
export function assignOffsets(
  p: HostedPartition,
  batch: Uint8Array,
  header: BatchHeader,
  seq: BatchSequence,
  rollbacks: Pick<AppendRollbacks, "issued">,
): AssignedOffsets {
  const assigned = p.log.assign(batch);
  rollbacks.issued(p);
  // A marker moved the producer's epoch in the sequence stage already; it has no sequence.
  if (!header.isControl) p.producers.record(seq, assigned.baseOffset);
  return assigned;
}
