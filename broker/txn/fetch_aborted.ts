/**
 * The aborted transactions a read_committed Fetch answers, fitted to the batches it returns.
 *
 * Kafka leaves the order of the list and the precision of each `firstOffset` to the client,
 * and the Java client and librdkafka cope with any order. kafkajs does not
 * (`consumer/filterAbortedMessages.js`): it walks the messages once, and at each message it
 * takes at most one entry from the head of the list, when the message's offset is at or past
 * that entry's `firstOffset`. A producer's records are dropped only while its entry is taken.
 * So an aborted transaction's records were visible to kafkajs when:
 * - the list is in marker order (the index keeps it so) and a transaction that began earlier
 *   was aborted later than one that began after it: its entry is still behind the other's
 *   when its records go by;
 * - two entries begin below the first message returned (a fetch from the middle of both): one
 *   message takes only one of them.
 *
 * The Jepsen-style transactional test found both (tests/txn_jepsen_test.ts). The list is
 * fitted to the response, which means the same to every client:
 * - each entry's `firstOffset` moves up to the base offset of the first batch of its producer
 *   in the response within the transaction (`[firstOffset, marker]`). No earlier record of that
 *   producer in the response belongs to the transaction, so nothing else is dropped.
 * - an entry with no such batch is left out, as it would drop nothing.
 * - the entries are sorted by `firstOffset`.
 *
 * The offsets are then distinct, and each is the offset of a batch that kafkajs sees (the first
 * batch may begin below the fetch offset; its first message returned is at or past its base
 * offset, and no other entry is below it). So kafkajs takes each entry at its own producer's
 * first batch.
 *
 * @module
 */

import { readBatchHeader } from "../../protocol/record/record_batch.ts";
import type { AbortedTxn } from "./txn_index.ts";

/** One entry of Fetch's `aborted_transactions`. */
export interface FetchAbortedTxn {
  readonly producerId: number;
  readonly firstOffset: number;
}

interface _Batch {
  readonly producerId: number;
  readonly baseOffset: number;
  readonly lastOffset: number;
}

/**
 * Fits `aborted` (the index's entries overlapping the fetched range) to the batches a Fetch
 * returns, as the module explains.
 *
 * @example
 * ```ts
 * import { abortedForResponse } from "./fetch_aborted.ts";
 * import assert from "node:assert/strict";
 * // No batch returned: nothing to drop.
 * assert.deepEqual(abortedForResponse([{ producerId: 7, firstOffset: 0, lastOffset: 4 }], []), []);
 * ```
 */
export function abortedForResponse(
  aborted: readonly AbortedTxn[],
  batches: readonly Uint8Array[],
): FetchAbortedTxn[] {
  if (aborted.length === 0 || batches.length === 0) return [];
  const byProducer = new Map<number, _Batch[]>();
  for (const bytes of batches) {
    const h = readBatchHeader(bytes);
    if (!h.isTransactional || h.isControl) continue;
    let list = byProducer.get(h.producerId);
    if (list === undefined) byProducer.set(h.producerId, list = []);
    list.push({ producerId: h.producerId, baseOffset: h.baseOffset, lastOffset: h.lastOffset });
  }
  const out: FetchAbortedTxn[] = [];
  for (const a of aborted) {
    const first = byProducer.get(a.producerId)?.find((b) =>
      b.lastOffset >= a.firstOffset && b.baseOffset < a.lastOffset
    );
    if (first === undefined) continue;
    out.push({ producerId: a.producerId, firstOffset: Math.max(first.baseOffset, a.firstOffset) });
  }
  return out.sort((x, y) => x.firstOffset - y.firstOffset);
}
