/**
 * Records of the internal `__transaction_state` topic. Two kinds, told apart by the key's
 * leading int16 version, as in Kafka's own layout:
 *
 * ```text
 * key v0 (transaction)    => version:int16(0) transactional_id:string
 * key v1 (aborted range)  => version:int16(1) topic:string partition:int32 last_offset:int64
 * value                   => UTF-8 JSON: {v:1, ...TxnMetadata} or {v:1, producerId, firstOffset}
 * ```
 *
 * Kafka's value layout is a binary schema; RustMQ's JSON carries what Kafka keeps in its
 * producer-state snapshots and `.txnindex` files as well (the partitions' first offsets and the
 * aborted ranges), because here this topic is the only place they survive a restart. Both
 * kinds are compacted by key: a transaction's latest state wins, and each aborted range has a
 * key of its own.
 *
 * @module
 */

import type { TxnMetadata, TxnState } from "./txn_coordinator.ts";
import type { AbortedTxn } from "./txn_index.ts";

/** A record that cannot be read back; loading skips it and says so. */
export class TxnRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TxnRecordError";
  }
}

/** A decoded key. */
export type TxnKey =
  | { readonly kind: "txn"; readonly transactionalId: string }
  | {
    readonly kind: "aborted";
    readonly topic: string;
    readonly partition: number;
    readonly lastOffset: number;
  };

const _enc = new TextEncoder();
const _dec = new TextDecoder("utf-8", { fatal: true });
const _STATES: readonly TxnState[] = [
  "Empty",
  "Ongoing",
  "PrepareCommit",
  "PrepareAbort",
  "CompleteCommit",
  "CompleteAbort",
];

function _string(s: string): Uint8Array {
  const b = _enc.encode(s);
  if (b.length > 0x7fff) throw new RangeError(`Cannot encode a key string of ${b.length} bytes`);
  const out = new Uint8Array(2 + b.length);
  new DataView(out.buffer).setInt16(0, b.length);
  out.set(b, 2);
  return out;
}

/** The key of a transactional id's state. */
export function encodeTxnKey(transactionalId: string): Uint8Array {
  const s = _string(transactionalId);
  const out = new Uint8Array(2 + s.length);
  out.set(s, 2);
  return out;
}

/** The key of one aborted range of one partition. */
export function encodeAbortedKey(topic: string, partition: number, lastOffset: number): Uint8Array {
  const s = _string(topic);
  const out = new Uint8Array(2 + s.length + 12);
  const v = new DataView(out.buffer);
  v.setInt16(0, 1);
  out.set(s, 2);
  v.setInt32(2 + s.length, partition);
  v.setBigInt64(6 + s.length, BigInt(lastOffset));
  return out;
}

/** Decodes either key kind. */
export function decodeTxnKey(key: Uint8Array): TxnKey {
  const v = new DataView(key.buffer, key.byteOffset, key.byteLength);
  if (key.length < 4) {
    throw new TxnRecordError(`Cannot read a transaction key of ${key.length} bytes`);
  }
  const version = v.getInt16(0);
  const len = v.getInt16(2);
  if (len < 0 || 4 + len > key.length) {
    throw new TxnRecordError("Cannot read a transaction key: bad length");
  }
  const text = _dec.decode(key.subarray(4, 4 + len));
  if (version === 0) return { kind: "txn", transactionalId: text };
  if (version === 1 && key.length === 4 + len + 12) {
    return {
      kind: "aborted",
      topic: text,
      partition: v.getInt32(4 + len),
      lastOffset: Number(v.getBigInt64(8 + len)),
    };
  }
  throw new TxnRecordError(`Cannot read a transaction key of version ${version}`);
}

/** The value of a transactional id's state. */
export function encodeTxnValue(m: TxnMetadata): Uint8Array {
  return _enc.encode(JSON.stringify({ v: 1, ...m }));
}

/** The value of an aborted range. */
export function encodeAbortedValue(a: AbortedTxn): Uint8Array {
  return _enc.encode(
    JSON.stringify({ v: 1, producerId: a.producerId, firstOffset: a.firstOffset }),
  );
}

function _json(value: Uint8Array): Record<string, unknown> {
  let o: unknown;
  try {
    o = JSON.parse(_dec.decode(value));
  } catch (err) {
    throw new TxnRecordError(`Cannot parse a transaction record: ${(err as Error).message}`);
  }
  if (typeof o !== "object" || o === null || (o as { v?: unknown }).v !== 1) {
    throw new TxnRecordError("Cannot read a transaction record of an unknown version");
  }
  return o as Record<string, unknown>;
}

function _int(o: Record<string, unknown>, k: string): number {
  const x = o[k];
  if (!Number.isSafeInteger(x)) throw new TxnRecordError(`Cannot read a transaction record: ${k}`);
  return x as number;
}

/** Decodes a transactional id's state. */
export function decodeTxnValue(transactionalId: string, value: Uint8Array): TxnMetadata {
  const o = _json(value);
  const state = o.state as TxnState;
  if (!_STATES.includes(state)) throw new TxnRecordError(`Cannot read transaction state ${state}`);
  if (!Array.isArray(o.partitions) || !Array.isArray(o.groups) || !Array.isArray(o.offsets)) {
    throw new TxnRecordError("Cannot read a transaction record: missing lists");
  }
  return {
    transactionalId,
    producerId: _int(o, "producerId"),
    producerEpoch: _int(o, "producerEpoch"),
    timeoutMs: _int(o, "timeoutMs"),
    state,
    partitions: o.partitions as TxnMetadata["partitions"],
    groups: o.groups as string[],
    offsets: o.offsets as TxnMetadata["offsets"],
    startMs: _int(o, "startMs"),
    updateMs: _int(o, "updateMs"),
  };
}

/** Decodes an aborted range. */
export function decodeAbortedValue(lastOffset: number, value: Uint8Array): AbortedTxn {
  const o = _json(value);
  return {
    producerId: _int(o, "producerId"),
    firstOffset: _int(o, "firstOffset"),
    lastOffset,
  };
}
