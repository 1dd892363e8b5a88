import assert from "node:assert/strict";
import { crc32c, crc32cBackend, crc32cJs } from "./crc32c.ts";

function _bitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

Deno.test("crc32c matches the RFC 3720 check value", () => {
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
});

Deno.test("crc32c agrees with a bitwise reference at every length and split", () => {
  const data = new Uint8Array(1031);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
  for (let len = 0; len <= data.length; len += 13) {
    const slice = data.subarray(0, len);
    assert.equal(crc32c(slice), _bitwise(slice));
    const cut = len >> 1;
    assert.equal(crc32c(slice.subarray(cut), crc32c(slice.subarray(0, cut))), _bitwise(slice));
  }
});

Deno.test("crc32c native and JavaScript paths agree, including continuations", () => {
  const data = new Uint8Array(70_000);
  crypto.getRandomValues(data.subarray(0, 65536));
  for (const len of [0, 255, 256, 4096, 70_000]) {
    const s = data.subarray(0, len);
    assert.equal(crc32c(s), crc32cJs(s), `length ${len} (${crc32cBackend()})`);
    assert.equal(crc32c(s.subarray(300), crc32c(s.subarray(0, 300))), crc32cJs(s));
  }
});
