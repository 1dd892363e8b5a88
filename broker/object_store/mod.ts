/**
 * Object storage: the `ObjectStore` contract, its Local, S3 and GCS backends, the factory
 * that picks one from `[object_storage]`, and the resilience and fault-injection wrappers.
 *
 * @module
 */
export {
  assertValidByteRange,
  assertValidObjectKey,
  type ByteRange,
  type GetOptions,
  joinObjectBody,
  LIST_PAGE_SIZE_MAX,
  type ListPage,
  type ListPageOptions,
  MULTIPART_THRESHOLD_BYTES_DEFAULT,
  type ObjectBody,
  objectBodyBytes,
  type ObjectMetadata,
  ObjectNotFoundError,
  ObjectRangeNotSatisfiableError,
  type ObjectStore,
  type ObjectStoreBackend,
  ObjectStoreError,
  type ObjectStoreOperation,
  ObjectStoreOverloadedError,
  ObjectStoreTimeoutError,
  ObjectStoreUnavailableError,
  type ObjectSummary,
  type PutOptions,
  type RequestOptions,
} from "./object_store.ts";
export { LocalObjectStore, type LocalObjectStoreOptions } from "./local_object_store.ts";
export { S3ObjectStore, type S3ObjectStoreOptions, type S3UploadStats } from "./s3_object_store.ts";
export {
  GcsObjectStore,
  type GcsObjectStoreOptions,
  type GcsUploadStats,
} from "./gcs_object_store.ts";
export { MemoryObjectStore } from "./memory_object_store.ts";
export {
  ResilientObjectStore,
  type ResilientObjectStoreOptions,
  type ResilientObjectStoreStats,
} from "./resilient_object_store.ts";
export {
  type FaultCounts,
  FaultyObjectStore,
  type FaultyObjectStoreOptions,
} from "./faulty_object_store.ts";
export {
  createObjectStore,
  createResilientObjectStore,
  type ObjectStorageConfig,
  type ResilientObjectStoreDeps,
} from "./object_store_factory.ts";
