import assert from "node:assert/strict";
import { TxnIndex } from "./txn_index.ts";

Deno.test("TxnIndex holds the LSO at the oldest open transaction", () => {
  const ix = new TxnIndex();
  assert.equal(ix.lastStableOffset("p", 10), 10);
  ix.begin("p", 1, 4);
  ix.begin("p", 2, 6);
  ix.begin("p", 1, 8); // already open: the first offset stays
  assert.equal(ix.lastStableOffset("p", 10), 4);
  assert.equal(ix.end("p", 1, 9, true), null);
  assert.equal(ix.lastStableOffset("p", 12), 6);
  ix.end("p", 2, 12, false);
  assert.equal(ix.lastStableOffset("p", 13), 13);
  assert.equal(ix.lastStableOffset("other", 3), 3);
});

Deno.test("TxnIndex returns the aborted transactions that overlap a fetch range", () => {
  const ix = new TxnIndex();
  ix.begin("p", 1, 0);
  ix.end("p", 1, 5, false);
  ix.begin("p", 2, 6);
  ix.end("p", 2, 9, false);
  assert.deepEqual(ix.abortedIn("p", 0, 3).map((a) => a.producerId), [1]);
  assert.deepEqual(ix.abortedIn("p", 5, 20).map((a) => a.producerId), [1, 2]);
  assert.deepEqual(ix.abortedIn("p", 10, 20), []);
  ix.trim("p", 6);
  assert.deepEqual(ix.abortedIn("p", 0, 20).map((a) => a.producerId), [2]);
});

Deno.test("TxnIndex restores aborted entries in marker order without duplicates", () => {
  const ix = new TxnIndex();
  ix.restoreAborted("p", { producerId: 2, firstOffset: 6, lastOffset: 9 });
  ix.restoreAborted("p", { producerId: 1, firstOffset: 0, lastOffset: 5 });
  ix.restoreAborted("p", { producerId: 1, firstOffset: 0, lastOffset: 5 });
  assert.deepEqual(ix.abortedIn("p", 0, 20).map((a) => a.lastOffset), [5, 9]);
});
