/**
 * `GcsObjectStore`: an `ObjectStore` on Google Cloud Storage through `@google-cloud/storage`.
 *
 * Credentials come, in order, from `credentialsPath` (a service-account key file, config
 * `object_storage.credentials_path`), else application-default credentials, which include
 * `GOOGLE_APPLICATION_CREDENTIALS` and, on GCE/GKE, the metadata server. With a custom
 * `apiEndpoint` (an emulator or the test server) the client sends no credentials at all, as
 * the library does for emulators.
 *
 * Objects up to `multipartThresholdBytes` go up in one multipart request
 * (`uploadType=multipart`); larger ones use a resumable upload in `chunkSizeBytes` chunks, so
 * a dropped connection costs one chunk rather than the object. Uploads are validated with
 * CRC32C end to end by the library.
 *
 * The library's own retries are off: `ResilientObjectStore` owns retries.
 *
 * @module
 */
import { Storage, type StorageOptions } from "@google-cloud/storage";
import { Buffer } from "node:buffer";
import { crc32c } from "../../protocol/crc32c.ts";
import {
  assertValidByteRange,
  assertValidObjectBytes,
  assertValidObjectKey,
  assertValidPageSize,
  type GetOptions,
  joinObjectBody,
  LIST_PAGE_SIZE_MAX,
  listAllPages,
  type ListPage,
  type ListPageOptions,
  mapCloudError,
  MULTIPART_THRESHOLD_BYTES_DEFAULT,
  type ObjectBody,
  type ObjectMetadata,
  ObjectNotFoundError,
  type ObjectStore,
  ObjectStoreError,
  type ObjectStoreOperation,
  ObjectStoreUnavailableError,
  type ObjectSummary,
  type PutOptions,
  type RequestOptions,
} from "./object_store.ts";

/** Resumable upload chunks must be multiples of 256 KiB. */
const GCS_CHUNK_ALIGNMENT_BYTES = 256 * 1024;

/** Options for {@linkcode GcsObjectStore}. */
export interface GcsObjectStoreOptions {
  /** The bucket (config `object_storage.bucket`). */
  bucket: string;
  /** The project; looked up from the credentials or metadata server when absent. */
  projectId?: string;
  /** A service-account JSON key file (config `object_storage.credentials_path`). */
  credentialsPath?: string;
  /** Another endpoint than Google's, such as "http://127.0.0.1:4443" for an emulator. */
  apiEndpoint?: string;
  /**
   * Objects larger than this use a resumable upload (config
   * `object_storage.multipart_threshold`).
   * @default {MULTIPART_THRESHOLD_BYTES_DEFAULT}
   */
  multipartThresholdBytes?: number;
  /**
   * Chunk size of resumable uploads, a multiple of 256 KiB.
   * @default {8 MiB}
   */
  chunkSizeBytes?: number;
}

/** How many uploads took each path; useful for metrics and for tests. */
export interface GcsUploadStats {
  /** Puts sent as one `uploadType=multipart` request. */
  singleRequestPuts: number;
  /** Puts sent as resumable uploads. */
  resumablePuts: number;
}

/**
 * An `ObjectStore` on Google Cloud Storage.
 *
 * @example
 * ```ts ignore
 * import { GcsObjectStore } from "./gcs_object_store.ts";
 * const store = new GcsObjectStore({ bucket: "rustmq-data", projectId: "my-project" });
 * await store.put("a", new Uint8Array([1]));
 * ```
 */
export class GcsObjectStore implements ObjectStore {
  /** Always "Gcs". */
  readonly backend = "Gcs" as const;
  /** "GCS bucket '<bucket>'". */
  readonly location: string;
  /** Objects above this size use a resumable upload. */
  readonly multipartThresholdBytes: number;
  /** Chunk size of resumable uploads. */
  readonly chunkSizeBytes: number;
  /** Upload path counters. */
  readonly uploadStats: GcsUploadStats = { singleRequestPuts: 0, resumablePuts: 0 };
  readonly #bucketName: string;
  readonly #storage: Storage;
  readonly #apiEndpoint: string;
  /** Like the library, send no credentials to a custom endpoint (an emulator or a test fake). */
  readonly #anonymous: boolean;

  /** Validates the options and creates the client; no request is sent yet. */
  constructor(options: GcsObjectStoreOptions) {
    if (typeof options.bucket !== "string" || options.bucket.length < 3) {
      throw new RangeError(
        `Cannot use GCS bucket '${options.bucket}' as bucket names have 3 or more characters`,
      );
    }
    this.#bucketName = options.bucket;
    this.location = `GCS bucket '${options.bucket}'`;
    this.multipartThresholdBytes = options.multipartThresholdBytes ??
      MULTIPART_THRESHOLD_BYTES_DEFAULT;
    if (!Number.isSafeInteger(this.multipartThresholdBytes) || this.multipartThresholdBytes < 1) {
      throw new RangeError(
        `Cannot use multipartThresholdBytes ${this.multipartThresholdBytes} as it must be a ` +
          `positive integer`,
      );
    }
    this.chunkSizeBytes = options.chunkSizeBytes ?? 8 << 20;
    if (
      !Number.isSafeInteger(this.chunkSizeBytes) || this.chunkSizeBytes < 1 ||
      this.chunkSizeBytes % GCS_CHUNK_ALIGNMENT_BYTES !== 0
    ) {
      throw new RangeError(
        `Cannot use chunkSizeBytes ${this.chunkSizeBytes} as it must be a positive multiple ` +
          `of ${GCS_CHUNK_ALIGNMENT_BYTES}`,
      );
    }
    this.#storage = new Storage(_storageOptions(options));
    this.#apiEndpoint = (options.apiEndpoint ?? "https://storage.googleapis.com").replace(
      /\/+$/,
      "",
    );
    this.#anonymous = options.apiEndpoint !== undefined;
  }

  /** One multipart request, or a resumable upload above the threshold. */
  async put(key: string, body: ObjectBody, _options: PutOptions = {}): Promise<ObjectMetadata> {
    assertValidObjectKey(key);
    assertValidObjectBytes(key, body);
    // The client library takes one buffer: slices are joined.
    const bytes = joinObjectBody(body);
    const file = this.#storage.bucket(this.#bucketName).file(key);
    const resumable = bytes.length > this.multipartThresholdBytes;
    try {
      await file.save(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), {
        resumable,
        ...(resumable ? { chunkSize: this.chunkSizeBytes } : {}),
        validation: "crc32c",
        contentType: "application/octet-stream",
      });
    } catch (error) {
      throw this.#mapError(error, "put", key);
    }
    if (resumable) this.uploadStats.resumablePuts += 1;
    else this.uploadStats.singleRequestPuts += 1;
    return { key, sizeBytes: bytes.length, etag: String(file.metadata.etag ?? "") };
  }

  /**
   * Reads the object, or its inclusive range (`Range: bytes=start-end`), with `fetch` rather
   * than the library's stream download: under Deno that path warns about listener leaks on
   * every call and cannot be cancelled, and reads are the hot path of catch-up fetches.
   * Whole-object reads are checked against the CRC32C that GCS sends in `x-goog-hash`.
   */
  async get(key: string, options: GetOptions = {}): Promise<Uint8Array> {
    assertValidObjectKey(key);
    const { range } = options;
    if (range !== undefined) assertValidByteRange(range);
    const url = `${this.#apiEndpoint}/storage/v1/b/${encodeURIComponent(this.#bucketName)}/o/` +
      `${encodeURIComponent(key)}?alt=media`;
    try {
      const headers = await this.#authHeaders(url);
      if (range !== undefined) headers.set("range", `bytes=${range.start}-${range.end}`);
      const response = await fetch(url, {
        headers,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      if (!response.ok) throw await _httpFailure(response);
      const bytes = new Uint8Array(await response.arrayBuffer());
      const mismatch = response.status === 200
        ? _crc32cMismatch(bytes, response.headers.get("x-goog-hash"))
        : null;
      if (mismatch !== null) {
        // The stored object is presumably intact; the read was damaged, so retrying helps.
        throw new ObjectStoreUnavailableError({
          backend: this.backend,
          location: this.location,
          operation: "get",
          key,
          code: "OBJECT_CHECKSUM_MISMATCH",
          reason: mismatch,
        });
      }
      return range !== undefined && response.status === 200
        ? bytes.subarray(range.start, range.end + 1)
        : bytes;
    } catch (error) {
      throw this.#mapError(error, "get", key);
    }
  }

  /** The object's metadata; `null` on 404. */
  async head(key: string, _options: RequestOptions = {}): Promise<ObjectMetadata | null> {
    assertValidObjectKey(key);
    const file = this.#storage.bucket(this.#bucketName).file(key);
    try {
      const [metadata] = await file.getMetadata();
      return { key, sizeBytes: Number(metadata.size ?? 0), etag: String(metadata.etag ?? "") };
    } catch (error) {
      const mapped = this.#mapError(error, "head", key);
      if (mapped instanceof ObjectNotFoundError) return null;
      throw mapped;
    }
  }

  /** One page of `objects.list`; the page token is GCS's `nextPageToken`. */
  async listPage(prefix: string, options: ListPageOptions = {}): Promise<ListPage> {
    const pageSizeMax = options.pageSizeMax ?? LIST_PAGE_SIZE_MAX;
    assertValidPageSize(pageSizeMax);
    try {
      const [files, nextQuery] = await this.#storage.bucket(this.#bucketName).getFiles({
        prefix,
        maxResults: pageSizeMax,
        autoPaginate: false,
        ...(options.pageToken === undefined ? {} : { pageToken: options.pageToken }),
      });
      const objects = files.map((file) => ({
        key: file.name,
        sizeBytes: Number(file.metadata.size ?? 0),
      }));
      const token = (nextQuery as { pageToken?: string } | null | undefined)?.pageToken;
      return token === undefined ? { objects } : { objects, nextPageToken: token };
    } catch (error) {
      throw this.#mapError(error, "list", prefix);
    }
  }

  /** All keys with `prefix`, page by page. */
  list(prefix: string, options?: RequestOptions): AsyncIterable<ObjectSummary> {
    return listAllPages(this, prefix, options);
  }

  /** Deletes the object; a 404 counts as success. */
  async delete(key: string, _options: RequestOptions = {}): Promise<void> {
    assertValidObjectKey(key);
    try {
      await this.#storage.bucket(this.#bucketName).file(key).delete({ ignoreNotFound: true });
    } catch (error) {
      const mapped = this.#mapError(error, "delete", key);
      if (!(mapped instanceof ObjectNotFoundError)) throw mapped;
    }
  }

  /** The client keeps no sockets open between requests. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  async #authHeaders(url: string): Promise<Headers> {
    if (this.#anonymous) return new Headers();
    return new Headers(await this.#storage.authClient.getRequestHeaders(url));
  }

  #mapError(error: unknown, operation: ObjectStoreOperation, key: string): Error {
    if (error instanceof ObjectStoreError || error instanceof RangeError) return error;
    const { status, reason } = _gcsFailure(error);
    return mapCloudError(error, {
      backend: this.backend,
      location: this.location,
      operation,
      key,
      status,
      errorName: reason,
    });
  }
}

function _storageOptions(options: GcsObjectStoreOptions): StorageOptions {
  return {
    // Retries belong to ResilientObjectStore; nested retry loops multiply attempts.
    retryOptions: { autoRetry: false, maxRetries: 0 },
    ...(options.projectId === undefined ? {} : { projectId: options.projectId }),
    ...(options.credentialsPath === undefined ? {} : { keyFilename: options.credentialsPath }),
    ...(options.apiEndpoint === undefined ? {} : { apiEndpoint: options.apiEndpoint }),
  };
}

/** Thrown for a non-2xx answer to a `fetch`; shaped like the library's `ApiError`. */
class _GcsHttpError extends Error {
  constructor(
    readonly code: number,
    readonly errors: { reason?: string }[],
    message: string,
  ) {
    super(message);
  }
}

async function _httpFailure(response: Response): Promise<_GcsHttpError> {
  const text = await response.text().catch(() => "");
  let message = text.slice(0, 200) || response.statusText;
  let errors: { reason?: string }[] = [];
  try {
    const parsed = JSON.parse(text) as {
      error?: { message?: string; errors?: { reason?: string }[] };
    };
    message = parsed.error?.message ?? message;
    errors = parsed.error?.errors ?? [];
  } catch {
    // Not JSON (a proxy's error page): keep the text.
  }
  return new _GcsHttpError(response.status, errors, message);
}

/**
 * Checks a whole-object read against `x-goog-hash: crc32c=<base64>,md5=<base64>`; returns
 * why it does not match, or `null`.
 */
function _crc32cMismatch(bytes: Uint8Array, hashHeader: string | null): string | null {
  const encoded = hashHeader?.match(/crc32c=([^,]+)/)?.[1];
  if (encoded === undefined) return null;
  const expected = Uint8Array.from(atob(encoded), (char) => char.charCodeAt(0));
  if (expected.length !== 4) return `GCS sent a malformed CRC32C '${encoded}'`;
  const expectedValue = new DataView(expected.buffer).getUint32(0);
  const actual = crc32c(bytes) >>> 0;
  return actual === expectedValue ? null : `the CRC32C of the ${bytes.length} bytes read is ` +
    `${actual}, not the ${expectedValue} GCS reported`;
}

/** The HTTP status and GCS reason of an `ApiError` or a gaxios error, when there is one. */
function _gcsFailure(error: unknown): { status: number | undefined; reason: string | undefined } {
  if (typeof error !== "object" || error === null) return { status: undefined, reason: undefined };
  const candidate = error as {
    code?: unknown;
    status?: unknown;
    response?: { status?: unknown };
    errors?: { reason?: unknown }[];
  };
  const status = [candidate.code, candidate.status, candidate.response?.status].find(
    (value): value is number => typeof value === "number" && value >= 100 && value < 600,
  );
  const reason = candidate.errors?.[0]?.reason;
  return { status, reason: typeof reason === "string" ? reason : undefined };
}
