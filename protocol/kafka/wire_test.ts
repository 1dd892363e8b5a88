import assert from "node:assert/strict";
import {
  checkVersion,
  FrameEncodeError,
  MalformedFrameError,
  Reader,
  recordsBytes,
  RecordSlices,
  requireNonNull,
  Writer,
  ZERO_UUID,
} from "./wire.ts";

function written(fn: (w: Writer) => void): Uint8Array {
  const w = new Writer({ initialBytes: 1 });
  fn(w);
  return w.finish().slice();
}

Deno.test("Writer grows from one byte and round-trips fixed-width integers", () => {
  const bytes = written((w) => {
    w.bool(true);
    w.int8(-128);
    w.int16(-2);
    w.uint16(65535);
    w.int32(-2147483648);
    w.uint32(0xffffffff);
    w.int64(-9223372036854775808n);
    w.float64(1.25);
  });
  assert.equal(bytes.length, 1 + 1 + 2 + 2 + 4 + 4 + 8 + 8);
  const r = new Reader(bytes);
  assert.equal(r.bool(), true);
  assert.equal(r.int8(), -128);
  assert.equal(r.int16(), -2);
  assert.equal(r.uint16(), 65535);
  assert.equal(r.int32(), -2147483648);
  assert.equal(r.uint32(), 0xffffffff);
  assert.equal(r.int64(), -9223372036854775808n);
  assert.equal(r.float64(), 1.25);
  assert.equal(r.remaining, 0);
});

Deno.test("Writer.uvarint uses the Kafka unsigned varint layout", () => {
  assert.deepEqual(written((w) => w.uvarint(0)), new Uint8Array([0]));
  assert.deepEqual(written((w) => w.uvarint(127)), new Uint8Array([0x7f]));
  assert.deepEqual(written((w) => w.uvarint(128)), new Uint8Array([0x80, 0x01]));
  assert.deepEqual(written((w) => w.uvarint(300)), new Uint8Array([0xac, 0x02]));
  const max = written((w) => w.uvarint(0xffffffff));
  assert.deepEqual(max, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]));
  assert.equal(new Reader(max).uvarint(), 0xffffffff);
});

Deno.test("Writer.varint and varlong zigzag-encode signed values", () => {
  assert.deepEqual(written((w) => w.varint(-1)), new Uint8Array([1]));
  assert.deepEqual(written((w) => w.varint(1)), new Uint8Array([2]));
  for (const v of [0, -1, 1, 63, -64, 2147483647, -2147483648]) {
    assert.equal(new Reader(written((w) => w.varint(v))).varint(), v);
  }
  for (const v of [0n, -1n, 1n, 9223372036854775807n, -9223372036854775808n]) {
    assert.equal(new Reader(written((w) => w.varlong(v))).varlong(), v);
  }
});

Deno.test("Reader.uvarint rejects varints longer than five bytes or 32 bits", () => {
  assert.throws(
    () => new Reader(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])).uvarint(),
    MalformedFrameError,
  );
  assert.throws(
    () => new Reader(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x1f])).uvarint(),
    MalformedFrameError,
  );
  assert.throws(() => new Reader(new Uint8Array([0x80])).uvarint(), MalformedFrameError);
});

Deno.test("Writer.uuid and Reader.uuid use Kafka's base64url text form", () => {
  assert.deepEqual(written((w) => w.uuid(ZERO_UUID)), new Uint8Array(16));
  const raw = new Uint8Array(16).map((_, i) => i * 17);
  const text = new Reader(raw).uuid();
  assert.equal(text.length, 22);
  assert.equal(
    text,
    btoa(String.fromCharCode(...raw)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_"),
  );
  assert.deepEqual(written((w) => w.uuid(text)), raw);
  assert.throws(() => written((w) => w.uuid("short")), FrameEncodeError);
  assert.throws(() => written((w) => w.uuid("!".repeat(22))), FrameEncodeError);
});

Deno.test("Writer.string writes ASCII and UTF-8 in both length encodings", () => {
  assert.deepEqual(written((w) => w.string("ab", false)), new Uint8Array([0, 2, 0x61, 0x62]));
  assert.deepEqual(written((w) => w.string("ab", true)), new Uint8Array([3, 0x61, 0x62]));
  assert.deepEqual(written((w) => w.nullableString(null, false)), new Uint8Array([0xff, 0xff]));
  assert.deepEqual(written((w) => w.nullableString(null, true)), new Uint8Array([0]));
  for (const s of ["", "é", "日本語", "x".repeat(200), "ü".repeat(100)]) {
    for (const flex of [false, true]) {
      const r = new Reader(written((w) => w.string(s, flex)));
      assert.equal(r.string(flex), s);
      assert.equal(r.remaining, 0);
    }
  }
});

Deno.test("Writer.string refuses more than 32767 bytes without a compact prefix", () => {
  assert.throws(() => written((w) => w.string("x".repeat(40000), false)), FrameEncodeError);
  assert.throws(() => written((w) => w.string("é".repeat(20000), false)), FrameEncodeError);
  const r = new Reader(written((w) => w.string("x".repeat(40000), true)));
  assert.equal(r.string(true).length, 40000);
});

Deno.test("Writer enforces maxBytes", () => {
  const w = new Writer({ initialBytes: 4, maxBytes: 8 });
  w.int64(1n);
  assert.throws(() => w.int8(1), FrameEncodeError);
  assert.throws(() => new Writer({ initialBytes: 0 }), RangeError);
});

Deno.test("Writer.endSized inserts a one- or two-byte size prefix", () => {
  for (const n of [0, 5, 127, 128, 1000]) {
    const bytes = written((w) => {
      w.int8(7);
      const mark = w.beginSized();
      w.raw(new Uint8Array(n).fill(9));
      w.endSized(mark);
      w.int8(8);
    });
    const r = new Reader(bytes);
    assert.equal(r.int8(), 7);
    const end = r.taggedFieldEnd();
    assert.equal(end - r.offset, n);
    r.skip(n);
    assert.equal(r.int8(), 8);
    assert.equal(r.remaining, 0);
  }
});

Deno.test("Writer.setInt32At patches a reserved frame length", () => {
  const w = new Writer();
  w.int32(0);
  w.int16(5);
  w.setInt32At(0, w.length - 4);
  assert.deepEqual(w.finish(), new Uint8Array([0, 0, 0, 2, 0, 5]));
  assert.throws(() => w.setInt32At(4, 1), RangeError);
});

Deno.test("Reader copies bytes fields but returns records as a view", () => {
  const frame = written((w) => {
    w.bytes(new Uint8Array([1, 2]), false);
    w.nullableBytes(new Uint8Array([3]), true);
  });
  const r = new Reader(frame);
  const b = r.bytes(false);
  assert.deepEqual(b, new Uint8Array([1, 2]));
  assert.notEqual(b.buffer, frame.buffer);
  const rec = r.records(true)!;
  assert.deepEqual(rec, new Uint8Array([3]));
  assert.equal(rec.buffer, frame.buffer);
  assert.equal(new Reader(new Uint8Array([0xff, 0xff, 0xff, 0xff])).records(false), null);
});

Deno.test("Reader rejects hostile lengths before allocating", () => {
  const huge = new Uint8Array([0x7f, 0xff, 0xff, 0xff, 0]);
  assert.throws(() => new Reader(huge).bytes(false), MalformedFrameError);
  assert.throws(() => new Reader(huge).arrayLength(false, 1), MalformedFrameError);
  assert.throws(
    () => new Reader(new Uint8Array([0x7f, 0xff, 0])).string(false),
    MalformedFrameError,
  );
  // A compact length of 2^32 - 2 elements.
  const compact = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]);
  assert.throws(() => new Reader(compact).arrayLength(true, 1), MalformedFrameError);
  assert.throws(() => new Reader(compact).taggedFieldCount(), MalformedFrameError);
  // Lengths below -1 are never valid.
  assert.throws(
    () => new Reader(new Uint8Array([0xff, 0xfe])).nullableString(false),
    MalformedFrameError,
  );
  // Each element needs at least minElementBytes.
  assert.throws(
    () => new Reader(new Uint8Array([0, 0, 0, 2, 1, 2, 3, 4])).arrayLength(false, 8),
    MalformedFrameError,
  );
});

Deno.test("Reader reports the offset of a truncated read", () => {
  const r = new Reader(new Uint8Array([1, 2, 3]));
  r.int16();
  assert.throws(() => r.int32(), (e: unknown) => {
    assert.ok(e instanceof MalformedFrameError);
    assert.equal(e.offset, 2);
    assert.equal(e.code, "MALFORMED_FRAME");
    assert.equal(e.retriable, false);
    return true;
  });
});

Deno.test("Reader.skipTaggedFields skips unknown fields and rejects oversized ones", () => {
  const r = new Reader(new Uint8Array([2, 5, 1, 0xaa, 6, 0, 0x42]));
  r.skipTaggedFields();
  assert.equal(r.int8(), 0x42);
  assert.throws(
    () => new Reader(new Uint8Array([1, 5, 9, 0xaa])).skipTaggedFields(),
    MalformedFrameError,
  );
});

Deno.test("requireNonNull and checkVersion guard generated codecs", () => {
  assert.equal(requireNonNull("a", "X.y", 1), "a");
  assert.throws(() => requireNonNull(null, "X.y", 1), FrameEncodeError);
  checkVersion("X", 2, 0, 3);
  assert.throws(() => checkVersion("X", 4, 0, 3), RangeError);
});

Deno.test("a referencing Writer keeps long byte fields as slices, in order, without copying", () => {
  const big = new Uint8Array(100).fill(7);
  const w = new Writer({ initialBytes: 1, referenceFrom: 50 });
  w.int16(1);
  w.bytes(big, false);
  w.bytes(new Uint8Array([9]), false);
  const parts = w.finishParts();
  assert.ok(Array.isArray(parts));
  assert.equal(parts.length, 3);
  assert.equal(parts[1], big, "the long field is the caller's own array");
  assert.equal(w.length, 2 + 4 + 100 + 4 + 1);
  // finish() joins the same bytes a copying writer writes.
  const plain = new Writer();
  plain.int16(1);
  plain.bytes(big, false);
  plain.bytes(new Uint8Array([9]), false);
  assert.deepEqual(w.finish(), plain.finish());
  w.reset();
  w.int8(3);
  assert.deepEqual(w.finishParts(), new Uint8Array([3]));
});

Deno.test("RECORDS slices encode exactly as their joined bytes, and decode as plain bytes", () => {
  const a = new Uint8Array([1, 2, 3]);
  const b = new Uint8Array([4, 5]);
  for (const flexible of [false, true]) {
    const sliced = new Writer({ referenceFrom: 2 });
    sliced.records(new RecordSlices([a, b]), flexible);
    const joined = new Writer();
    joined.records(new Uint8Array([1, 2, 3, 4, 5]), flexible);
    const bytes = sliced.finish();
    assert.deepEqual(bytes, joined.finish());
    assert.deepEqual(new Reader(bytes).records(flexible), new Uint8Array([1, 2, 3, 4, 5]));
    const none = new Writer();
    none.records(null, flexible);
    assert.equal(new Reader(none.finish()).records(flexible), null);
  }
  assert.deepEqual(recordsBytes(new RecordSlices([a, b])), new Uint8Array([1, 2, 3, 4, 5]));
  assert.equal(recordsBytes(new RecordSlices([a])), a);
});

Deno.test("a referencing Writer still refuses to pass maxBytes", () => {
  const w = new Writer({ initialBytes: 8, maxBytes: 64, referenceFrom: 8 });
  assert.throws(() => w.bytes(new Uint8Array(100), false), FrameEncodeError);
});
