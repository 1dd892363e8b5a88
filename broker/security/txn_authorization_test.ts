// deno-lint-ignore-file no-explicit-any -- the tests read generated response shapes.
import assert from "node:assert/strict";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  addPartitionsToTxnRule,
  describeTransactionsRule,
  listTransactionsRule,
  transactionalProduceRefusal,
  type TxnCheck,
  txnOffsetCommitRule,
} from "./txn_authorization.ts";

// Allows exactly the listed "Type:name:Op" triples.
const only = (...allowed: string[]): TxnCheck => (type, name, op) =>
  allowed.includes(`${type}:${name}:${op}`);

Deno.test("AddPartitionsToTxn refuses by transactional id first, then names the refused topics", () => {
  const req = {
    v3AndBelowTransactionalId: "tx",
    v3AndBelowTopics: [{ name: "a", partitions: [0, 1] }, { name: "b", partitions: [0] }],
  };
  const codes = (check: TxnCheck) => {
    const out = addPartitionsToTxnRule(req, check) as { response: any } | undefined;
    return out?.response.resultsByTopicV3AndBelow.map((t: any) =>
      `${t.name}:${t.resultsByPartition.map((p: any) => p.partitionErrorCode).join(",")}`
    );
  };
  const TXN = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
  assert.deepEqual(codes(only("Topic:a:Write", "Topic:b:Write")), [`a:${TXN},${TXN}`, `b:${TXN}`]);
  assert.deepEqual(codes(only("TransactionalId:tx:Write", "Topic:a:Write")), [
    `a:${ErrorCode.OPERATION_NOT_ATTEMPTED},${ErrorCode.OPERATION_NOT_ATTEMPTED}`,
    `b:${ErrorCode.TOPIC_AUTHORIZATION_FAILED}`,
  ]);
  assert.equal(
    codes(only("TransactionalId:tx:Write", "Topic:a:Write", "Topic:b:Write")),
    undefined,
  );
});

Deno.test("Produce with a transactional id needs Write on it; without one it is not this rule's", () => {
  const req = (transactionalId: string | null) => ({
    transactionalId,
    topicData: [{ name: "a", partitionData: [{ index: 3 }] }],
  });
  const refused = transactionalProduceRefusal(req("tx"), only("Topic:a:Write")) as any;
  assert.equal(
    refused.response.responses[0].partitionResponses[0].errorCode,
    ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
  );
  assert.equal(refused.response.responses[0].partitionResponses[0].index, 3);
  assert.equal(transactionalProduceRefusal(req("tx"), only("TransactionalId:tx:Write")), undefined);
  assert.equal(transactionalProduceRefusal(req(null), only()), undefined);
});

Deno.test("TxnOffsetCommit passes allowed topics on and answers the refused ones", () => {
  const req = {
    transactionalId: "tx",
    groupId: "g",
    topics: [
      { name: "a", partitions: [{ partitionIndex: 0 }] },
      { name: "b", partitions: [{ partitionIndex: 1 }] },
    ],
  };
  const base = ["TransactionalId:tx:Write", "Group:g:Read"];
  const partial = txnOffsetCommitRule(req, only(...base, "Topic:a:Read")) as any;
  assert.deepEqual(partial.request.topics.map((t: any) => t.name), ["a"]);
  assert.deepEqual(partial.finish({ topics: [{ name: "a", partitions: [] }] }).topics, [
    { name: "a", partitions: [] },
    {
      name: "b",
      partitions: [{ partitionIndex: 1, errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED }],
    },
  ]);
  const noGroup = txnOffsetCommitRule(req, only("TransactionalId:tx:Write")) as any;
  assert.deepEqual(
    noGroup.response.topics.map((t: any) => t.partitions[0].errorCode),
    [ErrorCode.GROUP_AUTHORIZATION_FAILED, ErrorCode.GROUP_AUTHORIZATION_FAILED],
  );
  assert.equal(txnOffsetCommitRule(req, only(...base, "Topic:a:Read", "Topic:b:Read")), undefined);
});

Deno.test("DescribeTransactions refuses per id and ListTransactions hides what cannot be described", () => {
  const described = describeTransactionsRule(
    { transactionalIds: ["a", "b"] },
    only("TransactionalId:a:Describe"),
  ) as any;
  assert.deepEqual(described.request.transactionalIds, ["a"]);
  const res = described.finish({
    throttleTimeMs: 0,
    transactionStates: [{ transactionalId: "a" }],
  });
  assert.deepEqual(res.transactionStates.map((t: any) => [t.transactionalId, t.errorCode]), [
    ["a", undefined],
    ["b", ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED],
  ]);
  const listed = listTransactionsRule({}, only("TransactionalId:a:Describe")) as any;
  assert.deepEqual(
    listed.finish({ transactionStates: [{ transactionalId: "a" }, { transactionalId: "b" }] })
      .transactionStates,
    [{ transactionalId: "a" }],
  );
});
