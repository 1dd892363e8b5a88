/**
 * The produce pipeline: one RecordBatch through its named stages, each in its own file here.
 *
 * | stage | where |
 * |---|---|
 * | decode | the request router decodes Produce; `kafka_api/produce_handler.ts` splits batches and converts v0-v2 message sets |
 * | authorize | the router's authorization middleware (`security/kafka_authorization.ts`), before the handler: a topic without Write is answered TOPIC_AUTHORIZATION_FAILED and never reaches a stage |
 * | topic policy | `topic_policy_stage.ts`, from the handler: timestamp bounds, `compression.type` |
 * | validate | `validate_stage.ts`: leadership, acks, min.insync.replicas, CRC, markers |
 * | transform | `leader_transform_stage.ts` (the ETL chain of `transform_stage.ts`) |
 * | WAL admission | `wal_append_stage.ts` `AppendGate`: bounded wait for WAL space |
 * | cache reserve | `cache_stage.ts` |
 * | producer sequence | `sequence_stage.ts` |
 * | assign offsets | `assign_stage.ts` |
 * | cache, append to the WAL | `cache_stage.ts`, `wal_append_stage.ts`, in the same synchronous step as the assignment |
 * | replicate and acknowledge | `acknowledge_stage.ts` |
 *
 * Authorization stays in the router because it answers per topic before any partition work
 * starts, for every API alike; a second check here would only repeat it.
 *
 * @module
 */

import type { ProduceTransform } from "./transform_stage.ts";
import type { HostedPartition } from "../hosted_partition.ts";
import type { FetchWaiter } from "../fetch/fetch_waiter.ts";
import type { Wal } from "../wal/wal.ts";
import type { AppendRollbacks } from "../append_rollback.ts";
import { validateProduce } from "./validate_stage.ts";
import { transformForAppend } from "./leader_transform_stage.ts";
import { type AppendGate, awaitWalDurable, submitToWal } from "./wal_append_stage.ts";
import { cacheBatch, type ProduceCache, reserveCache } from "./cache_stage.ts";
import {
  answerDropped,
  answerDuplicate,
  checkSequence,
  type SequenceVerdict,
} from "./sequence_stage.ts";
import type { ProduceResult } from "./produce_result.ts";
import { assignOffsets } from "./assign_stage.ts";
import { acknowledge } from "./acknowledge_stage.ts";

export type { ProduceResult };

/** What the pipeline runs on. */
export interface ProducePipelineOptions {
  readonly nodeId: number;
  readonly wal: Pick<Wal, "append">;
  readonly cache: ProduceCache;
  readonly waiter: Pick<FetchWaiter, "notify">;
  readonly gate: AppendGate;
  readonly rollbacks: AppendRollbacks;
  /** The ETL step; undefined when the broker runs none. */
  readonly transform?: ProduceTransform;
  /** Whether `p` is still the hosted partition (it is replaced when re-hosted). */
  readonly stillHosted: (p: HostedPartition) => boolean;
}

/** Runs produces through the stages on a partition this broker leads. */
export class ProducePipeline {
  readonly #o: ProducePipelineOptions;

  constructor(options: ProducePipelineOptions) {
    this.#o = options;
  }

  /**
   * Appends one RecordBatch to `p`; resolves once it is as safe as `acks` asks. With `owned`,
   * `records` is handed over (nothing else reads or writes it afterwards), so it may be kept
   * instead of copied (leader_transform_stage.ts).
   *
   * @throws {KafkaProtocolError} NOT_LEADER_OR_FOLLOWER, KAFKA_STORAGE_ERROR,
   *   OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH, NOT_ENOUGH_REPLICAS, ...
   * @throws {CorruptRecordError | RecordTooLargeError} for a bad batch
   */
  async produce(
    p: HostedPartition,
    records: Uint8Array,
    acks: number,
    marker: boolean,
    owned = false,
  ): Promise<ProduceResult> {
    const o = this.#o;
    const { leader, level, header } = validateProduce(p, records, {
      acks,
      marker,
      nodeId: o.nodeId,
    });
    const batch = await transformForAppend(p, leader, records, {
      transform: o.transform,
      marker,
      stillHosted: o.stillHosted,
      owned,
    });
    if (batch === null) return await answerDropped(p, header);
    await o.gate.awaitSpace();
    const verdict = await reserveCache(o.cache, batch, (): SequenceVerdict => {
      o.gate.checkWritable();
      o.rollbacks.checkAppendable(p);
      return checkSequence(p, header, batch);
    });
    if (verdict.kind === "duplicate") {
      o.cache.cancelReservation(batch.length);
      return await answerDuplicate(p, leader, verdict, { acks, level });
    }
    // Assignment, caching and WAL submission are one synchronous step: see assign_stage.ts.
    const assigned = assignOffsets(p, batch, header, verdict.seq, o.rollbacks);
    cacheBatch(o.cache, p, batch);
    const appended = submitToWal(o.wal, p, assigned.baseOffset, batch);
    await awaitWalDurable(appended, p, assigned.baseOffset, o);
    await acknowledge(p, leader, assigned.lastOffset + 1, { waiter: o.waiter, acks, level });
    return { ...assigned, logStartOffset: p.log.logStartOffset, duplicate: false };
  }
}
