import assert from "node:assert/strict";
import { buildBatch, decodeRecords, setBaseOffset } from "../../protocol/record/record_batch.ts";
import { abortedForResponse, type FetchAbortedTxn } from "./fetch_aborted.ts";
import { markerBatch } from "./txn_marker.ts";
import type { AbortedTxn } from "./txn_index.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A transactional data batch of `pid` at `offset` holding `value`. */
async function data(pid: number, offset: number, value: string): Promise<Uint8Array> {
  return await buildBatch([{ value: enc.encode(value), timestamp: 1 }], {
    baseOffset: offset,
    producerId: pid,
    producerEpoch: 0,
    baseSequence: offset,
    transactional: true,
  });
}

/** A COMMIT or ABORT marker of `pid` at `offset`. */
async function marker(pid: number, offset: number, commit: boolean): Promise<Uint8Array> {
  const b = await markerBatch(
    { producerId: pid, producerEpoch: 0, commit, coordinatorEpoch: 0 },
    1,
  );
  setBaseOffset(b, offset);
  return b;
}

/**
 * kafkajs 2.2.4's read_committed filter (`consumer/filterAbortedMessages.js` and
 * `consumer/batch.js`), ported line for line: what a kafkajs consumer shows of a response.
 */
async function kafkajsView(
  batches: readonly Uint8Array[],
  aborted: readonly FetchAbortedTxn[],
  fetchOffset: number,
): Promise<string[]> {
  const remaining = [...aborted];
  const current = new Set<number>();
  const shown: string[] = [];
  for (const bytes of batches) {
    const b = await decodeRecords(bytes);
    for (const r of b.records) {
      if (r.offset < fetchOffset) continue;
      if (remaining.length > 0 && r.offset >= remaining[0]!.firstOffset) {
        current.add(remaining.shift()!.producerId);
      }
      const abortMarker = b.header.isControl && r.key !== null &&
        r.key.every((x) => x === 0) && r.key.length === 4;
      if (abortMarker) current.delete(b.header.producerId);
      else if (current.has(b.header.producerId) && b.header.isTransactional) continue;
      if (!b.header.isControl) shown.push(dec.decode(r.value!));
    }
  }
  return shown;
}

function raw(a: readonly AbortedTxn[]): FetchAbortedTxn[] {
  return a.map(({ producerId, firstOffset }) => ({ producerId, firstOffset }));
}

Deno.test("a transaction that began first but was aborted last is hidden from kafkajs", async () => {
  // As the Jepsen-style test met it (seed 639220404, partition 1): producer 2's transaction
  // begins at 441, producer 1001's at 442; 1001's ABORT lands first (443), then 2's (444).
  const batches = [
    await data(2, 441, "p2-aborted"),
    await data(1001, 442, "p1001-aborted"),
    await marker(1001, 443, false),
    await marker(2, 444, false),
    await data(2, 445, "p2-committed"),
    await marker(2, 446, true),
  ];
  // The index keeps marker order.
  const index: AbortedTxn[] = [
    { producerId: 1001, firstOffset: 442, lastOffset: 443 },
    { producerId: 2, firstOffset: 441, lastOffset: 444 },
  ];
  // Unfitted, kafkajs shows an aborted record: the failure the test found.
  assert.deepEqual(await kafkajsView(batches, raw(index), 441), ["p2-aborted", "p2-committed"]);
  const fitted = abortedForResponse(index, batches);
  assert.deepEqual(fitted, [{ producerId: 2, firstOffset: 441 }, {
    producerId: 1001,
    firstOffset: 442,
  }]);
  assert.deepEqual(await kafkajsView(batches, fitted, 441), ["p2-committed"]);
});

Deno.test("a fetch from inside two aborted transactions hides both from kafkajs", async () => {
  // Both began below the fetch offset (10); the first batch returned is the later one's.
  const batches = [
    await data(8, 10, "b-aborted"),
    await data(7, 11, "a-aborted"),
    await marker(7, 12, false),
    await marker(8, 13, false),
    await data(9, 14, "plain-txn"),
    await marker(9, 15, true),
  ];
  const index: AbortedTxn[] = [
    { producerId: 7, firstOffset: 5, lastOffset: 12 },
    { producerId: 8, firstOffset: 6, lastOffset: 13 },
  ];
  assert.deepEqual(await kafkajsView(batches, raw(index), 10), ["b-aborted", "plain-txn"]);
  const fitted = abortedForResponse(index, batches);
  assert.deepEqual(fitted, [{ producerId: 8, firstOffset: 10 }, {
    producerId: 7,
    firstOffset: 11,
  }]);
  assert.deepEqual(await kafkajsView(batches, fitted, 10), ["plain-txn"]);
});

Deno.test("fitting never hides a committed record nor keeps an entry that drops nothing", async () => {
  const batches = [
    await data(3, 20, "committed-before"),
    await marker(3, 21, true),
    await data(3, 22, "aborted"),
    await data(3, 23, "aborted-2"),
    await marker(3, 24, false),
    await data(3, 25, "committed-after"),
    await marker(3, 26, true),
  ];
  const index: AbortedTxn[] = [
    // Producer 4's transaction has no batch in this response.
    { producerId: 4, firstOffset: 18, lastOffset: 30 },
    { producerId: 3, firstOffset: 22, lastOffset: 24 },
  ];
  const fitted = abortedForResponse(index, batches);
  assert.deepEqual(fitted, [{ producerId: 3, firstOffset: 22 }]);
  assert.deepEqual(await kafkajsView(batches, fitted, 20), [
    "committed-before",
    "committed-after",
  ]);
  // Two aborted transactions of one producer each keep their own first batch.
  const two: AbortedTxn[] = [
    { producerId: 3, firstOffset: 20, lastOffset: 21 },
    { producerId: 3, firstOffset: 22, lastOffset: 24 },
  ];
  assert.deepEqual(abortedForResponse(two, batches), [
    { producerId: 3, firstOffset: 20 },
    { producerId: 3, firstOffset: 22 },
  ]);
  assert.deepEqual(abortedForResponse(index, []), []);
  assert.deepEqual(abortedForResponse([], batches), []);
});
