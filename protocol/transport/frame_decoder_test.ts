import assert from "node:assert/strict";
import {
  encodeFrame,
  encodeFrameParts,
  FrameDecoder,
  joinPayload,
  payloadLength,
  requestCorrelationId,
  responseCorrelationId,
} from "./frame_decoder.ts";
import { FrameTooLargeError } from "./errors.ts";

// Golden bytes: two frames, [0x01 0x02 0x03] and [], back to back.
const GOLDEN = new Uint8Array([0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0]);

Deno.test("encodeFrame prefixes the big-endian size", () => {
  assert.deepEqual(encodeFrame(new Uint8Array([1, 2, 3])), GOLDEN.subarray(0, 7));
  assert.deepEqual(encodeFrame(new Uint8Array(0)), new Uint8Array(4));
  const big = encodeFrame(new Uint8Array(0x010203));
  assert.deepEqual(big.subarray(0, 4), new Uint8Array([0, 1, 2, 3]));
});

Deno.test("FrameDecoder yields the same frames when fed one byte at a time", () => {
  const decoder = new FrameDecoder();
  const frames: Uint8Array[] = [];
  for (const byte of GOLDEN) {
    decoder.push(new Uint8Array([byte]));
    for (let f = decoder.next(); f !== null; f = decoder.next()) frames.push(f);
  }
  assert.deepEqual(frames, [new Uint8Array([1, 2, 3]), new Uint8Array(0)]);
  assert.equal(decoder.atBoundary, true);
});

Deno.test("FrameDecoder yields several frames from one chunk", () => {
  const decoder = new FrameDecoder();
  decoder.push(GOLDEN);
  assert.equal(decoder.readyFrames, 2);
  assert.deepEqual(decoder.next(), new Uint8Array([1, 2, 3]));
  assert.deepEqual(decoder.next(), new Uint8Array(0));
  assert.equal(decoder.next(), null);
});

Deno.test("FrameDecoder reports a partial frame as not at a boundary", () => {
  const decoder = new FrameDecoder();
  decoder.push(GOLDEN.subarray(0, 5));
  assert.equal(decoder.next(), null);
  assert.equal(decoder.atBoundary, false);
});

Deno.test("FrameDecoder rejects an oversized or negative size prefix before allocating", () => {
  const decoder = new FrameDecoder({ maxFrameBytes: 10 });
  assert.throws(
    () => decoder.push(new Uint8Array([0, 0, 0, 11])),
    (error) => error instanceof FrameTooLargeError && error.sizeBytes === 11,
  );
  // 0xffffffff is -1 as an int32: it must be refused, not read as tiny.
  assert.throws(
    () => new FrameDecoder({ maxFrameBytes: 10 }).push(new Uint8Array([0xff, 0xff, 0xff, 0xff])),
    FrameTooLargeError,
  );
});

Deno.test("FrameDecoder validates maxFrameBytes", () => {
  assert.throws(() => new FrameDecoder({ maxFrameBytes: -1 }), RangeError);
  assert.throws(() => new FrameDecoder({ maxFrameBytes: 2 ** 31 }), RangeError);
});

Deno.test("requestCorrelationId and responseCorrelationId read the Kafka header", () => {
  const request = new Uint8Array([0, 3, 0, 12, 0, 0, 1, 2]);
  assert.equal(requestCorrelationId(request), 258);
  assert.equal(requestCorrelationId(request.subarray(0, 7)), null);
  assert.equal(responseCorrelationId(new Uint8Array([0xff, 0xff, 0xff, 0xfe])), -2);
  assert.equal(responseCorrelationId(new Uint8Array(3)), null);
});

// Moved here with the removal of protocol/kafka's second frame splitter, whose tests these were.
Deno.test("FrameDecoder yields the same frames however the stream is chunked", () => {
  const frames: Uint8Array[] = [];
  const parts: number[] = [];
  for (let i = 0; i < 20; i++) {
    const body = new Uint8Array((i * 37) % 300).map((_, j) => (i + j) & 0xff);
    frames.push(body);
    parts.push(...encodeFrame(body));
  }
  const stream = new Uint8Array(parts);
  let seed = 7;
  for (let round = 0; round < 50; round++) {
    const decoder = new FrameDecoder();
    const out: Uint8Array[] = [];
    for (let pos = 0; pos < stream.length;) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const n = 1 + (seed % 97);
      decoder.push(stream.slice(pos, pos + n));
      for (let f = decoder.next(); f !== null; f = decoder.next()) out.push(f.slice());
      pos += n;
    }
    assert.deepEqual(out, frames);
    assert.equal(decoder.atBoundary, true);
  }
});

Deno.test("encodeFrameParts: long slices go out untouched, short runs are joined with the prefix", () => {
  const long = new Uint8Array(64 * 1024).fill(1);
  const small = new Uint8Array([2, 3]);
  const parts = encodeFrameParts([small, long, small, small]);
  assert.equal(parts.length, 3);
  assert.deepEqual(parts[0]!.subarray(4), small, "prefix and first slice share one write");
  assert.equal(parts[1], long, "the long slice is not copied");
  assert.deepEqual(parts[2], new Uint8Array([2, 3, 2, 3]));
  // The whole decodes back as one frame.
  const decoder = new FrameDecoder();
  for (const p of parts) decoder.push(p);
  assert.deepEqual(decoder.next(), joinPayload([small, long, small, small]));
  assert.equal(payloadLength([small, long]), 2 + long.length);
  // A single long buffer is not copied either; a short one is one buffer with its prefix.
  assert.equal(encodeFrameParts(long)[1], long);
  assert.deepEqual(encodeFrameParts(small), [encodeFrame(small)]);
});

Deno.test("FrameDecoder.directTarget lets a driver read a large body in place", () => {
  const body = new Uint8Array(1000).map((_, i) => i % 251);
  const wire = new Uint8Array([...encodeFrame(body), ...encodeFrame(new Uint8Array([9]))]);
  const decoder = new FrameDecoder();
  // Nothing to read into before a header announced a frame.
  assert.equal(decoder.directTarget(1), null);
  decoder.push(wire.subarray(0, 10));
  assert.equal(decoder.directTarget(995), null, "fewer bytes missing than asked for");
  const target = decoder.directTarget(100)!;
  assert.equal(target.length, 994);
  // A driver's read may return less than the target holds.
  target.set(wire.subarray(10, 500));
  decoder.received(490);
  assert.equal(decoder.next(), null);
  const rest = decoder.directTarget(1)!;
  assert.equal(rest.length, 504);
  rest.set(wire.subarray(500, 1004));
  decoder.received(504);
  assert.equal(decoder.directTarget(1), null);
  decoder.push(wire.subarray(1004));
  assert.deepEqual(decoder.next(), body);
  assert.deepEqual(decoder.next(), new Uint8Array([9]));
  assert.equal(decoder.atBoundary, true);
});

Deno.test("FrameDecoder.received refuses more bytes than the frame misses", () => {
  const decoder = new FrameDecoder();
  assert.throws(() => decoder.received(1), RangeError);
  decoder.push(new Uint8Array([0, 0, 0, 4, 1]));
  assert.throws(() => decoder.received(4), RangeError);
  decoder.received(3);
  assert.deepEqual(decoder.next(), new Uint8Array([1, 0, 0, 0]));
});

Deno.test("FrameDecoder gives every frame a buffer of its own that later input never touches", () => {
  const decoder = new FrameDecoder();
  const wire = new Uint8Array([
    ...encodeFrame(new Uint8Array([1, 2, 3])),
    ...encodeFrame(new Uint8Array([4, 5])),
  ]);
  decoder.push(wire);
  const a = decoder.next()!;
  const b = decoder.next()!;
  // A third frame read in place, as the listeners do for large requests.
  decoder.push(encodeFrame(new Uint8Array(64).fill(9)).subarray(0, 6));
  const target = decoder.directTarget(16)!;
  target.fill(9);
  decoder.received(target.length);
  const c = decoder.next()!;
  for (const f of [a, b, c]) {
    assert.equal(f.byteOffset, 0);
    assert.equal(f.buffer.byteLength, f.length, "the frame is its whole buffer");
  }
  wire.fill(0);
  decoder.push(encodeFrame(new Uint8Array([7, 7, 7])));
  assert.deepEqual([...a], [1, 2, 3]);
  assert.deepEqual([...b], [4, 5]);
  assert.equal(c.every((x) => x === 9), true);
});
