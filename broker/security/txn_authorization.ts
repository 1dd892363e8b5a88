/**
 * ACL rules of the producer-id and transaction APIs, with Kafka's (3.x) checks and error codes:
 *
 * | API | check | refused as |
 * |---|---|---|
 * | InitProducerId with a transactional id | Write on the TransactionalId | TRANSACTIONAL_ID_AUTHORIZATION_FAILED |
 * | InitProducerId without one (idempotence) | IdempotentWrite on the Cluster, or Write on any Topic | CLUSTER_AUTHORIZATION_FAILED |
 * | Produce with a transactional id | Write on the TransactionalId (then Write per Topic) | TRANSACTIONAL_ID_AUTHORIZATION_FAILED on every partition |
 * | AddPartitionsToTxn (v0-3) | Write on the TransactionalId, then Write per Topic | 53 on every partition; then 29 on refused topics, OPERATION_NOT_ATTEMPTED on the rest |
 * | AddOffsetsToTxn | Write on the TransactionalId, Read on the Group | 53, GROUP_AUTHORIZATION_FAILED |
 * | EndTxn | Write on the TransactionalId | 53 |
 * | TxnOffsetCommit | Write on the TransactionalId, Read on the Group, Read per Topic | 53 / 30 on every partition; 29 on refused topics |
 * | DescribeTransactions | Describe on each TransactionalId | 53 for that id |
 * | ListTransactions | Describe on each TransactionalId | ids not describable are hidden |
 *
 * FindCoordinator with key type 1 (Describe on the TransactionalId) is in kafka_authorization.ts.
 * Each refusal is an answer with the error code, never a closed connection, so the client raises
 * Kafka's own authorization exception.
 *
 * @module
 */

// deno-lint-ignore-file no-explicit-any -- the rules read and amend generated message types.

import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  createAddOffsetsToTxnResponse,
  createAddPartitionsToTxnResponse,
  createDescribeTransactionsResponseTransactionState,
  createEndTxnResponse,
  createInitProducerIdResponse,
  createProduceResponse,
  createTxnOffsetCommitResponse,
} from "../../protocol/kafka/messages/mod.ts";
import type { MiddlewareOutcome } from "../kafka_api/request_router.ts";
import type { AclOperation, ResourceType } from "./acl_authorizer.ts";

/** One ACL check of the request's principal and host. */
export type TxnCheck = (type: ResourceType, name: string, op: AclOperation) => boolean;
/** Whether the principal may do `op` on some resource of `type`. */
export type TxnCheckAny = (type: ResourceType, op: AclOperation) => boolean;

const _TXN = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED;

/** InitProducerId: Write on the transactional id, or idempotence rights without one. */
export function initProducerIdRule(
  req: any,
  check: TxnCheck,
  checkAny: TxnCheckAny,
  clusterName: string,
): MiddlewareOutcome | undefined {
  const refused = (errorCode: number) => ({
    response: { ...createInitProducerIdResponse(), errorCode, producerId: -1n, producerEpoch: -1 },
  });
  if (req.transactionalId !== null) {
    return check("TransactionalId", req.transactionalId, "Write") ? undefined : refused(_TXN);
  }
  // KIP-679: Write on any topic lets a producer be idempotent, as IdempotentWrite still does.
  if (check("Cluster", clusterName, "IdempotentWrite") || checkAny("Topic", "Write")) {
    return undefined;
  }
  return refused(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
}

/**
 * Produce carrying a transactional id: the whole request is refused unless the principal may
 * write that id. Returns undefined when the id is allowed (or absent): the topic checks follow.
 */
export function transactionalProduceRefusal(
  req: any,
  check: TxnCheck,
): MiddlewareOutcome | undefined {
  if (req.transactionalId === null || req.transactionalId === undefined) return undefined;
  if (check("TransactionalId", req.transactionalId, "Write")) return undefined;
  return {
    response: {
      ...createProduceResponse(),
      responses: req.topicData.map((t: any) => ({
        name: t.name,
        partitionResponses: t.partitionData.map((p: any) => ({
          index: p.index,
          errorCode: _TXN,
          baseOffset: -1n,
          logAppendTimeMs: -1n,
          logStartOffset: -1n,
          recordErrors: [],
          errorMessage: "Not authorized to write with this transactional id",
          currentLeader: { leaderId: -1, leaderEpoch: -1 },
        })),
      })),
    },
  };
}

/** AddPartitionsToTxn v0-3: one refused topic fails the whole request, as in Kafka. */
export function addPartitionsToTxnRule(req: any, check: TxnCheck): MiddlewareOutcome | undefined {
  const topics: any[] = req.v3AndBelowTopics;
  const idOk = check("TransactionalId", req.v3AndBelowTransactionalId, "Write");
  const refusedTopics = idOk
    ? new Set(topics.filter((t) => !check("Topic", t.name, "Write")).map((t) => t.name))
    : new Set<string>();
  if (idOk && refusedTopics.size === 0) return undefined;
  const codeOf = (name: string) =>
    !idOk
      ? _TXN
      : refusedTopics.has(name)
      ? ErrorCode.TOPIC_AUTHORIZATION_FAILED
      : ErrorCode.OPERATION_NOT_ATTEMPTED;
  return {
    response: {
      ...createAddPartitionsToTxnResponse(),
      resultsByTopicV3AndBelow: topics.map((t) => ({
        name: t.name,
        resultsByPartition: t.partitions.map((p: number) => ({
          partitionIndex: p,
          partitionErrorCode: codeOf(t.name),
        })),
      })),
    },
  };
}

/** AddOffsetsToTxn: Write on the id, then Read on the group whose offsets join the transaction. */
export function addOffsetsToTxnRule(req: any, check: TxnCheck): MiddlewareOutcome | undefined {
  const errorCode = !check("TransactionalId", req.transactionalId, "Write")
    ? _TXN
    : !check("Group", req.groupId, "Read")
    ? ErrorCode.GROUP_AUTHORIZATION_FAILED
    : 0;
  return errorCode === 0
    ? undefined
    : { response: { ...createAddOffsetsToTxnResponse(), errorCode } };
}

/** EndTxn: Write on the id. */
export function endTxnRule(req: any, check: TxnCheck): MiddlewareOutcome | undefined {
  if (check("TransactionalId", req.transactionalId, "Write")) return undefined;
  return {
    response: { ...createEndTxnResponse(), errorCode: _TXN, producerId: -1n, producerEpoch: -1 },
  };
}

/** TxnOffsetCommit: Write on the id and Read on the group, then Read per topic. */
export function txnOffsetCommitRule(req: any, check: TxnCheck): MiddlewareOutcome | undefined {
  const whole = !check("TransactionalId", req.transactionalId, "Write")
    ? _TXN
    : !check("Group", req.groupId, "Read")
    ? ErrorCode.GROUP_AUTHORIZATION_FAILED
    : 0;
  const topics: any[] = req.topics;
  const denied = whole !== 0 ? topics : topics.filter((t) => !check("Topic", t.name, "Read"));
  if (denied.length === 0) return undefined;
  const refused = denied.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p: any) => ({
      partitionIndex: p.partitionIndex,
      errorCode: whole !== 0 ? whole : ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    })),
  }));
  if (denied.length === topics.length) {
    return { response: { ...createTxnOffsetCommitResponse(), topics: refused } };
  }
  const deniedNames = new Set(denied.map((t) => t.name));
  return {
    request: { ...req, topics: topics.filter((t) => !deniedNames.has(t.name)) },
    finish: (res: any) => ({ ...res, topics: [...res.topics, ...refused] }),
  };
}

/** DescribeTransactions: Describe on each id; a refused id gets its own state entry with 53. */
export function describeTransactionsRule(
  req: any,
  check: TxnCheck,
): MiddlewareOutcome | undefined {
  const ids: string[] = req.transactionalIds;
  const ok = ids.filter((id) => check("TransactionalId", id, "Describe"));
  if (ok.length === ids.length) return undefined;
  const refused = ids.filter((id) => !ok.includes(id)).map((id) => ({
    ...createDescribeTransactionsResponseTransactionState(),
    transactionalId: id,
    errorCode: _TXN,
  }));
  if (ok.length === 0) return { response: { throttleTimeMs: 0, transactionStates: refused } };
  return {
    request: { ...req, transactionalIds: ok },
    finish: (res: any) => ({ ...res, transactionStates: [...res.transactionStates, ...refused] }),
  };
}

/** ListTransactions: only the ids the principal may describe are listed. */
export function listTransactionsRule(req: any, check: TxnCheck): MiddlewareOutcome {
  return {
    request: req,
    finish: (res: any) => ({
      ...res,
      transactionStates: res.transactionStates.filter((t: any) =>
        check("TransactionalId", t.transactionalId, "Describe")
      ),
    }),
  };
}
