import assert from "node:assert/strict";
import {
  encodeFrame,
  FrameDecoder,
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
