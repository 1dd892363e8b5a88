/**
 * The transaction APIs in raw frames (generated codecs): InitProducerId with a transactional
 * id, AddPartitionsToTxn, a transactional produce, ListTransactions and DescribeTransactions
 * while it is open, Fetch and ListOffsets at both isolation levels, EndTxn(abort) and the
 * aborted range Fetch returns; a client's own control batch refused; the non-retriable
 * answers when `broker.transactions_enabled = false`; and WriteTxnMarkers (API 27) served.
 */

import assert from "node:assert/strict";
import { ApiKey } from "../protocol/kafka/api_keys.ts";
import { recordsBytes } from "../protocol/kafka/wire.ts";
import { ErrorCode } from "../protocol/kafka/errors.ts";
import * as m from "../protocol/kafka/messages/mod.ts";
import { buildBatch, readBatchHeader } from "../protocol/record/record_batch.ts";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { createTxnTopic, indexCaughtUp, startTxnTestBroker } from "./txn_support.ts";
import { tempDir } from "./support/temp_dir.ts";

const enc = new TextEncoder();

async function _init(c: RawKafkaClient, tid: string): Promise<m.InitProducerIdResponse> {
  const req = m.createInitProducerIdRequest();
  req.transactionalId = tid;
  req.transactionTimeoutMs = 60_000;
  return await c.request(
    ApiKey.InitProducerId,
    4,
    (w) => m.encodeInitProducerIdRequest(w, req, 4),
    m.decodeInitProducerIdResponse,
  );
}

async function _fetch(c: RawKafkaClient, topic: string, isolationLevel: number) {
  const req = m.createFetchRequest();
  req.isolationLevel = isolationLevel;
  req.topics = [{
    ...m.createFetchRequestTopic(),
    topic,
    partitions: [{
      ...m.createFetchRequestPartition(),
      fetchOffset: 0n,
      partitionMaxBytes: 1 << 20,
    }],
  }];
  const res = await c.request(
    ApiKey.Fetch,
    11,
    (w) => m.encodeFetchRequest(w, req, 11),
    m.decodeFetchResponse,
  );
  const p = res.responses[0]!.partitions[0]!;
  const batches: number[] = [];
  let at = 0;
  const recs = p.records === null ? new Uint8Array(0) : recordsBytes(p.records);
  while (at < recs.length) {
    const h = readBatchHeader(recs.subarray(at));
    batches.push(h.baseOffset);
    at += h.sizeBytes;
  }
  return { p, batches };
}

async function _latest(
  c: RawKafkaClient,
  topic: string,
  isolationLevel: number,
  timestamp = -1n,
): Promise<bigint> {
  const req = m.createListOffsetsRequest();
  req.replicaId = -1;
  req.isolationLevel = isolationLevel;
  req.topics = [{
    name: topic,
    partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp, maxNumOffsets: 1 }],
  }];
  const res = await c.request(
    ApiKey.ListOffsets,
    5,
    (w) => m.encodeListOffsetsRequest(w, req, 5),
    m.decodeListOffsetsResponse,
  );
  return res.topics[0]!.partitions[0]!.offset;
}

async function _produce(c: RawKafkaClient, topic: string, records: Uint8Array): Promise<number> {
  const req = m.createProduceRequest();
  req.acks = -1;
  req.timeoutMs = 5000;
  req.transactionalId = "wire";
  req.topicData = [{ name: topic, partitionData: [{ index: 0, records }] }];
  const res = await c.request(
    ApiKey.Produce,
    9,
    (w) => m.encodeProduceRequest(w, req, 9),
    m.decodeProduceResponse,
  );
  return res.responses[0]!.partitionResponses[0]!.errorCode;
}

Deno.test("transaction APIs in raw frames: open, describe, isolation levels, abort, aborted range", async () => {
  await using b = await startTxnTestBroker();
  await createTxnTopic(b.broker, "w", 1);
  await using c = await RawKafkaClient.connect(b.broker.addrs.kafka.port);

  const init = await _init(c, "wire");
  assert.equal(init.errorCode, ErrorCode.NONE);
  const producer = { producerId: Number(init.producerId), producerEpoch: init.producerEpoch };

  // A plain record first, then the transaction's.
  assert.equal(
    await _produce(c, "w", await buildBatch([{ value: enc.encode("plain"), timestamp: 1 }])),
    ErrorCode.NONE,
  );
  const add = m.createAddPartitionsToTxnRequest();
  add.v3AndBelowTransactionalId = "wire";
  add.v3AndBelowProducerId = init.producerId;
  add.v3AndBelowProducerEpoch = init.producerEpoch;
  add.v3AndBelowTopics = [{ name: "w", partitions: [0] }];
  const added = await c.request(
    ApiKey.AddPartitionsToTxn,
    3,
    (w) => m.encodeAddPartitionsToTxnRequest(w, add, 3),
    m.decodeAddPartitionsToTxnResponse,
  );
  assert.equal(added.resultsByTopicV3AndBelow[0]!.resultsByPartition[0]!.partitionErrorCode, 0);
  const txBatch = await buildBatch([{ value: enc.encode("tx"), timestamp: 2 }], {
    ...producer,
    baseSequence: 0,
    transactional: true,
  });
  assert.equal(await _produce(c, "w", txBatch), ErrorCode.NONE);

  const listReq = m.createListTransactionsRequest();
  listReq.stateFilters = ["Ongoing", "Bogus"];
  listReq.durationFilter = -1n;
  const listed = await c.request(
    ApiKey.ListTransactions,
    1,
    (w) => m.encodeListTransactionsRequest(w, listReq, 1),
    m.decodeListTransactionsResponse,
  );
  assert.deepEqual(listed.unknownStateFilters, ["Bogus"]);
  assert.deepEqual(
    listed.transactionStates.map((t) => [t.transactionalId, t.transactionState]),
    [["wire", "Ongoing"]],
  );
  const descReq = m.createDescribeTransactionsRequest();
  descReq.transactionalIds = ["wire", "nobody"];
  const described = await c.request(
    ApiKey.DescribeTransactions,
    0,
    (w) => m.encodeDescribeTransactionsRequest(w, descReq, 0),
    m.decodeDescribeTransactionsResponse,
  );
  assert.equal(described.transactionStates[0]!.transactionState, "Ongoing");
  assert.deepEqual(described.transactionStates[0]!.topics, [{ topic: "w", partitions: [0] }]);
  assert.equal(described.transactionStates[1]!.errorCode, ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);

  // Open: read_committed stops at offset 1 (the transaction's first record).
  const committedOpen = await _fetch(c, "w", 1);
  assert.deepEqual(committedOpen.batches, [0]);
  assert.equal(committedOpen.p.lastStableOffset, 1n);
  assert.equal(committedOpen.p.highWatermark, 2n);
  assert.deepEqual((await _fetch(c, "w", 0)).batches, [0, 1]);
  assert.equal(await _latest(c, "w", 1), 1n);
  assert.equal(await _latest(c, "w", 0), 2n);
  // By timestamp: the open transaction's record (timestamp 2, offset 1) is not stable yet.
  assert.equal(await _latest(c, "w", 0, 2n), 1n);
  assert.equal(await _latest(c, "w", 1, 2n), -1n);
  assert.equal(await _latest(c, "w", 1, 1n), 0n);

  const end = m.createEndTxnRequest();
  end.transactionalId = "wire";
  end.producerId = init.producerId;
  end.producerEpoch = init.producerEpoch;
  end.committed = false;
  const ended = await c.request(
    ApiKey.EndTxn,
    3,
    (w) => m.encodeEndTxnRequest(w, end, 3),
    m.decodeEndTxnResponse,
  );
  assert.equal(ended.errorCode, ErrorCode.NONE);
  // Aborted: everything is stable, and read_committed learns the aborted range.
  const after = await _fetch(c, "w", 1);
  assert.deepEqual(after.batches, [0, 1, 2], "the ABORT marker is offset 2");
  assert.equal(after.p.lastStableOffset, 3n);
  assert.deepEqual(after.p.abortedTransactions, [
    { producerId: init.producerId, firstOffset: 1n },
  ]);
  assert.equal(await _latest(c, "w", 1), 3n);

  // A client may not write control batches itself.
  const forged = await buildBatch([{ value: enc.encode("x"), timestamp: 3 }], {
    ...producer,
    transactional: true,
    control: true,
  });
  assert.equal(await _produce(c, "w", forged), ErrorCode.INVALID_RECORD);
});

Deno.test("transactions_enabled = false: FindCoordinator and InitProducerId answer a non-retriable error", async () => {
  await using b = await startTxnTestBroker({ config: "[broker]\ntransactions_enabled = false\n" });
  assert.equal(b.broker.txns, null);
  await using c = await RawKafkaClient.connect(b.broker.addrs.kafka.port);
  const find = m.createFindCoordinatorRequest();
  find.key = "app";
  find.keyType = 1;
  const found = await c.request(
    ApiKey.FindCoordinator,
    3,
    (w) => m.encodeFindCoordinatorRequest(w, find, 3),
    m.decodeFindCoordinatorResponse,
  );
  assert.equal(found.errorCode, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
  assert.match(found.errorMessage ?? "", /transactions are disabled/);
  assert.equal((await _init(c, "app")).errorCode, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
  // Groups are unaffected.
  find.keyType = 0;
  const group = await c.request(
    ApiKey.FindCoordinator,
    3,
    (w) => m.encodeFindCoordinatorRequest(w, find, 3),
    m.decodeFindCoordinatorResponse,
  );
  assert.equal(group.errorCode, ErrorCode.NONE);
});

Deno.test("OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT while a transaction holds the offset", async () => {
  await using b = await startTxnTestBroker();
  await createTxnTopic(b.broker, "src", 1);
  await using c = await RawKafkaClient.connect(b.broker.addrs.kafka.port);
  const init = await _init(c, "stable");
  const who = {
    transactionalId: "stable",
    producerId: init.producerId,
    producerEpoch: init.producerEpoch,
  };
  const addOffsets = { ...m.createAddOffsetsToTxnRequest(), ...who, groupId: "g" };
  const added = await c.request(
    ApiKey.AddOffsetsToTxn,
    3,
    (w) => m.encodeAddOffsetsToTxnRequest(w, addOffsets, 3),
    m.decodeAddOffsetsToTxnResponse,
  );
  assert.equal(added.errorCode, ErrorCode.NONE);
  const commit = { ...m.createTxnOffsetCommitRequest(), ...who, groupId: "g" };
  commit.topics = [{
    name: "src",
    partitions: [{
      partitionIndex: 0,
      committedOffset: 42n,
      committedLeaderEpoch: -1,
      committedMetadata: null,
    }],
  }];
  const committed = await c.request(
    ApiKey.TxnOffsetCommit,
    3,
    (w) => m.encodeTxnOffsetCommitRequest(w, commit, 3),
    m.decodeTxnOffsetCommitResponse,
  );
  assert.equal(committed.topics[0]!.partitions[0]!.errorCode, ErrorCode.NONE);
  // KIP-447: naming a group member that the group does not have is fenced.
  const stale = { ...commit, generationId: 5, memberId: "gone-member" };
  const refused = await c.request(
    ApiKey.TxnOffsetCommit,
    3,
    (w) => m.encodeTxnOffsetCommitRequest(w, stale, 3),
    m.decodeTxnOffsetCommitResponse,
  );
  assert.equal(refused.topics[0]!.partitions[0]!.errorCode, ErrorCode.ILLEGAL_GENERATION);
  const fetchOffset = async (requireStable: boolean) => {
    const req = m.createOffsetFetchRequest();
    req.groupId = "g";
    req.topics = [{ name: "src", partitionIndexes: [0] }];
    req.requireStable = requireStable;
    const res = await c.request(
      ApiKey.OffsetFetch,
      7,
      (w) => m.encodeOffsetFetchRequest(w, req, 7),
      m.decodeOffsetFetchResponse,
    );
    const p = res.topics[0]!.partitions[0]!;
    return [p.errorCode, p.committedOffset];
  };
  assert.deepEqual(await fetchOffset(true), [ErrorCode.UNSTABLE_OFFSET_COMMIT, -1n]);
  assert.deepEqual(await fetchOffset(false), [ErrorCode.NONE, -1n], "not committed yet");
  const end = { ...m.createEndTxnRequest(), ...who, committed: true };
  const ended = await c.request(
    ApiKey.EndTxn,
    3,
    (w) => m.encodeEndTxnRequest(w, end, 3),
    m.decodeEndTxnResponse,
  );
  assert.equal(ended.errorCode, ErrorCode.NONE);
  assert.deepEqual(await fetchOffset(true), [ErrorCode.NONE, 42n]);
});

Deno.test("an idle transactional id expires, and the tombstone holds across a restart", async () => {
  await using dir = await tempDir("rustmq-txn-expire-");
  // The broker.toml key, as an operator sets it.
  const config = "[broker]\ntransactional_id_expiration_ms = 300\n";
  const first = await startTxnTestBroker({ dataDir: dir.path, config });
  try {
    await using c = await RawKafkaClient.connect(first.broker.addrs.kafka.port);
    assert.equal((await _init(c, "idle")).errorCode, ErrorCode.NONE);
    assert.ok(first.broker.txns!.coordinator.get("idle") !== undefined);
    const deadline = Date.now() + 5000;
    while (first.broker.txns!.coordinator.get("idle") !== undefined) {
      assert.ok(Date.now() < deadline, "the idle id expired");
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await first.close();
  }
  await using second = await startTxnTestBroker({ dataDir: dir.path, config });
  assert.equal(second.broker.txns!.coordinator.get("idle"), undefined);
});

Deno.test("WriteTxnMarkers writes the marker to a partition led here and answers each partition", async () => {
  await using b = await startTxnTestBroker();
  await createTxnTopic(b.broker, "wm", 1);
  await using c = await RawKafkaClient.connect(b.broker.addrs.kafka.port);
  const init = await _init(c, "wire");
  assert.equal(init.errorCode, ErrorCode.NONE);
  const txBatch = await buildBatch([{ value: enc.encode("tx"), timestamp: 2 }], {
    producerId: Number(init.producerId),
    producerEpoch: init.producerEpoch,
    baseSequence: 0,
    transactional: true,
  });
  assert.equal(await _produce(c, "wm", txBatch), ErrorCode.NONE);
  // The partition's own index sees the open transaction in its log.
  await indexCaughtUp(b.broker, "wm", 0);
  assert.equal(b.broker.txns!.lastStableOffset("wm", 0, 1), 0);

  const req = m.createWriteTxnMarkersRequest();
  req.markers = [{
    producerId: init.producerId,
    producerEpoch: init.producerEpoch,
    transactionResult: false,
    coordinatorEpoch: 0,
    topics: [{ name: "wm", partitionIndexes: [0, 7] }, { name: "nope", partitionIndexes: [0] }],
  }];
  const res = await c.request(
    ApiKey.WriteTxnMarkers,
    1,
    (w) => m.encodeWriteTxnMarkersRequest(w, req, 1),
    m.decodeWriteTxnMarkersResponse,
  );
  const codes = res.markers[0]!.topics.flatMap((t) =>
    t.partitions.map((p) => [`${t.name}/${p.partitionIndex}`, p.errorCode])
  );
  assert.deepEqual(codes, [
    ["wm/0", ErrorCode.NONE],
    ["wm/7", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
    ["nope/0", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
  ]);
  const hw = await indexCaughtUp(b.broker, "wm", 0);
  assert.equal(hw, 2);
  assert.equal(b.broker.txns!.lastStableOffset("wm", 0, hw), 2);
  const { p } = await _fetch(c, "wm", 1);
  assert.deepEqual(p.abortedTransactions, [{ producerId: init.producerId, firstOffset: 0n }]);
});

Deno.test("broker.transaction_max_timeout_ms bounds the timeout InitProducerId accepts", async () => {
  await using b = await startTxnTestBroker({
    config: "[broker]\ntransaction_max_timeout_ms = 30000\n",
  });
  await using c = await RawKafkaClient.connect(b.broker.addrs.kafka.port);
  // _init asks for 60 s.
  assert.equal((await _init(c, "too-long")).errorCode, ErrorCode.INVALID_TRANSACTION_TIMEOUT);
  const req = m.createInitProducerIdRequest();
  req.transactionalId = "fits";
  req.transactionTimeoutMs = 30_000;
  const ok = await c.request(
    ApiKey.InitProducerId,
    4,
    (w) => m.encodeInitProducerIdRequest(w, req, 4),
    m.decodeInitProducerIdResponse,
  );
  assert.equal(ok.errorCode, ErrorCode.NONE);
});
