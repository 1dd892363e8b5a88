import assert from "node:assert/strict";
import {
  createObjectStore,
  createResilientObjectStore,
  type ObjectStorageConfig,
} from "./object_store_factory.ts";
import { systemClock } from "../../ops/clock.ts";
import { SeededRandom } from "../../ops/random.ts";

const BASE: ObjectStorageConfig = {
  storage_type: "S3",
  bucket: "rustmq-data",
  region: "us-central1",
  endpoint: "http://minio:9000",
  access_key: "",
  secret_key: "",
  multipart_threshold: 100 * 1024 * 1024,
  max_concurrent_uploads: 10,
  local_path: "./data/objects",
  credentials_path: "",
};

Deno.test("createObjectStore picks the backend named by storage_type", async () => {
  for (
    const [storageType, backend, location] of [
      ["Local", "Local", "local directory './data/objects'"],
      ["S3", "S3", "S3 bucket 'rustmq-data'"],
      ["Gcs", "Gcs", "GCS bucket 'rustmq-data'"],
    ] as const
  ) {
    const store = createObjectStore({ ...BASE, storage_type: storageType });
    assert.equal(store.backend, backend);
    assert.equal(store.location, location);
    await store.close();
  }
});

Deno.test("createObjectStore says Azure is not supported", () => {
  assert.throws(
    () => createObjectStore({ ...BASE, storage_type: "Azure" }),
    (error: unknown) => {
      assert.ok(error instanceof RangeError);
      assert.match(error.message, /'Azure' as it is not supported yet/);
      return true;
    },
  );
  assert.throws(() => createObjectStore({ ...BASE, storage_type: "s3" }), /must be 'S3', 'Gcs'/);
});

Deno.test("createResilientObjectStore applies max_concurrent_uploads", async () => {
  const rootDir = await Deno.makeTempDir({ prefix: "rustmq-factory-" });
  try {
    const store = createResilientObjectStore(
      { ...BASE, storage_type: "Local", local_path: rootDir, max_concurrent_uploads: 2 },
      { clock: systemClock, random: new SeededRandom(1) },
    );
    await Promise.all([1, 2, 3, 4, 5].map((i) => store.put(`k${i}`, new Uint8Array([i]))));
    assert.equal(store.stats.uploadsInFlightMax, 2);
    assert.deepEqual(await store.get("k3"), new Uint8Array([3]));
  } finally {
    await Deno.remove(rootDir, { recursive: true });
  }
});
