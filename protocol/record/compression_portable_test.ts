/**
 * The portable build: no napi addons, as it would run if they fail to load under
 * `deno compile`. This file sets the process-wide switch before anything loads a codec, so it
 * must stay a test module of its own.
 */
import assert from "node:assert/strict";
import { compress, decompress, loadCompression } from "./compression.ts";
import { buildBatch, decodeRecords } from "./record_batch.ts";

Deno.test("loadCompression with portableOnly runs snappy and lz4 in pure JS", async () => {
  const backends = await loadCompression({ portableOnly: true });
  assert.equal(backends.snappy, "js");
  assert.equal(backends.lz4, "js");
  assert.equal(backends.zstd, "wasm");
  const data = new TextEncoder().encode("portable ".repeat(10_000));
  for (const codec of ["snappy", "lz4"] as const) {
    assert.deepEqual(await decompress(codec, await compress(codec, data)), data);
    const batch = await buildBatch([{ value: data, timestamp: 1 }], { compression: codec });
    assert.deepEqual((await decodeRecords(batch)).records[0]?.value, data);
  }
});
