import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { S3ObjectStore } from "./s3_object_store.ts";
import { patternBytes, registerObjectStoreConformanceTests } from "./object_store_conformance.ts";
import {
  ObjectNotFoundError,
  ObjectStoreError,
  ObjectStoreUnavailableError,
} from "./object_store.ts";
import { startS3rver } from "../../tests/support/s3rver_server.ts";

registerObjectStoreConformanceTests("S3ObjectStore on s3rver", async () => {
  const s3 = await startS3rver();
  const multipartThresholdBytes = 256 * 1024;
  return {
    store: new S3ObjectStore({
      bucket: s3.bucket,
      endpoint: s3.endpoint,
      forcePathStyle: true,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      multipartThresholdBytes,
      partSizeBytes: multipartThresholdBytes,
    }),
    multipartThresholdBytes,
    cleanup: s3.stop,
  };
}, {
  skipEmptyObjectRangeBecause: "s3rver 3.7.1 answers 206 with Content-Length 1 and no body " +
    "(real S3 answers 416)",
});

Deno.test("S3ObjectStore uploads in parts above the threshold on s3rver", async () => {
  const s3 = await startS3rver();
  const store = new S3ObjectStore({
    bucket: s3.bucket,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    multipartThresholdBytes: 100_000,
    partSizeBytes: 100_000,
    partConcurrencyMax: 2,
  });
  try {
    const bytes = patternBytes(450_000, 7);
    await store.put("big", bytes);
    await store.put("small", bytes.subarray(0, 100_000));
    assert.deepEqual(store.uploadStats, {
      singleRequestPuts: 1,
      multipartPuts: 1,
      partsUploaded: 5,
    });
    assert.ok(Buffer.from(await store.get("big")).equals(bytes));
    assert.equal((await store.head("big"))?.sizeBytes, 450_000);
  } finally {
    await store.close();
    await s3.stop();
  }
});

Deno.test("S3ObjectStore reports a missing bucket as a permanent ObjectStoreError", async () => {
  const s3 = await startS3rver();
  const store = new S3ObjectStore({
    bucket: "no-such-bucket",
    endpoint: s3.endpoint,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
  });
  try {
    await assert.rejects(store.get("x"), (error: unknown) => {
      assert.ok(error instanceof ObjectStoreError, String(error));
      assert.ok(!(error instanceof ObjectNotFoundError), "a missing bucket is not a missing key");
      assert.equal(error.retriable, false);
      assert.equal(error.status, 404);
      assert.match(
        error.message,
        /^Cannot get object 'x' from S3 bucket 'no-such-bucket' as the server answered 404 NoSuchBucket/,
      );
      return true;
    });
  } finally {
    await store.close();
    await s3.stop();
  }
});

Deno.test("S3ObjectStore reports an unreachable endpoint as ObjectStoreUnavailableError", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  const store = new S3ObjectStore({
    bucket: "rustmq-test",
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    accessKeyId: "a",
    secretAccessKey: "b",
  });
  try {
    await assert.rejects(store.put("x", new Uint8Array(1)), (error: unknown) => {
      assert.ok(error instanceof ObjectStoreUnavailableError, String(error));
      assert.equal(error.retriable, true);
      assert.match(error.message, /^Cannot put object 'x' into S3 bucket 'rustmq-test' as /);
      return true;
    });
  } finally {
    await store.close();
  }
});

Deno.test("S3ObjectStore rejects half-configured credentials and short bucket names", () => {
  assert.throws(() => new S3ObjectStore({ bucket: "ab" }), RangeError);
  assert.throws(() => new S3ObjectStore({ bucket: "abc", accessKeyId: "a" }), RangeError);
});
