import assert from "node:assert/strict";
import { inferSchema, type MappingSettings, mapRecord, valueAtPath } from "./row_mapping.ts";

const _enc = new TextEncoder();
function _rec(value: string | Uint8Array | null, offset = 3) {
  return {
    topic: "orders",
    partition: 2,
    offset,
    timestamp: Date.UTC(2026, 0, 2, 3, 4, 5),
    key: _enc.encode("k1"),
    value: typeof value === "string" ? _enc.encode(value) : value,
  };
}
const _direct: MappingSettings = {
  schemaMapping: "direct",
  columnMappings: {},
  defaultValues: {},
  metadataColumns: [],
};
const _NOW = Date.UTC(2026, 11, 3, 12, 0, 0);

Deno.test("mapping direct: top-level fields become columns, objects become JSON text", () => {
  const r = mapRecord(_rec('{"id":1,"user":{"name":"a"},"tags":["x"]}'), _direct, _NOW);
  assert.deepEqual(r, {
    ok: true,
    rows: [{ insertId: "orders/2/3", json: { id: 1, user: '{"name":"a"}', tags: '["x"]' } }],
  });
});

Deno.test("mapping nested: objects stay RECORDs", () => {
  const r = mapRecord(_rec('{"id":1,"user":{"name":"a"}}'), {
    ..._direct,
    schemaMapping: "nested",
  }, _NOW);
  assert.deepEqual(r, {
    ok: true,
    rows: [{ insertId: "orders/2/3", json: { id: 1, user: { name: "a" } } }],
  });
});

Deno.test("mapping custom: dotted paths, defaults, CURRENT_TIMESTAMP()", () => {
  const s: MappingSettings = {
    schemaMapping: "custom",
    columnMappings: { user_id: "user.id", city: "user.address.city", first: "items.0.sku" },
    defaultValues: { city: "unknown", ingested_at: "CURRENT_TIMESTAMP()", n: 0 },
    metadataColumns: [],
  };
  const r = mapRecord(_rec('{"user":{"id":"u9"},"items":[{"sku":"A"}],"extra":1}'), s, _NOW);
  assert.deepEqual(r, {
    ok: true,
    rows: [{
      insertId: "orders/2/3",
      json: {
        user_id: "u9",
        first: "A",
        city: "unknown",
        ingested_at: "2026-12-03T12:00:00.000Z",
        n: 0,
      },
    }],
  });
  assert.equal(valueAtPath({ a: 1 }, "a.b"), undefined);
});

Deno.test("mapping: metadata columns", () => {
  const r = mapRecord(_rec('{"id":1}'), {
    ..._direct,
    metadataColumns: ["_topic", "_partition", "_offset", "_timestamp", "_key"],
  }, _NOW);
  assert.deepEqual(r.ok && r.rows[0]!.json, {
    id: 1,
    _topic: "orders",
    _partition: 2,
    _offset: 3,
    _timestamp: "2026-01-02T03:04:05.000Z",
    _key: "k1",
  });
});

Deno.test("mapping: an array of objects yields one row per element with indexed insertIds", () => {
  const r = mapRecord(_rec('[{"id":1},{"id":2}]', 10), _direct, _NOW);
  assert.deepEqual(r.ok && r.rows.map((x) => x.insertId), ["orders/2/10/0", "orders/2/10/1"]);
});

Deno.test("mapping: non-JSON and non-object values are refused with a reason", () => {
  const cases: [string | Uint8Array | null, RegExp][] = [
    ["not json", /^the value is not JSON/],
    [new Uint8Array([0xff, 0xfe]), /^the value is not JSON/],
    ["42", /must be a JSON object or an array of objects: found a number/],
    ['[{"a":1},3]', /found a number at index 1/],
    ["[]", /empty JSON array/],
    [null, /tombstone/],
  ];
  for (const [v, re] of cases) {
    const r = mapRecord(_rec(v), _direct, _NOW);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.reason : "", re);
  }
});

Deno.test("inferSchema: types from sample rows, RECORD and REPEATED, metadata fixed", () => {
  assert.deepEqual(
    inferSchema([
      { a: null, b: 1.5, c: true, _offset: 3 },
      { a: "x", d: { e: 1 }, f: ["s"], t: "2026-01-01T00:00:00.000Z" },
    ]),
    [
      { name: "a", type: "STRING" },
      { name: "b", type: "FLOAT" },
      { name: "c", type: "BOOLEAN" },
      { name: "_offset", type: "INTEGER" },
      { name: "d", type: "RECORD", fields: [{ name: "e", type: "INTEGER" }] },
      { name: "f", type: "STRING", mode: "REPEATED" },
      { name: "t", type: "TIMESTAMP" },
    ],
  );
});
