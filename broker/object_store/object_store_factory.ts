/**
 * Builds the `ObjectStore` that `[object_storage]` in `broker.toml` describes.
 *
 * `storage_type` is spelled as in the config file: "Local", "S3" or "Gcs". "Azure" is a valid
 * config value inherited from the seed design but has no backend yet, so it fails loudly here
 * rather than at the first upload.
 *
 * @module
 */
import { GcsObjectStore } from "./gcs_object_store.ts";
import { LocalObjectStore } from "./local_object_store.ts";
import type { Clock } from "../../ops/clock.ts";
import type { Random } from "../../ops/random.ts";
import type { ObjectStore } from "./object_store.ts";
import { ResilientObjectStore } from "./resilient_object_store.ts";
import { S3ObjectStore } from "./s3_object_store.ts";

/**
 * The `[object_storage]` section, structurally the same as `BrokerConfig["object_storage"]`
 * (config/schema.ts). Empty strings mean "not set", as in the TOML file.
 */
export interface ObjectStorageConfig {
  /** "Local", "S3" or "Gcs" ("Azure" is rejected). */
  storage_type: string;
  /** Bucket name (S3, GCS). */
  bucket: string;
  /** Region (S3). */
  region: string;
  /** Custom endpoint: MinIO/s3rver for S3 (then path-style), an emulator for GCS. */
  endpoint: string;
  /** S3 access key (empty: the SDK's default chain). */
  access_key: string;
  /** S3 secret key. */
  secret_key: string;
  /** Objects above this many bytes go up in parts. */
  multipart_threshold: number;
  /** Puts in flight at once. */
  max_concurrent_uploads: number;
  /** Directory of the Local backend. */
  local_path: string;
  /** GCS service-account key file (empty: application-default credentials). */
  credentials_path: string;
  /** GCS project (optional; not in the seed config). */
  project_id?: string;
}

/**
 * Creates the raw backend for `config`.
 *
 * @example
 * ```ts
 * import { createObjectStore } from "./object_store_factory.ts";
 * const store = createObjectStore({
 *   storage_type: "Local", local_path: "/tmp/rustmq-objects", bucket: "", region: "",
 *   endpoint: "", access_key: "", secret_key: "", credentials_path: "",
 *   multipart_threshold: 100 << 20, max_concurrent_uploads: 10,
 * });
 * console.assert(store.backend === "Local");
 * ```
 */
export function createObjectStore(config: ObjectStorageConfig): ObjectStore {
  const multipartThresholdBytes = config.multipart_threshold;
  switch (config.storage_type) {
    case "Local":
      if (config.local_path === "") {
        throw new RangeError("Cannot use the Local object store as local_path is empty");
      }
      return new LocalObjectStore({
        rootDir: config.local_path,
        multipartThresholdBytes,
        directIo: true,
      });
    case "S3":
      return new S3ObjectStore({
        bucket: config.bucket,
        region: config.region || "us-east-1",
        multipartThresholdBytes,
        ...(config.endpoint === ""
          ? {}
          // Custom endpoints are MinIO-like servers, which need path-style addressing.
          : { endpoint: config.endpoint, forcePathStyle: true }),
        ...(config.access_key === "" && config.secret_key === ""
          ? {}
          : { accessKeyId: config.access_key, secretAccessKey: config.secret_key }),
      });
    case "Gcs":
      return new GcsObjectStore({
        bucket: config.bucket,
        multipartThresholdBytes,
        ...(config.endpoint === "" ? {} : { apiEndpoint: config.endpoint }),
        ...(config.credentials_path === "" ? {} : { credentialsPath: config.credentials_path }),
        ...(config.project_id ? { projectId: config.project_id } : {}),
      });
    case "Azure":
      throw new RangeError(
        "Cannot use object_storage.storage_type 'Azure' as it is not supported yet: " +
          "use 'S3', 'Gcs' or 'Local'",
      );
    default:
      throw new RangeError(
        `Cannot use object_storage.storage_type '${config.storage_type}' as it must be ` +
          `'S3', 'Gcs' or 'Local'`,
      );
  }
}

/** What {@linkcode createResilientObjectStore} needs besides the config. */
export interface ResilientObjectStoreDeps {
  /** The clock for timeouts and backoff (`systemClock` in production). */
  clock: Clock;
  /** The jitter source. */
  random: Random;
  /**
   * Per-attempt timeout.
   * @default {30000}
   */
  attemptTimeoutMs?: number;
}

/**
 * Creates the backend for `config` wrapped in a `ResilientObjectStore` whose upload limit is
 * `max_concurrent_uploads`: what the broker uses.
 */
export function createResilientObjectStore(
  config: ObjectStorageConfig,
  deps: ResilientObjectStoreDeps,
): ResilientObjectStore {
  return new ResilientObjectStore(createObjectStore(config), {
    clock: deps.clock,
    random: deps.random,
    maxConcurrentUploads: config.max_concurrent_uploads,
    ...(deps.attemptTimeoutMs === undefined ? {} : { attemptTimeoutMs: deps.attemptTimeoutMs }),
  });
}
