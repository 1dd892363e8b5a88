import assert from "node:assert/strict";
import * as snappyNapi from "snappy";
import * as lz4Napi from "lz4-napi";
import {
  compress,
  compressionBackends,
  type CompressionCodec,
  decompress,
  loadCompression,
  zstdFrameContentSize,
} from "./compression.ts";
import {
  isXerialFramed,
  snappyCompressRaw,
  snappyCompressXerial,
  snappyDecompress,
  snappyDecompressRaw,
} from "./snappy_js.ts";
import { lz4CompressFrame, lz4DecompressFrame, xxhash32 } from "./lz4_js.ts";
import { CorruptRecordError, RecordError, RecordTooLargeError } from "./record_errors.ts";

const CODECS: CompressionCodec[] = ["none", "gzip", "snappy", "lz4", "zstd"];

/** Deterministic test payloads: empty, tiny, repetitive, pseudo-random, and multi-block. */
function payloads(): Uint8Array[] {
  let seed = 7;
  const random = new Uint8Array(100_000).map(() => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed >>> 24;
  });
  const text = new TextEncoder().encode(
    "the quick brown fox jumps over the lazy dog ".repeat(5000),
  );
  const mixed = new Uint8Array(300_000);
  for (let i = 0; i < mixed.length; i++) {
    mixed[i] = i % 1000 < 500 ? random[i % random.length]! : i & 7;
  }
  return [new Uint8Array(0), new Uint8Array([42]), text, random, mixed];
}

Deno.test("compress round-trips every codec on every payload", async () => {
  for (const codec of CODECS) {
    for (const data of payloads()) {
      const packed = await compress(codec, data);
      assert.deepEqual(await decompress(codec, packed), data, `${codec} ${data.length}`);
    }
  }
});

Deno.test("loadCompression reports the backend of every codec", async () => {
  const backends = await loadCompression();
  assert.deepEqual(backends, compressionBackends());
  assert.equal(backends.gzip, "node:zlib");
  assert.equal(backends.zstd, "wasm");
  // The addons load under `deno test`; the fallbacks are tested directly below.
  assert.equal(backends.snappy, "napi");
  assert.equal(backends.lz4, "napi");
});

Deno.test("compress writes xerial-framed snappy with the Java client's header", async () => {
  const packed = await compress("snappy", new TextEncoder().encode("abc"));
  // 0x82 "SNAPPY" 0x00, version 1, compatible version 1, then int32 block length and block.
  assert.deepEqual(
    [...packed.subarray(0, 16)],
    [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1],
  );
  assert.equal(new DataView(packed.buffer, packed.byteOffset).getInt32(16), packed.length - 20);
});

Deno.test("decompress reads raw snappy as librdkafka may write it", async () => {
  for (const data of payloads()) {
    const raw = new Uint8Array(snappyNapi.compressSync(data));
    assert.equal(isXerialFramed(raw), false);
    assert.deepEqual(await decompress("snappy", raw), data);
    assert.deepEqual(snappyDecompress(raw, 1 << 20), data);
  }
});

Deno.test("snappy JS fallback and the napi addon read each other", () => {
  for (const data of payloads()) {
    const js = snappyCompressRaw(data);
    assert.deepEqual(new Uint8Array(snappyNapi.uncompressSync(js) as Uint8Array), data);
    const napi = new Uint8Array(snappyNapi.compressSync(data));
    assert.deepEqual(snappyDecompressRaw(napi, 1 << 20), data);
    const framed = snappyCompressXerial(data);
    assert.deepEqual(snappyDecompress(framed, 1 << 20), data);
  }
  // Hand-made raw block: length 6, literal "ab", then a 2-byte-offset copy of 4 at distance 2.
  const block = new Uint8Array([6, (2 - 1) << 2, 0x61, 0x62, ((4 - 1) << 2) | 2, 2, 0]);
  assert.equal(new TextDecoder().decode(snappyDecompressRaw(block, 100)), "ababab");
});

Deno.test("lz4 JS fallback and the napi addon read each other", () => {
  for (const data of payloads()) {
    const js = lz4CompressFrame(data);
    assert.deepEqual(new Uint8Array(lz4Napi.decompressFrameSync(Buffer.from(js))), data);
    const napi = new Uint8Array(lz4Napi.compressFrameSync(Buffer.from(data)));
    assert.deepEqual(lz4DecompressFrame(napi, 1 << 20), data);
    const checked = new Uint8Array(
      lz4Napi.compressFrameSync(Buffer.from(data), { contentChecksum: true, blockChecksums: true }),
    );
    assert.deepEqual(lz4DecompressFrame(checked, 1 << 20), data);
  }
});

Deno.test("xxhash32 matches the reference check values", () => {
  assert.equal(xxhash32(new Uint8Array(0)), 0x02cc5d05);
  assert.equal(xxhash32(new TextEncoder().encode("a")), 0x550d7456);
  assert.equal(xxhash32(new TextEncoder().encode("abc")), 0x32d153ff);
  assert.equal(
    xxhash32(new TextEncoder().encode("Nobody inspects the spammish repetition")),
    0xe2293b2f,
  );
});

Deno.test("decompress reads a zstd frame without a content size", async () => {
  // Magic, FHD 0x00 (no content size, not single-segment), window descriptor 0x38 (128 KiB),
  // then three RLE blocks of 128 KiB each: header = last | type 1 << 1 | size << 3, one byte.
  const blocks = [0, 1, 2].flatMap((i) => {
    const h = (i === 2 ? 1 : 0) | (1 << 1) | (131072 << 3);
    return [h & 0xff, (h >>> 8) & 0xff, (h >>> 16) & 0xff, 65 + i];
  });
  const frame = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38, ...blocks]);
  assert.equal(zstdFrameContentSize(frame), null);
  const out = await decompress("zstd", frame);
  assert.equal(out.length, 3 * 131072);
  assert.equal(out[0], 65);
  assert.equal(out[out.length - 1], 67);
  await assert.rejects(decompress("zstd", frame, { maxBytes: 200_000 }), RecordTooLargeError);
});

Deno.test("decompress refuses output beyond maxBytes for every codec", async () => {
  const data = new Uint8Array(200_000).fill(1);
  for (const codec of CODECS) {
    const packed = await compress(codec, data);
    await assert.rejects(
      decompress(codec, packed, { maxBytes: 100_000 }),
      RecordTooLargeError,
      codec,
    );
  }
  assert.throws(() => snappyDecompress(snappyCompressXerial(data), 100_000), RecordTooLargeError);
  assert.throws(() => lz4DecompressFrame(lz4CompressFrame(data), 100_000), RecordTooLargeError);
  await assert.rejects(decompress("gzip", data, { maxBytes: -1 }), RangeError);
});

/** Every prefix must fail with a typed error or decode to a prefix of the original. */
async function checkPrefixes(
  name: string,
  packed: Uint8Array,
  original: Uint8Array,
  decode: (b: Uint8Array) => Promise<Uint8Array> | Uint8Array,
) {
  for (let len = 0; len < packed.length; len++) {
    try {
      const out = await decode(packed.subarray(0, len));
      assert.deepEqual(out, original.subarray(0, out.length), `${name} prefix ${len}`);
    } catch (err) {
      assert.ok(err instanceof RecordError, `${name} prefix ${len}: ${err}`);
    }
  }
}

Deno.test("decompress fails with a typed error on every truncation of every codec", async () => {
  const data = new TextEncoder().encode("truncate me, truncate me please; ".repeat(40));
  for (const codec of CODECS) {
    const packed = await compress(codec, data);
    await checkPrefixes(codec, packed, data, (b) => decompress(codec, b, { maxBytes: 1 << 16 }));
  }
  await checkPrefixes(
    "snappy-js",
    snappyCompressXerial(data),
    data,
    (b) => snappyDecompress(b, 1 << 16),
  );
  await checkPrefixes(
    "lz4-js",
    lz4CompressFrame(data),
    data,
    (b) => lz4DecompressFrame(b, 1 << 16),
  );
});

Deno.test("decompress rejects garbage with CorruptRecordError", async () => {
  const junk = new Uint8Array(64).map((_, i) => (i * 37) & 0xff);
  for (const codec of ["gzip", "snappy", "lz4", "zstd"] as const) {
    await assert.rejects(decompress(codec, junk, { maxBytes: 1 << 16 }), RecordError, codec);
  }
  // A flipped header checksum in an otherwise valid lz4 frame.
  const frame = lz4CompressFrame(new Uint8Array(10));
  frame[6]! ^= 1;
  assert.throws(() => lz4DecompressFrame(frame, 100), CorruptRecordError);
});
