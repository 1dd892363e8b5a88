/**
 * The produce pipeline's "check producer sequence" stage: an idempotent producer's batch is
 * next in its sequence (append), a retry of one already appended (duplicate: answered with the
 * original offsets once those are as safe as the acks ask), or refused. A transaction marker
 * carries no sequence: it fences the producer's older epochs instead.
 *
 * @module
 */

import type { BatchHeader } from "../../protocol/record/record_batch.ts";
import { offsetsOf, type ProduceResult } from "./produce_result.ts";
import type { BatchSequence } from "./producer_state.ts";
import type { HostedPartition } from "../hosted_partition.ts";
import type { LeaderReplication } from "../replication/leader_replication.ts";
import type { ReplicaAckLevel } from "../replication/replica_tracker.ts";
import { KafkaProtocolError } from "../broker_errors.ts";
import { markerCoordinatorEpoch } from "../txn/txn_marker.ts";

/** What the sequence stage decided for a batch. */
export type SequenceVerdict =
  | { readonly kind: "append"; readonly seq: BatchSequence }
  | { readonly kind: "duplicate"; readonly seq: BatchSequence; readonly baseOffset: number };

/** The sequence fields of a batch header. */
export function batchSequence(header: BatchHeader): BatchSequence {
  return {
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    baseSequence: header.baseSequence,
    lastOffsetDelta: header.lastOffsetDelta,
  };
}

/**
 * Checks the batch against the partition's producer state. Records nothing: the assign stage
 * records the sequence once offsets are assigned.
 *
 * @throws {KafkaProtocolError} OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH,
 *   TRANSACTION_COORDINATOR_FENCED (a marker from a coordinator that lost its tenure)
 */
export function checkSequence(
  p: HostedPartition,
  header: BatchHeader,
  batch?: Uint8Array,
): SequenceVerdict {
  const seq = batchSequence(header);
  const coordinatorEpoch = batch === undefined ? -1 : markerCoordinatorEpoch(batch);
  const check = header.isControl
    ? p.producers.fence(seq.producerId, seq.producerEpoch, coordinatorEpoch)
    : p.producers.check(seq);
  if (check.kind === "error") throw new KafkaProtocolError(check.code, check.message);
  if (check.kind === "duplicate") return { kind: "duplicate", seq, baseOffset: check.baseOffset };
  return { kind: "append", seq };
}

/**
 * The answer to a retry: given only once the original is as safe as these acks ask.
 *
 * @throws {KafkaProtocolError} what the ack wait fails with (REQUEST_TIMED_OUT, ...)
 */
export async function answerDuplicate(
  p: HostedPartition,
  leader: LeaderReplication,
  verdict: { readonly seq: BatchSequence; readonly baseOffset: number },
  ack: { readonly acks: number; readonly level: ReplicaAckLevel },
): Promise<ProduceResult> {
  await p.durable;
  const { seq, baseOffset } = verdict;
  // A chain may have stored fewer records than the producer sent: never wait past the log.
  const end = Math.min(baseOffset + seq.lastOffsetDelta + 1, p.log.logEndOffset);
  if (ack.acks !== 0 && ack.acks !== 1) await leader.awaitAck(end, ack.level);
  return {
    ...offsetsOf(baseOffset, seq.lastOffsetDelta),
    logStartOffset: p.log.logStartOffset,
    duplicate: true,
  };
}

/**
 * The answer to a batch the transform stage dropped entirely: nothing is appended, but its
 * sequence range is recorded, so the producer's next batch is in order and a retry of this one
 * is a duplicate.
 *
 * @throws {KafkaProtocolError} OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH
 */
export async function answerDropped(
  p: HostedPartition,
  header: BatchHeader,
): Promise<ProduceResult> {
  const seq = batchSequence(header);
  const check = p.producers.check(seq);
  if (check.kind === "error") throw new KafkaProtocolError(check.code, check.message);
  const at = check.kind === "duplicate" ? check.baseOffset : p.log.logEndOffset;
  if (check.kind === "append") p.producers.record(seq, at);
  // Answered after the appends before it, as a stored batch would be.
  await p.durable;
  return {
    ...offsetsOf(at, -1),
    logStartOffset: p.log.logStartOffset,
    duplicate: check.kind === "duplicate",
  };
}
