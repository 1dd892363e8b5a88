import assert from "node:assert/strict";
import {
  decodeAbortedValue,
  decodeTxnKey,
  decodeTxnValue,
  encodeAbortedKey,
  encodeAbortedValue,
  encodeTxnKey,
  encodeTxnValue,
  TxnRecordError,
} from "./txn_record.ts";
import type { TxnMetadata } from "./txn_coordinator.ts";

const META: TxnMetadata = {
  transactionalId: "app-1",
  producerId: 9,
  producerEpoch: 3,
  timeoutMs: 60_000,
  state: "Ongoing",
  partitions: [{ topic: "t", partition: 2, firstOffset: 40 }],
  groups: ["g"],
  offsets: [{
    groupId: "g",
    topic: "in",
    partition: 0,
    offset: 7,
    leaderEpoch: -1,
    metadata: null,
  }],
  startMs: 1000,
  updateMs: 1001,
};

Deno.test("txn records round-trip both key kinds and their values", () => {
  const key = encodeTxnKey("app-1");
  // Kafka's key v0: int16 version, then the transactional id as an int16-prefixed string.
  assert.deepEqual([...key.subarray(0, 4)], [0, 0, 0, 5]);
  assert.deepEqual(decodeTxnKey(key), { kind: "txn", transactionalId: "app-1" });
  assert.deepEqual(decodeTxnValue("app-1", encodeTxnValue(META)), META);
  const ak = encodeAbortedKey("t", 2, 2 ** 40);
  assert.deepEqual(decodeTxnKey(ak), {
    kind: "aborted",
    topic: "t",
    partition: 2,
    lastOffset: 2 ** 40,
  });
  const entry = { producerId: 9, firstOffset: 40, lastOffset: 2 ** 40 };
  assert.deepEqual(decodeAbortedValue(2 ** 40, encodeAbortedValue(entry)), entry);
});

Deno.test("txn records refuse damaged keys and values with TxnRecordError", () => {
  assert.throws(() => decodeTxnKey(new Uint8Array([0, 0])), TxnRecordError);
  assert.throws(() => decodeTxnKey(new Uint8Array([0, 0, 0, 9, 1])), TxnRecordError);
  assert.throws(() => decodeTxnKey(new Uint8Array([0, 7, 0, 0])), TxnRecordError);
  const enc = new TextEncoder();
  assert.throws(() => decodeTxnValue("a", enc.encode("{not json")), TxnRecordError);
  assert.throws(() => decodeTxnValue("a", enc.encode('{"v":2}')), TxnRecordError);
  assert.throws(
    () => decodeTxnValue("a", enc.encode(JSON.stringify({ ...META, v: 1, state: "Weird" }))),
    TxnRecordError,
  );
  assert.throws(
    () => decodeTxnValue("a", enc.encode(JSON.stringify({ ...META, v: 1, producerId: "x" }))),
    TxnRecordError,
  );
});
