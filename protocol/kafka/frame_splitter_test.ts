import assert from "node:assert/strict";
import { FrameSplitter } from "./frame_splitter.ts";
import { decodeRequestHeader, encodeRequestHeader } from "./header.ts";
import {
  createProduceRequest,
  decodeProduceRequest,
  encodeProduceRequest,
} from "./messages/mod.ts";
import { MalformedFrameError, Reader, Writer } from "./wire.ts";

function produceFrame(correlationId: number): Uint8Array {
  const w = new Writer();
  w.int32(0);
  encodeRequestHeader(w, { apiKey: 0, apiVersion: 9, correlationId, clientId: "c" });
  const req = createProduceRequest();
  req.acks = -1;
  req.topicData = [{
    name: "t",
    partitionData: [{ index: 0, records: new Uint8Array([1, 2, 3]) }],
  }];
  encodeProduceRequest(w, req, 9);
  w.setInt32At(0, w.length - 4);
  return w.finish().slice();
}

Deno.test("FrameSplitter fed one byte at a time yields each frame once, decodable", () => {
  const stream = new Uint8Array([...produceFrame(1), ...produceFrame(2), ...produceFrame(3)]);
  const s = new FrameSplitter();
  const frames: Uint8Array[] = [];
  for (let i = 0; i < stream.length; i++) frames.push(...s.push(stream.subarray(i, i + 1)));
  assert.equal(frames.length, 3);
  assert.equal(s.bufferedBytes, 0);
  frames.forEach((frame, i) => {
    const r = new Reader(frame);
    const h = decodeRequestHeader(r);
    assert.equal(h.correlationId, i + 1);
    const req = decodeProduceRequest(r, h.apiVersion);
    assert.deepEqual(req.topicData[0]!.partitionData[0]!.records, new Uint8Array([1, 2, 3]));
    assert.equal(r.remaining, 0);
  });
});

Deno.test("FrameSplitter returns whole frames from one chunk and keeps the tail", () => {
  const a = produceFrame(1);
  const s = new FrameSplitter();
  const out = s.push(new Uint8Array([...a, ...a.subarray(0, 5)]));
  assert.equal(out.length, 1);
  assert.equal(s.bufferedBytes, 5);
  assert.equal(s.push(a.subarray(5)).length, 1);
  assert.deepEqual(s.push(new Uint8Array([0, 0, 0, 0])), [new Uint8Array(0)]);
});

Deno.test("FrameSplitter rejects negative and oversized frame sizes before buffering", () => {
  assert.throws(
    () => new FrameSplitter().push(new Uint8Array([0xff, 0xff, 0xff, 0xff])),
    MalformedFrameError,
  );
  const s = new FrameSplitter({ maxFrameBytes: 16 });
  assert.throws(() => s.push(new Uint8Array([0, 0, 0, 17])), MalformedFrameError);
  assert.equal(
    new FrameSplitter({ maxFrameBytes: 16 }).push(new Uint8Array([0, 0, 0, 16])).length,
    0,
  );
  assert.throws(() => new FrameSplitter({ maxFrameBytes: -1 }), RangeError);
});

Deno.test("FrameSplitter yields the same frames however the stream is chunked", () => {
  const frames: Uint8Array[] = [];
  const parts: number[] = [];
  for (let i = 0; i < 20; i++) {
    const body = new Uint8Array((i * 37) % 300).map((_, j) => (i + j) & 0xff);
    frames.push(body);
    parts.push(
      body.length >>> 24,
      (body.length >>> 16) & 0xff,
      (body.length >>> 8) & 0xff,
      body.length & 0xff,
      ...body,
    );
  }
  const stream = new Uint8Array(parts);
  let seed = 7;
  for (let round = 0; round < 50; round++) {
    const s = new FrameSplitter();
    const out: Uint8Array[] = [];
    for (let pos = 0; pos < stream.length;) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const n = 1 + (seed % 97);
      out.push(...s.push(stream.slice(pos, pos + n)));
      pos += n;
    }
    assert.deepEqual(out, frames);
    assert.equal(s.bufferedBytes, 0);
  }
});
