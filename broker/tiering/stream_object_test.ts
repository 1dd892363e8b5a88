import assert from "node:assert/strict";
import { MemoryObjectStore } from "../object_store/memory_object_store.ts";
import { packObject, packObjectParts, readObjectIndex, readRange } from "./stream_object.ts";
import { buildBatch } from "../../protocol/record/record_batch.ts";

async function _inputs() {
  const batch = (value: number, n: number) =>
    buildBatch(
      Array.from({ length: n }, (_, i) => ({
        value: new Uint8Array(100 + i).fill(value),
        timestamp: 1000 + i,
      })),
    );
  return [
    { key: "a/0", batches: [await batch(1, 3), await batch(2, 5)], baseOffset: 0, lastOffset: 7 },
    { key: "bb/3", batches: [await batch(3, 1)], baseOffset: 40, lastOffset: 40 },
  ].map((p) => ({ ...p, maxTimestamp: 1004 }));
}

Deno.test("packObjectParts hands back the batches themselves, then one index buffer", async () => {
  const inputs = await _inputs();
  const packed = packObjectParts(inputs);
  const batches = inputs.flatMap((p) => p.batches);
  assert.equal(packed.parts.length, batches.length + 1);
  // The very same buffers: nothing was copied.
  batches.forEach((b, i) => assert.equal(packed.parts[i], b));
  assert.equal(packed.parts.at(-1)!.length, packed.metadataBytes);
  assert.equal(packed.sizeBytes, packed.parts.reduce((n, p) => n + p.length, 0));
});

Deno.test("packObjectParts stores the same object as packObject, readable by range", async () => {
  const inputs = await _inputs();
  const parts = packObjectParts(inputs);
  const whole = packObject(inputs);
  const store = new MemoryObjectStore();
  await store.put("obj", parts.parts);
  const stored = await store.get("obj");
  assert.deepEqual(stored, whole.bytes);
  assert.deepEqual(parts.ranges, whole.ranges);
  assert.deepEqual(readObjectIndex(stored), parts.ranges);
  const second = parts.ranges[1]!;
  assert.equal(second.position, inputs[0]!.batches[0]!.length + inputs[0]!.batches[1]!.length);
  assert.deepEqual(await readRange(store, "obj", second), inputs[1]!.batches[0]);
});
