import assert from "node:assert/strict";
import { LocalObjectStore } from "./local_object_store.ts";
import { registerObjectStoreConformanceTests } from "./object_store_conformance.ts";
import { ObjectStoreError } from "./object_store.ts";

registerObjectStoreConformanceTests("LocalObjectStore", async () => {
  const rootDir = await Deno.makeTempDir({ prefix: "rustmq-local-store-" });
  const multipartThresholdBytes = 256 * 1024;
  return {
    store: new LocalObjectStore({ rootDir, multipartThresholdBytes, partSizeBytes: 256 * 1024 }),
    multipartThresholdBytes,
    cleanup: () => Deno.remove(rootDir, { recursive: true }),
  };
});

Deno.test("LocalObjectStore maps keys to subdirectories and leaves no temp files", async () => {
  const rootDir = await Deno.makeTempDir({ prefix: "rustmq-local-store-" });
  try {
    const store = new LocalObjectStore({ rootDir });
    await store.put("a/b/c.obj", new Uint8Array([1, 2, 3]));
    assert.deepEqual(await Deno.readFile(`${rootDir}/a/b/c.obj`), new Uint8Array([1, 2, 3]));
    assert.deepEqual([...Deno.readDirSync(`${rootDir}/.rustmq-tmp`)], []);
    await store.delete("a/b/c.obj");
    // Empty parent directories go with the last object in them.
    assert.deepEqual([...Deno.readDirSync(rootDir)].map((e) => e.name), [".rustmq-tmp"]);
  } finally {
    await Deno.remove(rootDir, { recursive: true });
  }
});

Deno.test("LocalObjectStore rejects the reserved temp directory as a key", async () => {
  const rootDir = await Deno.makeTempDir({ prefix: "rustmq-local-store-" });
  try {
    const store = new LocalObjectStore({ rootDir });
    await assert.rejects(store.put(".rustmq-tmp/x", new Uint8Array(1)), RangeError);
  } finally {
    await Deno.remove(rootDir, { recursive: true });
  }
});

Deno.test("LocalObjectStore reports a file/directory key clash as ObjectStoreError", async () => {
  const rootDir = await Deno.makeTempDir({ prefix: "rustmq-local-store-" });
  try {
    const store = new LocalObjectStore({ rootDir });
    await store.put("x/y", new Uint8Array(1));
    await assert.rejects(store.put("x", new Uint8Array(1)), (error: unknown) => {
      assert.ok(error instanceof ObjectStoreError);
      assert.equal(error.code, "OBJECT_KEY_CONFLICT");
      assert.match(error.message, /^Cannot put object 'x' into local directory '/);
      return true;
    });
  } finally {
    await Deno.remove(rootDir, { recursive: true });
  }
});
