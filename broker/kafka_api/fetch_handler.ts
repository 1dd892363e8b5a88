/**
 * Fetch (API key 1): whole record batches below the high watermark, served from the log cache.
 * A fetch that finds fewer than `minBytes` parks until one of its partitions gains data or
 * `maxWaitMs` passes, then reads once more. `maxBytes` bounds the response and
 * `partitionMaxBytes` each partition, except that the first batch is always returned whole, as
 * Kafka does, so a batch larger than the limits cannot stall a consumer.
 *
 * With `isolation_level=1` (read_committed) a consumer reads below the last stable offset (the
 * first offset of the oldest open transaction) and gets the aborted transactions in its range,
 * so the client drops their records; the transaction service keeps both.
 *
 * Fetch sessions (KIP-227) are not kept: every response has session id 0, which clients treat
 * as "send full fetch requests". Versions 4+ carry RecordBatch v2; 0-3 get message sets
 * down-converted from it (fetch_down_conversion.ts). Versions 13+ name topics by
 * id only (KIP-516): the ids are resolved against the metadata first, and an id it does not
 * know is answered per partition with UNKNOWN_TOPIC_ID.
 *
 * @module
 */

import { recordCountOf } from "../seed_metrics.ts";
import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import { RecordSlices } from "../../protocol/kafka/wire.ts";
import {
  createFetchResponse,
  createFetchResponsePartitionData,
  decodeFetchRequest,
  encodeFetchResponse,
  type FetchRequest,
  type FetchResponse,
  type FetchResponsePartitionData,
} from "../../protocol/kafka/messages/mod.ts";
import { partitionKey } from "../log/log_cache.ts";
import { kafkaErrorCode, KafkaProtocolError } from "../broker_errors.ts";
import { CorruptObjectError } from "../tiering/stream_object.ts";
import type { ApiRoute } from "./request_router.ts";
import { downConvertFetch, FETCH_FIRST_BATCH_VERSION } from "./fetch_down_conversion.ts";
import type { BrokerContext, RequestContext } from "./broker_context.ts";
import { abortedForResponse } from "../txn/fetch_aborted.ts";

/** A partition answer with no data: the schema defaults, with Kafka's -1 high watermark. */
function _emptyPartitionData(index: number, errorCode: number): FetchResponsePartitionData {
  return {
    ...createFetchResponsePartitionData(),
    partitionIndex: index,
    errorCode,
    highWatermark: -1n,
    abortedTransactions: null,
  };
}

/**
 * Reads one partition: a consumer reads below the high watermark; a follower (replica id >= 0)
 * reads up to the log end after the epoch checks, and may be told where its log diverged.
 */
async function _read(
  broker: BrokerContext,
  req: FetchRequest,
  topic: string,
  p: FetchRequest["topics"][number]["partitions"][number],
  limit: number,
  data: FetchResponsePartitionData,
): Promise<{ batches: Uint8Array[]; sizeBytes: number } | null> {
  const offset = Number(p.fetchOffset);
  const replicaId = req.replicaId >= 0 ? req.replicaId : req.replicaState.replicaId;
  if (replicaId < 0) {
    const txns = req.isolationLevel === 1 ? broker.txns : undefined;
    const stable = txns === undefined
      ? undefined
      : (hw: number) => txns.lastStableOffset(topic, p.partition, hw);
    const read = await broker.partitions.read(topic, p.partition, offset, limit, stable);
    for (const b of read?.batches ?? []) broker.recordsConsumed?.(recordCountOf(b));
    return read;
  }
  const r = await broker.partitions.readForReplica(topic, p.partition, replicaId, {
    fetchOffset: offset,
    currentLeaderEpoch: p.currentLeaderEpoch,
    lastFetchedEpoch: p.lastFetchedEpoch,
  }, limit);
  if (r.kind === "diverging") {
    data.divergingEpoch = { epoch: r.epoch, endOffset: BigInt(r.endOffset) };
    return null;
  }
  if (r.kind === "skip") {
    // KIP-630's snapshot id: what lies below is not served to replicas (here: it is in object
    // storage, which the replica reads itself).
    data.snapshotId = { endOffset: BigInt(r.endOffset), epoch: r.epoch };
    return null;
  }
  return r;
}

/** The last stable offset, and for read_committed the aborted transactions in range. */
function _transactionFields(
  broker: BrokerContext,
  req: FetchRequest,
  topic: string,
  p: FetchRequest["topics"][number]["partitions"][number],
  highWatermark: number,
  data: FetchResponsePartitionData,
  batches: readonly Uint8Array[],
): void {
  const txns = broker.txns;
  const lso = txns?.lastStableOffset(topic, p.partition, highWatermark) ?? highWatermark;
  data.lastStableOffset = BigInt(lso);
  // Fitted to the batches returned, in firstOffset order: kafkajs needs both (fetch_aborted.ts).
  data.abortedTransactions = req.isolationLevel === 1 && txns !== undefined
    ? abortedForResponse(txns.abortedIn(topic, p.partition, Number(p.fetchOffset), lso), batches)
      .map((a) => ({ producerId: BigInt(a.producerId), firstOffset: BigInt(a.firstOffset) }))
    : [];
}

/** Reads every requested partition once; returns the response and the bytes it carries. */
async function _readOnce(
  req: FetchRequest,
  broker: BrokerContext,
): Promise<{ res: FetchResponse; bytes: number }> {
  const res = createFetchResponse();
  let budget = Math.max(0, req.maxBytes);
  let bytes = 0;
  for (const t of req.topics) {
    const partitions: FetchResponsePartitionData[] = [];
    for (const p of t.partitions) {
      const data = _emptyPartitionData(p.partition, ErrorCode.NONE);
      try {
        if (t.topic === "") {
          throw new KafkaProtocolError("UNKNOWN_TOPIC_ID", `Topic id ${t.topicId} is not known`);
        }
        // Once the response budget is spent, the remaining partitions report offsets only.
        const skip = budget <= 0 && bytes > 0;
        const limit = Math.min(p.partitionMaxBytes, Math.max(1, budget));
        const read = skip ? null : await _read(broker, req, t.topic, p, limit, data);
        const log = broker.partitions.get(t.topic, p.partition)?.log;
        if (log === undefined) {
          throw new KafkaProtocolError(
            "UNKNOWN_TOPIC_OR_PARTITION",
            `${t.topic}/${p.partition} is not hosted here`,
          );
        }
        data.highWatermark = BigInt(log.highWatermark);
        data.logStartOffset = BigInt(log.logStartOffset);
        _transactionFields(broker, req, t.topic, p, log.highWatermark, data, read?.batches ?? []);
        data.records = new Uint8Array(0);
        if (read !== null && read.batches.length > 0) {
          // The stored batches go to the socket as slices, never joined into one buffer.
          data.records = read.batches.length === 1
            ? read.batches[0]!
            : new RecordSlices(read.batches);
          bytes += read.sizeBytes;
          budget -= read.sizeBytes;
        }
      } catch (err) {
        // Damaged stored data is the operator's to repair: say which object, every time it is met.
        if (err instanceof CorruptObjectError) broker.logger.error(err.message, { topic: t.topic });
        data.errorCode = kafkaErrorCode(err);
      }
      partitions.push(data);
    }
    res.responses.push({ topic: t.topic, topicId: t.topicId, partitions });
  }
  return { res, bytes };
}

/** An error, a diverging epoch or a skip is answered at once, never parked. */
function _answerNow(res: FetchResponse): boolean {
  return res.responses.some((t) =>
    t.partitions.some((p) =>
      p.errorCode !== ErrorCode.NONE || p.divergingEpoch.epoch >= 0 || p.snapshotId.endOffset >= 0n
    )
  );
}

/**
 * Names the topics of a v13+ request, which carry only ids. An unknown id leaves the name
 * empty, which `_readOnce` answers with UNKNOWN_TOPIC_ID.
 */
function _resolveTopicIds(req: FetchRequest, broker: BrokerContext, version: number): void {
  if (version < 13) return;
  const byId = new Map(broker.metadata.topics().map((t) => [t.topicId, t.name]));
  for (const t of req.topics) t.topic = byId.get(t.topicId) ?? "";
}

async function _handle(req: FetchRequest, ctx: RequestContext): Promise<FetchResponse> {
  const broker = ctx.broker;
  _resolveTopicIds(req, broker, ctx.header.apiVersion);
  const deadline = broker.nowMs() + Math.min(Math.max(0, req.maxWaitMs), broker.fetchWaitMaxMs);
  const keys = req.topics.flatMap((t) =>
    t.partitions.map((p) => partitionKey(t.topic, p.partition))
  );
  for (;;) {
    const seen = broker.waiter.version(keys);
    const { res, bytes } = await _readOnce(req, broker);
    const waitMs = deadline - broker.nowMs();
    if (bytes >= Math.max(1, req.minBytes) || waitMs <= 0 || _answerNow(res) || broker.stopping()) {
      return res;
    }
    const woken = await broker.waiter.wait(keys, waitMs, seen);
    if (!woken) return (await _readOnce(req, broker)).res;
  }
}

/** The Fetch route. */
export const fetchRoute: ApiRoute<FetchRequest, FetchResponse> = {
  apiKey: ApiKey.Fetch,
  name: "Fetch",
  minVersion: 0,
  maxVersion: 17,
  advertised: true,
  decode: decodeFetchRequest,
  encode: encodeFetchResponse,
  // v0-3 read message sets: served as v4+ and down-converted (fetch_down_conversion.ts).
  handle: (req, ctx) =>
    ctx.header.apiVersion < FETCH_FIRST_BATCH_VERSION
      ? downConvertFetch(_handle, req, ctx)
      : _handle(req, ctx),
};
