/**
 * The produce pipeline's first partition stage, "decode and validate": is this broker the
 * partition's leader, are the acks valid and satisfiable (min.insync.replicas), is the batch
 * sound (size, CRC, record count), and is a control batch written only by the broker. Nothing is
 * reserved or appended yet, so a refusal here leaves no trace.
 *
 * @module
 */

import { type BatchHeader, validateBatch } from "../../protocol/record/record_batch.ts";
import { ackLevelFromWire, type ReplicaAckLevel } from "../replication/replica_tracker.ts";
import type { LeaderReplication } from "../replication/leader_replication.ts";
import type { HostedPartition } from "../hosted_partition.ts";
import { KafkaProtocolError } from "../broker_errors.ts";

/** What a produce asks of the pipeline besides the batch. */
export interface ProduceRequestOptions {
  /** The wire `acks`: 0, 1, -1, -2 (majority) or n >= 2 replicas. */
  readonly acks: number;
  /** True for a transaction marker written by the broker's coordinator. */
  readonly marker: boolean;
  /** This broker's node id, for the NOT_LEADER_OR_FOLLOWER message. */
  readonly nodeId: number;
}

/** A batch that passed the validate stage, and the leader state it was checked against. */
export interface ValidatedProduce {
  /** The leader's replication state the batch was admitted under. */
  readonly leader: LeaderReplication;
  /** The acknowledgement level `acks` asks for. */
  readonly level: ReplicaAckLevel;
  /** The checked header of the batch. */
  readonly header: BatchHeader;
}

/**
 * Checks a produce to `p` before anything is reserved or appended.
 *
 * @throws {KafkaProtocolError} NOT_LEADER_OR_FOLLOWER, INVALID_REQUIRED_ACKS,
 *   NOT_ENOUGH_REPLICAS, INVALID_RECORD (a client's control batch, or a marker that is not one)
 * @throws {CorruptRecordError | RecordTooLargeError} for a bad batch
 */
export function validateProduce(
  p: HostedPartition,
  records: Uint8Array,
  options: ProduceRequestOptions,
): ValidatedProduce {
  const leader = p.leader;
  if (p.role !== "leader" || leader === null) {
    throw new KafkaProtocolError(
      "NOT_LEADER_OR_FOLLOWER",
      `Cannot append to ${p.key} as broker ${options.nodeId} does not lead it: the leader is ${p.leaderId}`,
      { retriable: true },
    );
  }
  const level = ackLevelFromWire(options.acks);
  if (level === null) {
    throw new KafkaProtocolError(
      "INVALID_REQUIRED_ACKS",
      `Cannot append with acks=${options.acks}`,
    );
  }
  // min.insync.replicas is checked before anything is appended (NOT_ENOUGH_REPLICAS).
  if (options.acks !== 0) leader.checkProduce(level);
  const header = validateBatch(records, { maxBytes: p.config["max.message.bytes"] });
  // Only the transaction coordinator writes control batches (markers); a client's is refused.
  if (header.isControl !== options.marker) {
    throw new KafkaProtocolError(
      "INVALID_RECORD",
      `Cannot append to ${p.key} as ${
        header.isControl
          ? "control batches are written by the broker only"
          : "a marker must be a control batch"
      }`,
    );
  }
  return { leader, level, header };
}
