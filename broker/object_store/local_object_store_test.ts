import assert from "node:assert/strict";
import { LocalObjectStore } from "./local_object_store.ts";
import { registerObjectStoreConformanceTests } from "./object_store_conformance.ts";
import { objectBodyBytes, ObjectStoreError } from "./object_store.ts";
import { loadLibc } from "../../ffi/libc.ts";
import { DirectFile } from "../../ffi/direct_file.ts";
import { tmpfsUnavailable, withTmpfs } from "../../tests/support/tmpfs.ts";
import { patternBytes } from "./object_store_conformance.ts";

// Direct I/O needs a real disk (tmpfs refuses O_DIRECT before Linux 6.6), hence /var/tmp.
const DIRECT_UNAVAILABLE = loadLibc() === null;

registerObjectStoreConformanceTests("LocalObjectStore", async () => {
  const rootDir = await Deno.makeTempDir({ prefix: "rustmq-local-store-" });
  const multipartThresholdBytes = 256 * 1024;
  return {
    store: new LocalObjectStore({ rootDir, multipartThresholdBytes, partSizeBytes: 256 * 1024 }),
    multipartThresholdBytes,
    cleanup: () => Deno.remove(rootDir, { recursive: true }),
  };
});

registerObjectStoreConformanceTests("LocalObjectStore with direct I/O", async () => {
  const rootDir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "rustmq-local-direct-" });
  const multipartThresholdBytes = 256 * 1024;
  const store = new LocalObjectStore({
    rootDir,
    multipartThresholdBytes,
    partSizeBytes: 256 * 1024,
    directIo: true,
  });
  assert.ok(store.writesDirect, "/var/tmp accepts O_DIRECT, so puts must use it");
  return {
    store,
    multipartThresholdBytes,
    cleanup: () => Deno.remove(rootDir, { recursive: true }),
  };
}, { ignore: DIRECT_UNAVAILABLE });

Deno.test({
  name: "LocalObjectStore direct puts of odd sizes and many slices read back byte for byte",
  ignore: DIRECT_UNAVAILABLE,
  async fn() {
    const rootDir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "rustmq-local-direct-" });
    const store = new LocalObjectStore({ rootDir, directIo: true });
    try {
      assert.ok(store.writesDirect);
      // Many stage segments long, not a multiple of 4096, in slices that straddle segments.
      const whole = patternBytes(8 * 1024 * 1024 * 2 + 4093, 7);
      const cuts = [0, 1, 4096, 3 * 1024 * 1024 + 5, 8 * 1024 * 1024 + 1, whole.length];
      const slices = cuts.slice(1).map((end, i) => whole.subarray(cuts[i]!, end));
      for (
        const [key, body] of [["a/sliced", slices], ["a/one", whole], ["a/tiny", [
          whole.subarray(0, 3),
        ]]] as const
      ) {
        const meta = await store.put(key, body);
        const size = objectBodyBytes(body);
        assert.equal(meta.sizeBytes, size, key);
        const back = await store.get(key);
        assert.equal(back.length, size, key);
        assert.ok(back.every((b, i) => b === whole[i]), `${key} reads back what was put`);
        assert.equal(
          (await Deno.stat(`${rootDir}/${key}`)).size,
          size,
          `${key}: the padding was cut`,
        );
      }
      const leftovers = [...Deno.readDirSync(`${rootDir}/.rustmq-tmp`)];
      assert.deepEqual(leftovers, [], "no temp files remain");
    } finally {
      await store.close();
      await Deno.remove(rootDir, { recursive: true });
    }
  },
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

// A real full disk: a tmpfs, which takes O_DIRECT from Linux 6.6 on (mounted as root).
const NO_DIRECT_TMPFS = tmpfsUnavailable((probe) => {
  const libc = loadLibc();
  return libc !== null && DirectFile.supported(libc, probe)
    ? null
    : "this kernel's tmpfs refuses O_DIRECT";
});
if (NO_DIRECT_TMPFS !== null) {
  console.warn(`local_object_store_test: the full-disk test is skipped: ${NO_DIRECT_TMPFS}`);
}

Deno.test({
  name:
    "LocalObjectStore direct put onto a full disk fails as unavailable, and works once there is room",
  ignore: NO_DIRECT_TMPFS !== null,
  async fn() {
    await withTmpfs(4 * 1024 * 1024, async (rootDir) => {
      const store = new LocalObjectStore({ rootDir, directIo: true });
      try {
        assert.ok(store.writesDirect, "the probe found O_DIRECT on this tmpfs");
        // Several segments long, so writes fail while others are in flight.
        const big = patternBytes(12 * 1024 * 1024 + 5, 3);
        await assert.rejects(store.put("a/big", big), (error: unknown) => {
          assert.ok(error instanceof ObjectStoreError, String(error));
          assert.equal(error.code, "OBJECT_STORE_UNAVAILABLE");
          assert.match(error.message, /a\/big/);
          return true;
        });
        assert.equal(await store.head("a/big"), null, "nothing was stored under the key");
        assert.deepEqual([...Deno.readDirSync(`${rootDir}/.rustmq-tmp`)], [], "no temp file");
        // The failed put's space is free again, so a put that fits succeeds.
        const small = patternBytes(1024 * 1024 + 7, 9);
        await store.put("a/small", small);
        const back = await store.get("a/small");
        assert.ok(back.length === small.length && back.every((b, i) => b === small[i]));
      } finally {
        await store.close();
      }
    });
  },
});
