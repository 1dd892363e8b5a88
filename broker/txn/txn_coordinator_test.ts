import assert from "node:assert/strict";
import { ManualClock } from "../../ops/clock.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  PRODUCER_EPOCH_MAX,
  TxnCoordinator,
  type TxnDecision,
  type TxnMetadata,
} from "./txn_coordinator.ts";

function _apply(c: TxnCoordinator, d: TxnDecision): TxnMetadata {
  assert.equal(d.kind, "transition", JSON.stringify(d));
  if (d.kind !== "transition") throw new Error("unreachable");
  c.complete(d.next);
  return d.next;
}

function _error(d: TxnDecision): number {
  assert.equal(d.kind, "error", JSON.stringify(d));
  return d.kind === "error" ? d.code : -1;
}

function _setup(): { c: TxnCoordinator; clock: ManualClock; m: TxnMetadata } {
  const clock = new ManualClock(1000);
  const c = new TxnCoordinator({ clock });
  const m = _apply(c, c.initProducerId("t", 10_000, 42));
  return { c, clock, m };
}

const P = (m: TxnMetadata) => ({
  transactionalId: m.transactionalId,
  producerId: m.producerId,
  producerEpoch: m.producerEpoch,
});

Deno.test("TxnCoordinator gives a new transactional id its producer id at epoch 0, Empty", () => {
  const { c, m } = _setup();
  assert.equal(m.producerId, 42);
  assert.equal(m.producerEpoch, 0);
  assert.equal(m.state, "Empty");
  assert.equal(c.get("t")?.state, "Empty");
});

Deno.test("TxnCoordinator runs a commit through Ongoing, PrepareCommit and CompleteCommit", () => {
  const { c, m } = _setup();
  const on = _apply(c, c.addPartitions(P(m), [{ topic: "a", partition: 0, firstOffset: 5 }]));
  assert.equal(on.state, "Ongoing");
  assert.equal(on.startMs, 1000);
  // Adding the same partition again changes nothing and needs no write.
  assert.equal(
    c.addPartitions(P(m), [{ topic: "a", partition: 0, firstOffset: 9 }]).kind,
    "unchanged",
  );
  const two = _apply(c, c.addPartitions(P(m), [{ topic: "a", partition: 1, firstOffset: 0 }]));
  assert.deepEqual(two.partitions.map((p) => [p.partition, p.firstOffset]), [[0, 5], [1, 0]]);
  const prep = _apply(c, c.endTxn(P(m), true));
  assert.equal(prep.state, "PrepareCommit");
  // Until the markers are written, the producer must wait.
  assert.equal(
    _error(c.addPartitions(P(m), [{ topic: "a", partition: 2, firstOffset: 0 }])),
    ErrorCode.CONCURRENT_TRANSACTIONS,
  );
  const done = _apply(c, c.completeNext("t"));
  assert.equal(done.state, "CompleteCommit");
  assert.deepEqual(done.partitions, []);
  // A retried EndTxn(commit) is answered as done; an abort now is a state error.
  assert.equal(c.endTxn(P(m), true).kind, "unchanged");
  assert.equal(_error(c.endTxn(P(m), false)), ErrorCode.INVALID_TXN_STATE);
});

Deno.test("TxnCoordinator answers CONCURRENT_TRANSACTIONS while a write is in flight, and abandon undoes it", () => {
  const { c, m } = _setup();
  const d = c.addPartitions(P(m), [{ topic: "a", partition: 0, firstOffset: 0 }]);
  assert.equal(d.kind, "transition");
  assert.equal(_error(c.endTxn(P(m), true)), ErrorCode.CONCURRENT_TRANSACTIONS);
  c.abandon("t");
  assert.equal(c.get("t")?.state, "Empty");
  assert.equal(_error(c.endTxn(P(m), true)), ErrorCode.INVALID_TXN_STATE);
});

Deno.test("TxnCoordinator fences a zombie: InitProducerId bumps the epoch and the old epoch is refused", () => {
  const { c, m } = _setup();
  const again = _apply(c, c.initProducerId("t", 10_000, 99));
  assert.equal(again.producerId, 42, "the same transactional id keeps its producer id");
  assert.equal(again.producerEpoch, 1);
  assert.equal(
    _error(c.addPartitions(P(m), [{ topic: "a", partition: 0, firstOffset: 0 }])),
    ErrorCode.INVALID_PRODUCER_EPOCH,
  );
  assert.equal(
    _error(c.endTxn({ ...P(m), producerId: 7 }, true)),
    ErrorCode.INVALID_PRODUCER_ID_MAPPING,
  );
});

Deno.test("TxnCoordinator aborts an Ongoing transaction left by the previous instance before a new epoch", () => {
  const { c, m } = _setup();
  _apply(c, c.addPartitions(P(m), [{ topic: "a", partition: 0, firstOffset: 3 }]));
  const abort = _apply(c, c.initProducerId("t", 10_000, 99));
  assert.equal(abort.state, "PrepareAbort");
  assert.equal(abort.producerEpoch, 1, "the abort markers carry a bumped epoch");
  assert.equal(abort.partitions.length, 1);
  // The new instance retries until the abort completes.
  assert.equal(_error(c.initProducerId("t", 10_000, 99)), ErrorCode.CONCURRENT_TRANSACTIONS);
  _apply(c, c.completeNext("t"));
  const fresh = _apply(c, c.initProducerId("t", 10_000, 99));
  assert.equal(fresh.state, "Empty");
  assert.equal(fresh.producerEpoch, 2);
});

Deno.test("TxnCoordinator aborts a transaction that outlives transaction.timeout.ms", () => {
  const { c, clock, m } = _setup();
  _apply(c, c.addPartitions(P(m), [{ topic: "a", partition: 0, firstOffset: 0 }]));
  clock.advance(9_999);
  assert.deepEqual(c.expired(), []);
  clock.advance(1);
  const due = c.expired();
  assert.equal(due.length, 1);
  assert.equal(due[0]?.state, "PrepareAbort");
  assert.equal(due[0]?.producerEpoch, 1);
  c.complete(due[0]!);
  // Not returned twice while it is being aborted.
  _apply(c, c.completeNext("t"));
  assert.deepEqual(c.expired(), []);
  // The timed-out producer is fenced.
  assert.equal(_error(c.endTxn(P(m), true)), ErrorCode.INVALID_PRODUCER_EPOCH);
  assert.equal(c.get("t")?.state, "CompleteAbort");
});

Deno.test("TxnCoordinator holds TxnOffsetCommit offsets only for groups added to the transaction", () => {
  const { c, m } = _setup();
  const off = {
    groupId: "g",
    topic: "in",
    partition: 0,
    offset: 10,
    leaderEpoch: -1,
    metadata: null,
  };
  assert.equal(_error(c.commitOffsets(P(m), "g", [off])), ErrorCode.INVALID_TXN_STATE);
  _apply(c, c.addOffsets(P(m), "g"));
  _apply(c, c.commitOffsets(P(m), "g", [off]));
  const later = _apply(c, c.commitOffsets(P(m), "g", [{ ...off, offset: 20 }]));
  assert.deepEqual(later.offsets.map((o) => o.offset), [20], "a later offset replaces one");
  _apply(c, c.endTxn(P(m), false));
  const done = _apply(c, c.completeNext("t"));
  assert.deepEqual(done.offsets, []);
});

Deno.test("TxnCoordinator refuses a timeout above transaction.max.timeout.ms", () => {
  const c = new TxnCoordinator({ clock: new ManualClock(0), timeoutMaxMs: 1000 });
  assert.equal(_error(c.initProducerId("t", 1001, 1)), ErrorCode.INVALID_TRANSACTION_TIMEOUT);
  assert.equal(_error(c.initProducerId("t", 0, 1)), ErrorCode.INVALID_TRANSACTION_TIMEOUT);
});

Deno.test("TxnCoordinator moves to a new producer id when the epoch is exhausted", () => {
  const clock = new ManualClock(0);
  const c = new TxnCoordinator({ clock });
  const m = _apply(c, c.initProducerId("t", 1000, 1));
  c.replay("t", { ...m, producerEpoch: PRODUCER_EPOCH_MAX });
  const next = _apply(c, c.initProducerId("t", 1000, 2));
  assert.deepEqual([next.producerId, next.producerEpoch], [2, 0]);
});

Deno.test("TxnCoordinator replays durable records and tombstones", () => {
  const { c, m } = _setup();
  const other = new TxnCoordinator({ clock: new ManualClock(0) });
  other.replay("t", m);
  assert.deepEqual(other.get("t"), m);
  other.replay("t", null);
  assert.equal(other.get("t"), undefined);
  assert.equal(c.list().length, 1);
});

Deno.test("TxnCoordinator expires only ids idle past transactional.id.expiration.ms", () => {
  const { c, clock, m } = _setup();
  const other = _apply(c, c.initProducerId("busy", 60_000, 43));
  _apply(c, c.addPartitions(P(other), [{ topic: "a", partition: 0, firstOffset: 0 }]));
  clock.advance(999);
  assert.deepEqual(c.idle(1000), []);
  clock.advance(1);
  // "busy" has an open transaction: never expired while it lasts.
  assert.deepEqual(c.idle(1000), ["t"]);
  // Until the tombstone is written, the id waits; a failed write keeps it.
  assert.equal(_error(c.initProducerId("t", 10_000, 50)), ErrorCode.CONCURRENT_TRANSACTIONS);
  c.abandon("t");
  assert.equal(c.get("t")?.producerId, m.producerId);
  assert.deepEqual(c.idle(1000), ["t"]);
  c.forget("t");
  assert.equal(c.get("t"), undefined);
  // A producer with the forgotten mapping is refused; a new InitProducerId starts afresh.
  assert.equal(
    _error(c.addPartitions(P(m), [{ topic: "a", partition: 0, firstOffset: 0 }])),
    ErrorCode.INVALID_PRODUCER_ID_MAPPING,
  );
  assert.equal(_apply(c, c.initProducerId("t", 10_000, 50)).producerId, 50);
});
