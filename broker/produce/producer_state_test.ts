import assert from "node:assert/strict";
import { ProducerStateTable } from "./producer_state.ts";

const base = { producerId: 1, producerEpoch: 0, baseSequence: 0, lastOffsetDelta: 9 };

Deno.test("ProducerStateTable accepts in-sequence batches and returns duplicates' offsets", () => {
  const t = new ProducerStateTable();
  assert.equal(t.check(base).kind, "append");
  t.record(base, 0);
  const second = { ...base, baseSequence: 10 };
  assert.equal(t.check(second).kind, "append");
  t.record(second, 10);
  assert.deepEqual(t.check(base), { kind: "duplicate", baseOffset: 0 });
  assert.deepEqual(t.check(second), { kind: "duplicate", baseOffset: 10 });
});

Deno.test("ProducerStateTable rejects a gap with OUT_OF_ORDER_SEQUENCE_NUMBER", () => {
  const t = new ProducerStateTable();
  t.record(base, 0);
  const r = t.check({ ...base, baseSequence: 11 });
  assert.equal(r.kind, "error");
  assert.equal(r.kind === "error" && r.code, "OUT_OF_ORDER_SEQUENCE_NUMBER");
});

Deno.test("ProducerStateTable remembers only the last five batches", () => {
  const t = new ProducerStateTable();
  for (let i = 0; i < 7; i++) t.record({ ...base, baseSequence: i * 10 }, i * 10);
  assert.equal(t.check({ ...base, baseSequence: 10 }).kind, "error");
  assert.deepEqual(t.check({ ...base, baseSequence: 20 }), { kind: "duplicate", baseOffset: 20 });
});

Deno.test("ProducerStateTable fences older epochs and resets on a newer epoch", () => {
  const t = new ProducerStateTable();
  t.record({ ...base, producerEpoch: 3 }, 0);
  const old = t.check({ ...base, producerEpoch: 2, baseSequence: 10 });
  assert.equal(old.kind === "error" && old.code, "INVALID_PRODUCER_EPOCH");
  assert.equal(t.check({ ...base, producerEpoch: 4, baseSequence: 0 }).kind, "append");
  const bumpedMidway = t.check({ ...base, producerEpoch: 4, baseSequence: 10 });
  assert.equal(bumpedMidway.kind === "error" && bumpedMidway.code, "OUT_OF_ORDER_SEQUENCE_NUMBER");
});

Deno.test("ProducerStateTable wraps sequences at Int32.MAX", () => {
  const t = new ProducerStateTable();
  const near = { ...base, baseSequence: 2147483640, lastOffsetDelta: 7 };
  t.record(near, 0);
  assert.equal(t.check({ ...base, baseSequence: 0, lastOffsetDelta: 0 }).kind, "append");
});

Deno.test("ProducerStateTable ignores non-idempotent batches and evicts the oldest producer", () => {
  const t = new ProducerStateTable({ producersMax: 2 });
  assert.equal(t.check({ ...base, producerId: -1, baseSequence: 99 }).kind, "append");
  t.record({ ...base, producerId: -1 }, 0);
  assert.equal(t.size, 0);
  t.record({ ...base, producerId: 1 }, 0);
  t.record({ ...base, producerId: 2 }, 10);
  t.record({ ...base, producerId: 3 }, 20);
  assert.equal(t.size, 2);
  // Producer 1 was evicted, so its retried batch is accepted again rather than recognised.
  assert.equal(t.check({ ...base, producerId: 1 }).kind, "append");
  assert.deepEqual(t.check({ ...base, producerId: 3 }), { kind: "duplicate", baseOffset: 20 });
});

Deno.test("ProducerStateTable treats a batch stored with a rebased first sequence as the retry's original", () => {
  const t = new ProducerStateTable();
  // An ETL chain turned sequences 0..2 into 2 stored records, stored as 1..2 (a follower or a
  // restarted broker learns this range from the stored header).
  t.record({ producerId: 7, producerEpoch: 0, baseSequence: 1, lastOffsetDelta: 1 }, 0);
  const retry = { producerId: 7, producerEpoch: 0, baseSequence: 0, lastOffsetDelta: 2 };
  assert.deepEqual(t.check(retry), { kind: "duplicate", baseOffset: 0 });
  assert.equal(t.check({ ...retry, baseSequence: 3, lastOffsetDelta: 0 }).kind, "append");
});

Deno.test("ProducerStateTable.fence: a marker keeps the sequence, bumps the epoch, refuses an older one", () => {
  const t = new ProducerStateTable();
  const b = { producerId: 7, producerEpoch: 0, baseSequence: 0, lastOffsetDelta: 4 };
  t.record(b, 100);
  // A COMMIT marker at the same epoch: the producer's next batch continues its sequence.
  assert.equal(t.fence(7, 0).kind, "append");
  assert.equal(t.check({ ...b, baseSequence: 5 }).kind, "append");
  // An ABORT marker with a bumped epoch fences the old epoch; the new one starts at any sequence.
  assert.equal(t.fence(7, 1).kind, "append");
  assert.equal(t.check({ ...b, baseSequence: 5 }).kind, "error");
  assert.equal(t.check({ ...b, producerEpoch: 1, baseSequence: 0 }).kind, "append");
  assert.equal(t.fence(7, 0).kind, "error");
});

Deno.test("ProducerStateTable.fence refuses a marker from an older coordinator epoch", () => {
  const t = new ProducerStateTable();
  t.record({ producerId: 7, producerEpoch: 0, baseSequence: 0, lastOffsetDelta: 0 }, 10);
  assert.equal(t.fence(7, 0, 4).kind, "append");
  // The coordinator that lost its tenure (epoch 3) is refused, whatever the producer epoch.
  const stale = t.fence(7, 0, 3);
  assert.equal(stale.kind, "error");
  assert.equal(stale.kind === "error" && stale.code, "TRANSACTION_COORDINATOR_FENCED");
  assert.equal(t.fence(7, 1, 3).kind, "error");
  // The same or a newer coordinator epoch goes on, and survives the producer's epoch bump.
  assert.equal(t.fence(7, 1, 4).kind, "append");
  t.record({ producerId: 7, producerEpoch: 2, baseSequence: 0, lastOffsetDelta: 0 }, 20);
  assert.equal(t.fence(7, 2, 3).kind, "error");
  assert.equal(t.fence(7, 2, 5).kind, "append");
  // A marker whose epoch cannot be read (-1) is not judged by it.
  assert.equal(t.fence(7, 2, -1).kind, "append");
});
