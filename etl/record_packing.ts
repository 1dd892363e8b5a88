/**
 * Packs records into one ArrayBuffer so a batch crosses to and from a Worker as a transfer
 * instead of a structured clone of every key and value, which cost most of the stage's time.
 *
 * Grammar (little-endian): `record = key_len:i32 value_len:i32 key value`, -1 for null;
 * a request is `record*`; a reply is, per input, `count:i32 record*count`, with count -1 for a
 * failed record (its reason travels beside the buffer).
 *
 * @module
 */

import type { EtlRecordData } from "./abi_instance.ts";

const _NULL = -1;

function _size(r: EtlRecordData): number {
  return 8 + (r.key?.length ?? 0) + (r.value?.length ?? 0);
}

/** Writes `records` at `at`; returns the offset after them. */
function _write(view: DataView, bytes: Uint8Array, at: number, records: EtlRecordData[]): number {
  for (const r of records) {
    view.setInt32(at, r.key ? r.key.length : _NULL, true);
    view.setInt32(at + 4, r.value ? r.value.length : _NULL, true);
    at += 8;
    if (r.key) {
      bytes.set(r.key, at);
      at += r.key.length;
    }
    if (r.value) {
      bytes.set(r.value, at);
      at += r.value.length;
    }
  }
  return at;
}

function _read(view: DataView, bytes: Uint8Array, c: { at: number }): EtlRecordData {
  const kl = view.getInt32(c.at, true);
  const vl = view.getInt32(c.at + 4, true);
  c.at += 8;
  const key = kl === _NULL ? null : bytes.subarray(c.at, c.at + kl);
  c.at += Math.max(kl, 0);
  const value = vl === _NULL ? null : bytes.subarray(c.at, c.at + vl);
  c.at += Math.max(vl, 0);
  return { key, value };
}

/**
 * Packs a request's records.
 *
 * @example
 * ```ts
 * import { packRecords, unpackRecords } from "./record_packing.ts";
 * import assert from "node:assert/strict";
 * const records = [{ key: null, value: new Uint8Array([1, 2]) }, { key: new Uint8Array(0), value: null }];
 * assert.deepEqual(unpackRecords(packRecords(records), 2), records);
 * ```
 */
export function packRecords(records: EtlRecordData[]): ArrayBuffer {
  const buf = new ArrayBuffer(records.reduce((n, r) => n + _size(r), 0));
  _write(new DataView(buf), new Uint8Array(buf), 0, records);
  return buf;
}

/** Reads `count` records packed by {@linkcode packRecords}; fields are views into `buf`. */
export function unpackRecords(buf: ArrayBuffer, count: number): EtlRecordData[] {
  const view = new DataView(buf);
  const bytes = new Uint8Array(buf);
  const c = { at: 0 };
  return Array.from({ length: count }, () => _read(view, bytes, c));
}

/** Packs a reply: each input's output records, or null for a failed input. */
export function packOutputs(outputs: (EtlRecordData[] | null)[]): ArrayBuffer {
  let size = 0;
  for (const o of outputs) size += 4 + (o ? o.reduce((n, r) => n + _size(r), 0) : 0);
  const buf = new ArrayBuffer(size);
  const view = new DataView(buf);
  const bytes = new Uint8Array(buf);
  let at = 0;
  for (const o of outputs) {
    view.setInt32(at, o ? o.length : _NULL, true);
    at = _write(view, bytes, at + 4, o ?? []);
  }
  return buf;
}

/** Reads `count` inputs' outputs packed by {@linkcode packOutputs}. */
export function unpackOutputs(buf: ArrayBuffer, count: number): (EtlRecordData[] | null)[] {
  const view = new DataView(buf);
  const bytes = new Uint8Array(buf);
  const c = { at: 0 };
  const out: (EtlRecordData[] | null)[] = [];
  for (let i = 0; i < count; i++) {
    const n = view.getInt32(c.at, true);
    c.at += 4;
    out.push(n === _NULL ? null : Array.from({ length: n }, () => _read(view, bytes, c)));
  }
  return out;
}
