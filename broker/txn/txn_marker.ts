/**
 * Transaction markers (control batches), as the coordinator asks for them and a partition
 * leader writes them: the shared building blocks of WriteTxnMarkers (API 27).
 *
 * @module
 */

import { buildBatch, readBatchHeader } from "../../protocol/record/record_batch.ts";
import { readVarint, readVarlong } from "../../protocol/record/varint.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import { kafkaErrorCode } from "../broker_errors.ts";

/**
 * What writing a marker needs of the partition manager: its produce, taken structurally so this
 * file does not import `partition_manager.ts`, which imports the produce stages that import it.
 */
export interface MarkerWriter {
  produce(
    topic: string,
    partition: number,
    records: Uint8Array,
    acks: number,
    options: { readonly marker?: boolean },
  ): Promise<unknown>;
}

/** One transaction's outcome, to be written to some partitions. */
export interface TxnMarker {
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly commit: boolean;
  /** The coordinator's `__transaction_state` leader epoch (carried in the marker's value). */
  readonly coordinatorEpoch: number;
}

const _CONTROL_ABORT = 0;
const _CONTROL_COMMIT = 1;

/**
 * A transaction marker: one control record whose key is `version:int16(0) type:int16` (0 abort,
 * 1 commit) and whose value is `version:int16(0) coordinator_epoch:int32`, in a transactional
 * control batch with the producer's id and epoch.
 *
 * @example
 * ```ts
 * import { markerBatch } from "./txn_marker.ts";
 * import { readBatchHeader } from "../../protocol/record/record_batch.ts";
 * import assert from "node:assert/strict";
 * const b = await markerBatch({ producerId: 7, producerEpoch: 1, commit: true, coordinatorEpoch: 0 }, 0);
 * assert.equal(readBatchHeader(b).isControl, true);
 * ```
 */
export async function markerBatch(m: TxnMarker, nowMs: number): Promise<Uint8Array> {
  const key = new Uint8Array(4);
  new DataView(key.buffer).setInt16(2, m.commit ? _CONTROL_COMMIT : _CONTROL_ABORT);
  const value = new Uint8Array(6);
  new DataView(value.buffer).setInt32(2, m.coordinatorEpoch);
  return await buildBatch([{ key, value, timestamp: nowMs }], {
    producerId: m.producerId,
    producerEpoch: m.producerEpoch,
    transactional: true,
    control: true,
  });
}

/** Where a batch's first record starts: after the 61-byte v2 batch header. */
const _RECORDS_AT = 61;

/**
 * The coordinator epoch a marker carries (its record's value), read in place; -1 when the
 * batch is no readable marker (compressed, or too short). Markers are never compressed: the
 * coordinator builds them so, and a client's control batch is refused.
 *
 * @example
 * ```ts
 * import { markerBatch, markerCoordinatorEpoch } from "./txn_marker.ts";
 * import assert from "node:assert/strict";
 * const b = await markerBatch({ producerId: 7, producerEpoch: 1, commit: true, coordinatorEpoch: 5 }, 0);
 * assert.equal(markerCoordinatorEpoch(b), 5);
 * ```
 */
export function markerCoordinatorEpoch(batch: Uint8Array): number {
  try {
    const h = readBatchHeader(batch);
    if (!h.isControl || h.compressionId !== 0 || h.recordCount < 1) return -1;
    const at = { offset: _RECORDS_AT };
    readVarint(batch, at); // record length
    at.offset += 1; // attributes
    readVarlong(batch, at); // timestamp delta
    readVarint(batch, at); // offset delta
    const keyLength = readVarint(batch, at);
    at.offset += Math.max(0, keyLength);
    const valueLength = readVarint(batch, at);
    if (valueLength < 6 || at.offset + 6 > batch.length) return -1;
    return new DataView(batch.buffer, batch.byteOffset + at.offset + 2, 4).getInt32(0);
  } catch {
    return -1;
  }
}

/**
 * Writes the marker to a partition this broker leads, with acks=all, and answers its error
 * code: NONE once the marker is replicated, NOT_LEADER_OR_FOLLOWER when another broker leads.
 */
export async function writeMarkerHere(
  partitions: MarkerWriter,
  topic: string,
  partition: number,
  m: TxnMarker,
  nowMs: number,
): Promise<number> {
  try {
    await partitions.produce(topic, partition, await markerBatch(m, nowMs), -1, { marker: true });
    return ErrorCode.NONE;
  } catch (err) {
    return kafkaErrorCode(err);
  }
}
