/**
 * Turning a Kafka record into BigQuery rows: pure functions, no I/O.
 *
 * - `direct`: a JSON object's top-level fields become columns; nested objects and arrays are
 *   kept as JSON text, since a direct table has no RECORD columns.
 * - `nested`: the same, but objects stay objects (RECORD columns) and arrays stay REPEATED.
 * - `custom`: each column takes the value at a dotted source path; missing values fall back to
 *   `[schema.default_values]`, where `CURRENT_TIMESTAMP()` means the time of mapping.
 *
 * A value that is a JSON array of objects yields one row per element; a row's insertId is then
 * `topic/partition/offset/index`, otherwise `topic/partition/offset`. The ids are a function of
 * the record's position only, so a redelivered record carries the same ids and BigQuery drops
 * the copy.
 *
 * @module
 */

import type { MetadataColumn, SchemaMapping } from "./subscriber_config.ts";

/** A BigQuery row, ready for insertAll's `json`. */
export type Row = Record<string, unknown>;

/** A row with its deduplication id. */
export interface KeyedRow {
  readonly insertId: string;
  readonly json: Row;
}

/** The parts of a consumed record mapping needs. */
export interface SourceRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
}

/** The mapping settings, a slice of the subscriber configuration. */
export interface MappingSettings {
  readonly schemaMapping: SchemaMapping;
  readonly columnMappings: Readonly<Record<string, string>>;
  readonly defaultValues: Readonly<Record<string, unknown>>;
  readonly metadataColumns: readonly MetadataColumn[];
}

/** The outcome of mapping one record. */
export type MappingResult =
  | { readonly ok: true; readonly rows: readonly KeyedRow[] }
  | { readonly ok: false; readonly reason: string };

/** The default value that means "now". */
export const CURRENT_TIMESTAMP = "CURRENT_TIMESTAMP()";

const _decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Maps one record. `nowMs` is the time used for `CURRENT_TIMESTAMP()`.
 *
 * @example
 * ```ts
 * import { mapRecord } from "./row_mapping.ts";
 * import assert from "node:assert/strict";
 * const value = new TextEncoder().encode('{"user":{"id":7},"n":1}');
 * const r = mapRecord({ topic: "t", partition: 0, offset: 5, timestamp: 0, key: null, value }, {
 *   schemaMapping: "custom", columnMappings: { user_id: "user.id" },
 *   defaultValues: { source: "web" }, metadataColumns: [],
 * }, 0);
 * assert.deepEqual(r, { ok: true, rows: [{ insertId: "t/0/5", json: { user_id: 7, source: "web" } }] });
 * ```
 */
export function mapRecord(rec: SourceRecord, s: MappingSettings, nowMs: number): MappingResult {
  if (rec.value === null) return { ok: false, reason: "the record has no value (a tombstone)" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(_decoder.decode(rec.value));
  } catch (err) {
    return { ok: false, reason: `the value is not JSON: ${(err as Error).message}` };
  }
  const objects = Array.isArray(parsed) ? parsed : [parsed];
  if (objects.length === 0) return { ok: false, reason: "the value is an empty JSON array" };
  const base = `${rec.topic}/${rec.partition}/${rec.offset}`;
  const rows: KeyedRow[] = [];
  for (const [i, obj] of objects.entries()) {
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
      return {
        ok: false,
        reason: `the value must be a JSON object or an array of objects: found ${_kind(obj)}` +
          (objects.length > 1 ? ` at index ${i}` : ""),
      };
    }
    const json = _mapObject(obj as Record<string, unknown>, s, nowMs);
    _addMetadata(json, rec, s.metadataColumns);
    rows.push({ insertId: objects.length > 1 ? `${base}/${i}` : base, json });
  }
  return { ok: true, rows };
}

function _mapObject(obj: Record<string, unknown>, s: MappingSettings, nowMs: number): Row {
  const out: Row = {};
  if (s.schemaMapping === "custom") {
    for (const [col, path] of Object.entries(s.columnMappings)) {
      const v = valueAtPath(obj, path);
      if (v !== undefined) out[col] = v;
    }
  } else {
    for (const [k, v] of Object.entries(obj)) {
      out[k] = s.schemaMapping === "direct" && v !== null && typeof v === "object"
        ? JSON.stringify(v)
        : v;
    }
  }
  for (const [col, def] of Object.entries(s.defaultValues)) {
    if (out[col] === undefined || out[col] === null) {
      out[col] = def === CURRENT_TIMESTAMP ? new Date(nowMs).toISOString() : def;
    }
  }
  return out;
}

function _addMetadata(row: Row, rec: SourceRecord, cols: readonly MetadataColumn[]): void {
  for (const c of cols) {
    switch (c) {
      case "_topic":
        row._topic = rec.topic;
        break;
      case "_partition":
        row._partition = rec.partition;
        break;
      case "_offset":
        row._offset = rec.offset;
        break;
      case "_timestamp":
        row._timestamp = new Date(rec.timestamp).toISOString();
        break;
      case "_key":
        row._key = rec.key === null ? null : new TextDecoder().decode(rec.key);
        break;
    }
  }
}

/**
 * The value at a dotted path such as `user.address.city`, or undefined when any step is
 * missing. A numeric step indexes an array (`items.0.sku`).
 */
export function valueAtPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const step of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[step];
  }
  return cur;
}

function _kind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return `a ${typeof v}`;
}

/** One field of a BigQuery table schema. */
export interface SchemaField {
  name: string;
  type: string;
  mode?: "NULLABLE" | "REPEATED";
  fields?: SchemaField[];
}

/**
 * Infers a table schema from sample rows, for `AUTO_CREATE_TABLE`: the first non-null value of
 * each column decides its type. Metadata columns get their fixed types.
 */
export function inferSchema(rows: readonly Row[]): SchemaField[] {
  const names: string[] = [];
  const samples = new Map<string, unknown>();
  for (const row of rows) {
    for (const [k, v] of Object.entries(row)) {
      if (!samples.has(k)) names.push(k);
      if (!samples.has(k) || (samples.get(k) === null && v !== null)) samples.set(k, v);
    }
  }
  return names.map((n) => _field(n, samples.get(n)));
}

const _FIXED: Record<string, string> = {
  _topic: "STRING",
  _partition: "INTEGER",
  _offset: "INTEGER",
  _timestamp: "TIMESTAMP",
  _key: "STRING",
};

function _field(name: string, v: unknown): SchemaField {
  if (_FIXED[name] !== undefined) return { name, type: _FIXED[name] };
  if (Array.isArray(v)) {
    const inner = _field(name, v.find((x) => x !== null));
    return { ...inner, mode: "REPEATED" };
  }
  if (typeof v === "boolean") return { name, type: "BOOLEAN" };
  if (typeof v === "number") return { name, type: Number.isInteger(v) ? "INTEGER" : "FLOAT" };
  if (v !== null && typeof v === "object") {
    return { name, type: "RECORD", fields: inferSchema([v as Row]) };
  }
  if (typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v)) {
    return { name, type: "TIMESTAMP" };
  }
  return { name, type: "STRING" };
}
