/**
 * Routes of the transaction APIs (KIP-98): AddPartitionsToTxn (24), AddOffsetsToTxn (25),
 * EndTxn (26), TxnOffsetCommit (28), and the operator views DescribeTransactions (65) and
 * ListTransactions (66). InitProducerId with a transactional id and FindCoordinator key type 1
 * reach the same {@linkcode TxnService} from their own handlers.
 *
 * Versions: the ones producers send. AddPartitionsToTxn v4+, AddOffsetsToTxn v4, EndTxn v5 and
 * TxnOffsetCommit v4 belong to KIP-890 (broker-side verification and per-transaction epoch
 * bumps), which is not implemented, so they are not advertised.
 *
 * @module
 */

import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  type AddOffsetsToTxnRequest,
  type AddOffsetsToTxnResponse,
  type AddPartitionsToTxnRequest,
  type AddPartitionsToTxnResponse,
  createAddOffsetsToTxnResponse,
  createAddPartitionsToTxnResponse,
  createDescribeTransactionsResponse,
  createEndTxnResponse,
  createListTransactionsResponse,
  createTxnOffsetCommitResponse,
  decodeAddOffsetsToTxnRequest,
  decodeAddPartitionsToTxnRequest,
  decodeDescribeTransactionsRequest,
  decodeEndTxnRequest,
  decodeListTransactionsRequest,
  decodeTxnOffsetCommitRequest,
  type DescribeTransactionsRequest,
  type DescribeTransactionsResponse,
  encodeAddOffsetsToTxnResponse,
  encodeAddPartitionsToTxnResponse,
  encodeDescribeTransactionsResponse,
  encodeEndTxnResponse,
  encodeListTransactionsResponse,
  encodeTxnOffsetCommitResponse,
  type EndTxnRequest,
  type EndTxnResponse,
  type ListTransactionsRequest,
  type ListTransactionsResponse,
  type TxnOffsetCommitRequest,
  type TxnOffsetCommitResponse,
} from "../../protocol/kafka/messages/mod.ts";
import type { ApiRoute } from "./request_router.ts";
import type { RequestContext } from "./broker_context.ts";
import type { TxnService } from "../txn/txn_service.ts";
import { groupServiceFor } from "./group_handlers.ts";
import type { TxnMetadata } from "../txn/txn_coordinator.ts";

/**
 * The broker's transaction service when it coordinates `transactionalId`, else the error:
 * COORDINATOR_NOT_AVAILABLE without one (transactions off), NOT_COORDINATOR for another
 * broker's id, COORDINATOR_LOAD_IN_PROGRESS while this broker reads the id's state back. All
 * are retriable in Kafka; the client looks the coordinator up again or waits.
 */
export function txnServiceFor(ctx: RequestContext, transactionalId: string): TxnService | number {
  const svc = ctx.broker.txns;
  if (svc === undefined) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
  const code = svc.coordinatorError(transactionalId);
  return code === ErrorCode.NONE ? svc : code;
}

function _producer(transactionalId: string, producerId: bigint, producerEpoch: number) {
  return { transactionalId, producerId: Number(producerId), producerEpoch };
}

// ------------------------------------------------------------ AddPartitionsToTxn

async function _addPartitions(
  req: AddPartitionsToTxnRequest,
  ctx: RequestContext,
): Promise<AddPartitionsToTxnResponse> {
  const res = createAddPartitionsToTxnResponse();
  const topics = req.v3AndBelowTopics;
  const wanted = topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p })));
  const svc = txnServiceFor(ctx, req.v3AndBelowTransactionalId);
  const codes = typeof svc === "number" ? wanted.map(() => svc) : await svc.addPartitions(
    _producer(req.v3AndBelowTransactionalId, req.v3AndBelowProducerId, req.v3AndBelowProducerEpoch),
    wanted,
  );
  let i = 0;
  res.resultsByTopicV3AndBelow = topics.map((t) => ({
    name: t.name,
    resultsByPartition: t.partitions.map((p) => ({
      partitionIndex: p,
      partitionErrorCode: codes[i++] ?? ErrorCode.UNKNOWN_SERVER_ERROR,
    })),
  }));
  return res;
}

/** The AddPartitionsToTxn route (client versions 0-3). */
export const addPartitionsToTxnRoute: ApiRoute<
  AddPartitionsToTxnRequest,
  AddPartitionsToTxnResponse
> = {
  apiKey: ApiKey.AddPartitionsToTxn,
  name: "AddPartitionsToTxn",
  minVersion: 0,
  maxVersion: 3,
  advertised: true,
  decode: decodeAddPartitionsToTxnRequest,
  encode: encodeAddPartitionsToTxnResponse,
  handle: _addPartitions,
};

// --------------------------------------------------------------- AddOffsetsToTxn

async function _addOffsets(
  req: AddOffsetsToTxnRequest,
  ctx: RequestContext,
): Promise<AddOffsetsToTxnResponse> {
  const res = createAddOffsetsToTxnResponse();
  const svc = txnServiceFor(ctx, req.transactionalId);
  res.errorCode = typeof svc === "number" ? svc : await svc.addOffsets(
    _producer(req.transactionalId, req.producerId, req.producerEpoch),
    req.groupId,
  );
  return res;
}

/** The AddOffsetsToTxn route. */
export const addOffsetsToTxnRoute: ApiRoute<AddOffsetsToTxnRequest, AddOffsetsToTxnResponse> = {
  apiKey: ApiKey.AddOffsetsToTxn,
  name: "AddOffsetsToTxn",
  minVersion: 0,
  maxVersion: 3,
  advertised: true,
  decode: decodeAddOffsetsToTxnRequest,
  encode: encodeAddOffsetsToTxnResponse,
  handle: _addOffsets,
};

// ------------------------------------------------------------------------ EndTxn

async function _endTxn(req: EndTxnRequest, ctx: RequestContext): Promise<EndTxnResponse> {
  const res = createEndTxnResponse();
  const svc = txnServiceFor(ctx, req.transactionalId);
  res.errorCode = typeof svc === "number" ? svc : await svc.endTxn(
    _producer(req.transactionalId, req.producerId, req.producerEpoch),
    req.committed,
  );
  return res;
}

/** The EndTxn route. */
export const endTxnRoute: ApiRoute<EndTxnRequest, EndTxnResponse> = {
  apiKey: ApiKey.EndTxn,
  name: "EndTxn",
  minVersion: 0,
  maxVersion: 4,
  advertised: true,
  decode: decodeEndTxnRequest,
  encode: encodeEndTxnResponse,
  handle: _endTxn,
};

// --------------------------------------------------------------- TxnOffsetCommit

async function _txnOffsetCommit(
  req: TxnOffsetCommitRequest,
  ctx: RequestContext,
): Promise<TxnOffsetCommitResponse> {
  const res = createTxnOffsetCommitResponse();
  const svc = txnServiceFor(ctx, req.transactionalId);
  const txns = ctx.broker.txns;
  if (svc === ErrorCode.NOT_COORDINATOR && txns !== undefined) {
    // Clients send TxnOffsetCommit to the group's coordinator. When that is not the
    // transaction's, it checks the member here and hands the offsets on (as Kafka's group
    // coordinator keeps them pending for the transaction's marker).
    const groups = groupServiceFor(ctx, req.groupId);
    const fenced = typeof groups === "number" ? groups : _groupMemberError(req, ctx);
    const forwarded = fenced !== ErrorCode.NONE ? fenced : await txns.forwardOffsets(req);
    if (typeof forwarded !== "number") return forwarded;
    res.topics = req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partitionIndex,
        errorCode: forwarded,
      })),
    }));
    return res;
  }
  const offsets = req.topics.flatMap((t) =>
    t.partitions.map((p) => ({
      groupId: req.groupId,
      topic: t.name,
      partition: p.partitionIndex,
      offset: Number(p.committedOffset),
      leaderEpoch: p.committedLeaderEpoch,
      metadata: p.committedMetadata,
    }))
  );
  const fenced = _groupMemberError(req, ctx);
  const code = typeof svc === "number" ? svc : fenced !== ErrorCode.NONE ? fenced : await svc
    .commitOffsets(
      _producer(req.transactionalId, req.producerId, req.producerEpoch),
      req.groupId,
      offsets,
    );
  res.topics = req.topics.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })),
  }));
  return res;
}

/**
 * KIP-447: a TxnOffsetCommit that names a group member (v3+: member id, generation, instance
 * id) is checked against the group as an OffsetCommit is, so a consumer that lost its
 * partitions in a rebalance cannot commit offsets for them through its transaction. Without
 * member fields (v0-2, kafkajs) the commit is the producer's alone, as in Kafka.
 */
function _groupMemberError(req: TxnOffsetCommitRequest, ctx: RequestContext): number {
  const managed = req.generationId >= 0 || req.memberId !== "" || req.groupInstanceId !== null;
  if (!managed) return ErrorCode.NONE;
  const groups = groupServiceFor(ctx, req.groupId);
  if (typeof groups === "number") return groups;
  return groups.coordinator.validateCommit({
    groupId: req.groupId,
    generationId: req.generationId,
    memberId: req.memberId,
    groupInstanceId: req.groupInstanceId,
  });
}

/** The TxnOffsetCommit route. */
export const txnOffsetCommitRoute: ApiRoute<TxnOffsetCommitRequest, TxnOffsetCommitResponse> = {
  apiKey: ApiKey.TxnOffsetCommit,
  name: "TxnOffsetCommit",
  minVersion: 0,
  maxVersion: 3,
  advertised: true,
  decode: decodeTxnOffsetCommitRequest,
  encode: encodeTxnOffsetCommitResponse,
  handle: _txnOffsetCommit,
};

// ---------------------------------------------------------- DescribeTransactions

function _topics(m: TxnMetadata): { topic: string; partitions: number[] }[] {
  const by = new Map<string, number[]>();
  for (const p of m.partitions) {
    let list = by.get(p.topic);
    if (list === undefined) by.set(p.topic, list = []);
    list.push(p.partition);
  }
  return [...by].map(([topic, partitions]) => ({ topic, partitions }));
}

function _describeTransactions(
  req: DescribeTransactionsRequest,
  ctx: RequestContext,
): Promise<DescribeTransactionsResponse> {
  const res = createDescribeTransactionsResponse();
  res.transactionStates = req.transactionalIds.map((id) => {
    const out = {
      errorCode: ErrorCode.NONE,
      transactionalId: id,
      transactionState: "",
      transactionTimeoutMs: 0,
      transactionStartTimeMs: -1n,
      producerId: -1n,
      producerEpoch: -1,
      topics: [] as { topic: string; partitions: number[] }[],
    };
    const svc = txnServiceFor(ctx, id);
    if (typeof svc === "number") return { ...out, errorCode: svc };
    const m = svc.coordinator.get(id);
    if (m === undefined) return { ...out, errorCode: ErrorCode.TRANSACTIONAL_ID_NOT_FOUND };
    return {
      ...out,
      transactionState: m.state,
      transactionTimeoutMs: m.timeoutMs,
      transactionStartTimeMs: BigInt(m.startMs),
      producerId: BigInt(m.producerId),
      producerEpoch: m.producerEpoch,
      topics: _topics(m),
    };
  });
  return Promise.resolve(res);
}

/** The DescribeTransactions route. */
export const describeTransactionsRoute: ApiRoute<
  DescribeTransactionsRequest,
  DescribeTransactionsResponse
> = {
  apiKey: ApiKey.DescribeTransactions,
  name: "DescribeTransactions",
  minVersion: 0,
  maxVersion: 0,
  advertised: true,
  decode: decodeDescribeTransactionsRequest,
  encode: encodeDescribeTransactionsResponse,
  handle: _describeTransactions,
};

// ------------------------------------------------------------- ListTransactions

const _STATES = new Set([
  "Empty",
  "Ongoing",
  "PrepareCommit",
  "PrepareAbort",
  "CompleteCommit",
  "CompleteAbort",
]);

function _listTransactions(
  req: ListTransactionsRequest,
  ctx: RequestContext,
): Promise<ListTransactionsResponse> {
  const res = createListTransactionsResponse();
  const svc = ctx.broker.txns;
  if (svc === undefined) {
    res.errorCode = ErrorCode.COORDINATOR_NOT_AVAILABLE;
    return Promise.resolve(res);
  }
  res.unknownStateFilters = req.stateFilters.filter((s) => !_STATES.has(s));
  const states = new Set(req.stateFilters);
  const pids = new Set(req.producerIdFilters.map(Number));
  // durationFilter (v1): transactions running longer than this many ms; -1 means any.
  const minRunMs = Number(req.durationFilter);
  const now = ctx.broker.nowMs();
  res.transactionStates = svc.coordinator.list().filter((m) =>
    svc.isCoordinatorFor(m.transactionalId) &&
    (states.size === 0 || states.has(m.state)) &&
    (pids.size === 0 || pids.has(m.producerId)) &&
    (minRunMs < 0 || (m.startMs >= 0 && now - m.startMs >= minRunMs))
  ).map((m) => ({
    transactionalId: m.transactionalId,
    producerId: BigInt(m.producerId),
    transactionState: m.state,
  }));
  return Promise.resolve(res);
}

/** The ListTransactions route. */
export const listTransactionsRoute: ApiRoute<ListTransactionsRequest, ListTransactionsResponse> = {
  apiKey: ApiKey.ListTransactions,
  name: "ListTransactions",
  minVersion: 0,
  maxVersion: 1,
  advertised: true,
  decode: decodeListTransactionsRequest,
  encode: encodeListTransactionsResponse,
  handle: _listTransactions,
};
