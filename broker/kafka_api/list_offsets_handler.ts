/**
 * ListOffsets (API key 2): the earliest offset (-2), the latest (-1: the high watermark, which
 * is what a read-uncommitted consumer can reach), the offset of the largest timestamp (-3), or
 * the first offset whose timestamp is at or after a given time.
 *
 * Version 0 (Burrow, kafka-python 1.x) asks for an array of up to `maxNumOffsets` offsets: Kafka
 * listed the log end and then segment base offsets. RustMQ has no segments, so the array holds
 * the one offset v1 would answer: the high watermark for -1, the log start for -2, and for a
 * time the first offset at or after it (Kafka 0.10 gave the start of the last segment older
 * than it, a coarser answer for the same question).
 *
 * @module
 */

import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  createListOffsetsResponse,
  decodeListOffsetsRequest,
  encodeListOffsetsResponse,
  type ListOffsetsRequest,
  type ListOffsetsResponse,
  type ListOffsetsResponsePartitionResponse,
} from "../../protocol/kafka/messages/mod.ts";
import { readBatchHeader } from "../../protocol/record/record_batch.ts";
import { kafkaErrorCode, KafkaProtocolError } from "../broker_errors.ts";
import type { HostedPartition } from "../partition_manager.ts";
import type { ApiRoute } from "./request_router.ts";
import type { BrokerContext, RequestContext } from "./broker_context.ts";

const LATEST = -1n;
const EARLIEST = -2n;
const MAX_TIMESTAMP = -3n;

async function _lookup(
  broker: BrokerContext,
  p: HostedPartition,
  timestamp: bigint,
): Promise<{ offset: number; timestamp: number }> {
  const log = p.log;
  if (timestamp === LATEST) return { offset: log.highWatermark, timestamp: -1 };
  if (timestamp === EARLIEST) return { offset: log.logStartOffset, timestamp: -1 };
  if (timestamp === MAX_TIMESTAMP) return _maxTimestamp(broker, p);
  if (timestamp < 0n) {
    throw new KafkaProtocolError(
      "INVALID_REQUEST",
      `Cannot list offsets for timestamp ${timestamp}`,
    );
  }
  // Kafka answers -1/-1 when no record is that new.
  return (await broker.partitions.offsetForTimestamp(p, Number(timestamp))) ??
    { offset: -1, timestamp: -1 };
}

/** The batch holding the largest timestamp, by its last offset (batch granularity). */
function _maxTimestamp(
  broker: BrokerContext,
  p: HostedPartition,
): { offset: number; timestamp: number } {
  let best = { offset: -1, timestamp: -1 };
  for (const b of broker.partitions.cachedBatches(p)) {
    const h = readBatchHeader(b);
    if (h.baseOffset >= p.log.highWatermark) break;
    if (h.maxTimestamp > best.timestamp) best = { offset: h.lastOffset, timestamp: h.maxTimestamp };
  }
  for (const r of broker.partitions.storedRanges(p)) {
    if (r.maxTimestamp > best.timestamp) best = { offset: r.lastOffset, timestamp: r.maxTimestamp };
  }
  return best;
}

async function _handle(req: ListOffsetsRequest, ctx: RequestContext): Promise<ListOffsetsResponse> {
  const broker = ctx.broker;
  const res = createListOffsetsResponse();
  for (const t of req.topics) {
    const partitions: ListOffsetsResponsePartitionResponse[] = [];
    for (const part of t.partitions) {
      const out: ListOffsetsResponsePartitionResponse = {
        partitionIndex: part.partitionIndex,
        errorCode: ErrorCode.NONE,
        oldStyleOffsets: [],
        timestamp: -1n,
        offset: -1n,
        leaderEpoch: -1,
      };
      const p = broker.partitions.get(t.name, part.partitionIndex);
      if (p === undefined) {
        out.errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      } else {
        try {
          const r = await _lookup(broker, p, part.timestamp);
          if (ctx.header.apiVersion === 0) {
            // v0 answers an array of at most maxNumOffsets offsets (see the module comment).
            const found = r.offset >= 0 && part.maxNumOffsets > 0;
            out.oldStyleOffsets = found ? [BigInt(r.offset)] : [];
            partitions.push(out);
            continue;
          }
          out.offset = BigInt(r.offset);
          out.timestamp = BigInt(r.timestamp);
          // read_committed (isolation level 1): the latest offset is the last stable offset,
          // and a timestamp lookup may not answer an offset at or above it (as Kafka does).
          if (req.isolationLevel === 1 && broker.txns && part.timestamp !== EARLIEST) {
            // After a restart or a leader change the LSO is known only once the partition's
            // log has been read to the high watermark; until then the answer would be an
            // offset below the true end. Wait for it briefly, then answer Kafka's retriable
            // OFFSET_NOT_AVAILABLE (KIP-207's answer for a leader that is not caught up yet).
            const hw = p.log.highWatermark;
            if (!await broker.txns.settle(t.name, p.partition, hw, LSO_SETTLE_MS)) {
              throw new KafkaProtocolError(
                "OFFSET_NOT_AVAILABLE",
                `The last stable offset of ${t.name}-${p.partition} is not known yet: its transaction index is still reading the log up to ${hw}`,
                { retriable: true },
              );
            }
            const lso = broker.txns.lastStableOffset(t.name, p.partition, p.log.highWatermark);
            if (part.timestamp === LATEST) out.offset = BigInt(lso);
            else if (r.offset >= lso) [out.offset, out.timestamp] = [-1n, -1n];
          }
          // The field exists from v4; older versions must leave it at its default.
          if (ctx.header.apiVersion >= 4) out.leaderEpoch = p.log.leaderEpoch;
        } catch (err) {
          out.errorCode = kafkaErrorCode(err);
        }
      }
      partitions.push(out);
    }
    res.topics.push({ name: t.name, partitions });
  }
  return res;
}

/** How long a read_committed lookup waits for a partition's LSO to be known. */
const LSO_SETTLE_MS = 5_000;

/** The ListOffsets route. */
export const listOffsetsRoute: ApiRoute<ListOffsetsRequest, ListOffsetsResponse> = {
  apiKey: ApiKey.ListOffsets,
  name: "ListOffsets",
  minVersion: 0,
  maxVersion: 7,
  advertised: true,
  decode: decodeListOffsetsRequest,
  encode: encodeListOffsetsResponse,
  handle: _handle,
};
