import assert from "node:assert/strict";
import { GcsObjectStore } from "./gcs_object_store.ts";
import { ObjectStoreError, ObjectStoreUnavailableError } from "./object_store.ts";
import { registerObjectStoreConformanceTests } from "./object_store_conformance.ts";
import { startFakeGcsServer } from "../../tests/support/fake_gcs_server.ts";

const THRESHOLD_BYTES = 256 * 1024;

registerObjectStoreConformanceTests("GcsObjectStore on the fake GCS server", async () => {
  const gcs = await startFakeGcsServer();
  return {
    store: new GcsObjectStore({
      bucket: gcs.bucket,
      projectId: "rustmq-test",
      apiEndpoint: gcs.apiEndpoint,
      multipartThresholdBytes: THRESHOLD_BYTES,
      // Resumable uploads of the 10 MiB object go in 41 chunks.
      chunkSizeBytes: THRESHOLD_BYTES,
    }),
    multipartThresholdBytes: THRESHOLD_BYTES,
    cleanup: gcs.stop,
  };
}, { paginationKeyCount: 1100 });

Deno.test("GcsObjectStore uses one request up to the threshold and resumable chunks above", async () => {
  const gcs = await startFakeGcsServer();
  const store = new GcsObjectStore({
    bucket: gcs.bucket,
    projectId: "rustmq-test",
    apiEndpoint: gcs.apiEndpoint,
    multipartThresholdBytes: THRESHOLD_BYTES,
    chunkSizeBytes: THRESHOLD_BYTES,
  });
  try {
    await store.put("small", new Uint8Array(THRESHOLD_BYTES));
    assert.equal(gcs.requestCounts.get("upload:multipart"), 1);
    assert.equal(gcs.requestCounts.get("upload:resumable"), undefined);
    await store.put("big", new Uint8Array(3 * THRESHOLD_BYTES + 1));
    assert.equal(gcs.requestCounts.get("upload:resumable"), 1);
    assert.ok((gcs.requestCounts.get("upload:resumable-chunk") ?? 0) >= 4);
    assert.deepEqual(store.uploadStats, { singleRequestPuts: 1, resumablePuts: 1 });
    assert.equal((await store.head("big"))?.sizeBytes, 3 * THRESHOLD_BYTES + 1);
  } finally {
    await store.close();
    await gcs.stop();
  }
});

Deno.test("GcsObjectStore maps 503 to ObjectStoreUnavailableError and 403 to ObjectStoreError", async () => {
  const gcs = await startFakeGcsServer();
  const store = new GcsObjectStore({
    bucket: gcs.bucket,
    projectId: "rustmq-test",
    apiEndpoint: gcs.apiEndpoint,
  });
  try {
    await store.put("x", new Uint8Array([1]));
    gcs.failNext(1, 503);
    await assert.rejects(store.get("x"), (error: unknown) => {
      assert.ok(error instanceof ObjectStoreUnavailableError, String(error));
      assert.equal(error.retriable, true);
      assert.equal(error.status, 503);
      assert.match(
        error.message,
        /^Cannot get object 'x' from GCS bucket 'rustmq-test' as the server answered 503/,
      );
      return true;
    });
    gcs.failNext(1, 403);
    await assert.rejects(store.put("y", new Uint8Array([1])), (error: unknown) => {
      assert.ok(
        error instanceof ObjectStoreError && !(error instanceof ObjectStoreUnavailableError),
      );
      assert.equal(error.retriable, false);
      assert.equal(error.status, 403);
      return true;
    });
    // After the injected failures the store works again.
    assert.deepEqual(await store.get("x"), new Uint8Array([1]));
  } finally {
    await store.close();
    await gcs.stop();
  }
});

Deno.test("GcsObjectStore rejects a whole-object read whose CRC32C does not match", async () => {
  const gcs = await startFakeGcsServer();
  const store = new GcsObjectStore({
    bucket: gcs.bucket,
    projectId: "rustmq-test",
    apiEndpoint: gcs.apiEndpoint,
  });
  try {
    await store.put("x", new Uint8Array([1, 2, 3]));
    gcs.corruptNextMedia();
    await assert.rejects(store.get("x"), (error: unknown) => {
      assert.ok(error instanceof ObjectStoreUnavailableError, String(error));
      assert.equal(error.code, "OBJECT_CHECKSUM_MISMATCH");
      assert.match(error.message, /CRC32C of the 3 bytes read/);
      return true;
    });
    assert.deepEqual(await store.get("x"), new Uint8Array([1, 2, 3]));
  } finally {
    await store.close();
    await gcs.stop();
  }
});

Deno.test("GcsObjectStore reports an unreachable endpoint as ObjectStoreUnavailableError", async () => {
  const port = _closedPort();
  const store = new GcsObjectStore({
    bucket: "rustmq-test",
    projectId: "rustmq-test",
    apiEndpoint: `http://127.0.0.1:${port}`,
  });
  await assert.rejects(store.head("x"), ObjectStoreUnavailableError);
  await assert.rejects(store.put("x", new Uint8Array(1)), ObjectStoreUnavailableError);
});

/** A port nothing listens on: bind, note the port, close. */
function _closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
