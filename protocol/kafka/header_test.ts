import assert from "node:assert/strict";
import {
  decodeRequestHeader,
  decodeResponseHeader,
  encodeRequestHeader,
  encodeResponseHeader,
  requestHeaderVersion,
  responseHeaderVersion,
} from "./header.ts";
import { ApiKey } from "./api_keys.ts";
import { MalformedFrameError, Reader, Writer } from "./wire.ts";

function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

Deno.test("requestHeaderVersion follows flexible versions and ControlledShutdown v0", () => {
  assert.equal(requestHeaderVersion(ApiKey.Produce, 8), 1);
  assert.equal(requestHeaderVersion(ApiKey.Produce, 9), 2);
  assert.equal(requestHeaderVersion(ApiKey.ApiVersions, 2), 1);
  assert.equal(requestHeaderVersion(ApiKey.ApiVersions, 3), 2);
  // A version newer than any known one is still flexible, so the header parses.
  assert.equal(requestHeaderVersion(ApiKey.ApiVersions, 99), 2);
  assert.equal(requestHeaderVersion(ApiKey.ControlledShutdown, 0), 0);
  assert.equal(requestHeaderVersion(ApiKey.SaslHandshake, 1), 1);
  assert.equal(requestHeaderVersion(9999, 0), 1);
});

Deno.test("responseHeaderVersion uses v0 for every ApiVersions response", () => {
  assert.equal(responseHeaderVersion(ApiKey.Fetch, 11), 0);
  assert.equal(responseHeaderVersion(ApiKey.Fetch, 12), 1);
  assert.equal(responseHeaderVersion(ApiKey.ApiVersions, 3), 0);
  assert.equal(responseHeaderVersion(ApiKey.ApiVersions, 4), 0);
});

Deno.test("encodeRequestHeader matches golden bytes for header v1 and v2", () => {
  const w = new Writer();
  encodeRequestHeader(w, { apiKey: 18, apiVersion: 0, correlationId: 1, clientId: "ab" });
  assert.deepEqual(w.finish(), hex("0012 0000 00000001 0002 6162"));
  w.reset();
  // The client id keeps its int16 length in header v2; a TAG_BUFFER follows.
  encodeRequestHeader(w, { apiKey: 18, apiVersion: 3, correlationId: 1, clientId: "ab" });
  assert.deepEqual(w.finish(), hex("0012 0003 00000001 0002 6162 00"));
  w.reset();
  encodeRequestHeader(w, { apiKey: 7, apiVersion: 0, correlationId: 2, clientId: "ignored" });
  assert.deepEqual(w.finish(), hex("0007 0000 00000002"));
});

Deno.test("decodeRequestHeader leaves the reader at the body", () => {
  const frame = hex("0000 0009 0000002a ffff 01 00 01 aa 03 7478");
  const r = new Reader(frame);
  const h = decodeRequestHeader(r);
  assert.deepEqual(h, { apiKey: 0, apiVersion: 9, correlationId: 42, clientId: null });
  assert.equal(r.offset, 14);
  assert.equal(r.uvarint(), 3);
});

Deno.test("decodeRequestHeader round-trips every header version", () => {
  for (
    const h of [
      { apiKey: 7, apiVersion: 0, correlationId: -1, clientId: null },
      { apiKey: 3, apiVersion: 1, correlationId: 5, clientId: "client-é" },
      { apiKey: 3, apiVersion: 12, correlationId: 6, clientId: "c" },
    ]
  ) {
    const w = new Writer();
    encodeRequestHeader(w, h);
    const r = new Reader(w.finish());
    assert.deepEqual(decodeRequestHeader(r), h);
    assert.equal(r.remaining, 0);
  }
});

Deno.test("decodeRequestHeader throws MalformedFrameError at every truncation", () => {
  const frame = hex("0000 0009 0000002a 0003 616263 01 00 01 ff");
  for (let n = 0; n < 17; n++) {
    assert.throws(() => decodeRequestHeader(new Reader(frame, 0, n)), MalformedFrameError);
  }
  decodeRequestHeader(new Reader(frame, 0, 17));
});

Deno.test("encodeResponseHeader and decodeResponseHeader agree on v0 and v1", () => {
  const w = new Writer();
  encodeResponseHeader(w, ApiKey.Metadata, 9, 42);
  assert.deepEqual(w.finish(), hex("0000002a 00"));
  assert.deepEqual(decodeResponseHeader(new Reader(w.finish()), ApiKey.Metadata, 9), {
    correlationId: 42,
  });
  w.reset();
  encodeResponseHeader(w, ApiKey.ApiVersions, 3, 42);
  assert.deepEqual(w.finish(), hex("0000002a"));
  const r = new Reader(hex("0000002a 01 05 00"));
  decodeResponseHeader(r, ApiKey.Fetch, 12);
  assert.equal(r.remaining, 0);
  assert.throws(
    () => decodeResponseHeader(new Reader(hex("0000002a")), ApiKey.Fetch, 12),
    MalformedFrameError,
  );
});
