import assert from "node:assert/strict";
import {
  readVarint,
  readVarlong,
  readVarlongBig,
  varintSize,
  varlongSize,
  writeVarint,
  writeVarlong,
  writeVarlongBig,
} from "./varint.ts";
import { CorruptRecordError } from "./record_errors.ts";

function encInt(v: number): number[] {
  const out = new Uint8Array(5);
  return [...out.subarray(0, writeVarint(out, 0, v))];
}

function encLong(v: number): number[] {
  const out = new Uint8Array(10);
  return [...out.subarray(0, writeVarlong(out, 0, v))];
}

// Zigzag table from the protobuf encoding guide, and 150 -> 0x96 0x01 (raw) = 75 zigzag.
const ZIGZAG_CASES: [number, number[]][] = [
  [0, [0x00]],
  [-1, [0x01]],
  [1, [0x02]],
  [-2, [0x03]],
  [63, [0x7e]],
  [-64, [0x7f]],
  [64, [0x80, 0x01]],
  [75, [0x96, 0x01]],
  [2147483647, [0xfe, 0xff, 0xff, 0xff, 0x0f]],
  [-2147483648, [0xff, 0xff, 0xff, 0xff, 0x0f]],
];

Deno.test("writeVarint matches the protobuf zigzag examples", () => {
  for (const [value, bytes] of ZIGZAG_CASES) {
    assert.deepEqual(encInt(value), bytes, `value ${value}`);
    assert.equal(varintSize(value), bytes.length);
    const c = { offset: 0 };
    assert.equal(readVarint(new Uint8Array(bytes), c), value);
    assert.equal(c.offset, bytes.length);
  }
});

Deno.test("writeVarlong agrees with writeVarint on int32 values and bigint on int64", () => {
  for (const [value, bytes] of ZIGZAG_CASES) assert.deepEqual(encLong(value), bytes);
  const big = [
    0n,
    -1n,
    2n ** 53n - 2n,
    -(2n ** 53n) + 2n,
    2n ** 53n,
    -(2n ** 53n),
    2n ** 63n - 1n,
    -(2n ** 63n),
    1234567890123n,
  ];
  for (const v of big) {
    const out = new Uint8Array(10);
    const n = writeVarlongBig(out, 0, v);
    const c = { offset: 0 };
    assert.equal(readVarlongBig(out, c), v);
    assert.equal(c.offset, n);
    if (v >= -(2n ** 53n) + 2n && v <= 2n ** 53n - 2n) {
      assert.deepEqual(encLong(Number(v)), [...out.subarray(0, n)]);
      assert.equal(readVarlong(out, { offset: 0 }), Number(v));
      assert.equal(varlongSize(Number(v)), n);
    } else {
      assert.throws(() => readVarlong(out, { offset: 0 }), CorruptRecordError);
    }
  }
});

Deno.test("readVarlong round-trips pseudo-random safe integers", () => {
  // A fixed LCG keeps the test deterministic.
  let seed = 12345;
  const out = new Uint8Array(10);
  for (let i = 0; i < 20000; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const mag = Math.floor((seed / 2 ** 32) * 2 ** (i % 53));
    const v = i % 2 === 0 ? mag : -mag - 1;
    const n = writeVarlong(out, 0, v);
    const c = { offset: 0 };
    assert.equal(readVarlong(out, c), v);
    assert.equal(c.offset, n);
    const i32 = v | 0;
    const m = writeVarint(out, 0, i32);
    const c2 = { offset: 0 };
    assert.equal(readVarint(out, c2), i32);
    assert.equal(c2.offset, m);
  }
});

Deno.test("readVarint rejects over-long and truncated input with CorruptRecordError", () => {
  assert.throws(
    () => readVarint(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), { offset: 0 }),
    CorruptRecordError,
  );
  // A fifth byte above 0x0f would overflow 32 bits.
  assert.throws(
    () => readVarint(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x1f]), { offset: 0 }),
    CorruptRecordError,
  );
  assert.throws(
    () => readVarlong(new Uint8Array(11).fill(0x80), { offset: 0 }),
    CorruptRecordError,
  );
  assert.throws(
    () => readVarlongBig(new Uint8Array(11).fill(0x80), { offset: 0 }),
    CorruptRecordError,
  );
  const full = new Uint8Array(10);
  writeVarlong(full, 0, -(2 ** 52));
  const n = varlongSize(-(2 ** 52));
  for (let len = 0; len < n; len++) {
    const cut = full.subarray(0, len);
    assert.throws(() => readVarlong(cut, { offset: 0 }), CorruptRecordError, `length ${len}`);
    assert.throws(() => readVarlongBig(cut, { offset: 0 }), CorruptRecordError);
    if (len < 5) assert.throws(() => readVarint(cut, { offset: 0 }), CorruptRecordError);
  }
});

Deno.test("writeVarlong refuses values that are not safe integers", () => {
  assert.throws(() => writeVarlong(new Uint8Array(10), 0, 2 ** 53), RangeError);
  assert.throws(() => writeVarlong(new Uint8Array(10), 0, 1.5), RangeError);
  assert.throws(() => writeVarlongBig(new Uint8Array(10), 0, 2n ** 63n), RangeError);
});
