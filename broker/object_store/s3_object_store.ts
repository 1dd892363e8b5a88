/**
 * `S3ObjectStore`: an `ObjectStore` on Amazon S3 or any S3-compatible server (MinIO, s3rver,
 * Ceph RGW), through `@aws-sdk/client-s3`.
 *
 * Objects above `multipartThresholdBytes` go up with CreateMultipartUpload / UploadPart /
 * CompleteMultipartUpload, a few parts in flight at once; a failed upload is aborted so no
 * orphaned parts keep costing money.
 *
 * The SDK's own retries are off (`maxAttempts: 1`): `ResilientObjectStore` owns retries, and
 * two nested retry loops would multiply attempts and hide outages for minutes.
 *
 * @module
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import {
  assertValidByteRange,
  assertValidObjectBytes,
  assertValidObjectKey,
  assertValidPageSize,
  type ByteRange,
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
  type ObjectSummary,
  type PutOptions,
  type RequestOptions,
} from "./object_store.ts";

/** S3 refuses parts smaller than 5 MiB (except the last); 10,000 parts at most. */
const S3_PARTS_MAX = 10_000;

/** Options for {@linkcode S3ObjectStore}. */
export interface S3ObjectStoreOptions {
  /** The bucket (config `object_storage.bucket`). */
  bucket: string;
  /**
   * The region (config `object_storage.region`).
   * @default {"us-east-1"}
   */
  region?: string;
  /** An S3-compatible endpoint such as "http://127.0.0.1:9000"; AWS when absent. */
  endpoint?: string;
  /** Static credentials; the SDK's default chain (env, profile, IMDS) when absent. */
  accessKeyId?: string;
  /** Goes with `accessKeyId`. */
  secretAccessKey?: string;
  /**
   * Address buckets as `endpoint/bucket/key` instead of `bucket.endpoint/key`, which MinIO
   * and s3rver need.
   * @default {false}
   */
  forcePathStyle?: boolean;
  /**
   * Objects larger than this are uploaded in parts (config `object_storage.multipart_threshold`).
   * @default {MULTIPART_THRESHOLD_BYTES_DEFAULT}
   */
  multipartThresholdBytes?: number;
  /**
   * Size of each part but the last. S3 requires at least 5 MiB; smaller values only work
   * against test servers.
   * @default {max(8 MiB, multipartThresholdBytes / 4)}
   */
  partSizeBytes?: number;
  /**
   * Parts of one upload in flight at once.
   * @default {4}
   */
  partConcurrencyMax?: number;
}

/** How many uploads took each path. */
export interface S3UploadStats {
  /** Puts sent as one PutObject. */
  singleRequestPuts: number;
  /** Puts completed as multipart uploads. */
  multipartPuts: number;
  /** Parts uploaded by multipart puts. */
  partsUploaded: number;
}

/**
 * An `ObjectStore` on S3.
 *
 * @example
 * ```ts ignore
 * import { S3ObjectStore } from "./s3_object_store.ts";
 * const store = new S3ObjectStore({
 *   bucket: "rustmq", endpoint: "http://127.0.0.1:9000", forcePathStyle: true,
 *   accessKeyId: "S3RVER", secretAccessKey: "S3RVER",
 * });
 * await store.put("a", new Uint8Array([1]));
 * await store.close();
 * ```
 */
export class S3ObjectStore implements ObjectStore {
  /** Always "S3". */
  readonly backend = "S3" as const;
  /** "S3 bucket '<bucket>'". */
  readonly location: string;
  /** Objects above this size are uploaded in parts. */
  readonly multipartThresholdBytes: number;
  /** Size of each part but the last. */
  readonly partSizeBytes: number;
  /** Parts of one upload in flight at once. */
  readonly partConcurrencyMax: number;
  /** Upload path counters, for metrics and tests. */
  readonly uploadStats: S3UploadStats = {
    singleRequestPuts: 0,
    multipartPuts: 0,
    partsUploaded: 0,
  };
  readonly #bucket: string;
  readonly #client: S3Client;

  /** Validates the options and creates the client; no request is sent yet. */
  constructor(options: S3ObjectStoreOptions) {
    if (typeof options.bucket !== "string" || options.bucket.length < 3) {
      throw new RangeError(
        `Cannot use S3 bucket '${options.bucket}' as bucket names have 3 or more characters`,
      );
    }
    this.#bucket = options.bucket;
    this.location = `S3 bucket '${options.bucket}'`;
    this.multipartThresholdBytes = _positiveInteger(
      "multipartThresholdBytes",
      options.multipartThresholdBytes ?? MULTIPART_THRESHOLD_BYTES_DEFAULT,
    );
    this.partSizeBytes = _positiveInteger(
      "partSizeBytes",
      options.partSizeBytes ?? Math.max(8 << 20, Math.ceil(this.multipartThresholdBytes / 4)),
    );
    this.partConcurrencyMax = _positiveInteger(
      "partConcurrencyMax",
      options.partConcurrencyMax ?? 4,
    );
    this.#client = new S3Client(_clientConfig(options));
  }

  /** PutObject, or a multipart upload above the threshold. */
  async put(key: string, body: ObjectBody, options: PutOptions = {}): Promise<ObjectMetadata> {
    assertValidObjectKey(key);
    assertValidObjectBytes(key, body);
    // The SDK takes one buffer per request (and re-reads it on a retry): slices are joined.
    const bytes = joinObjectBody(body);
    if (bytes.length > this.multipartThresholdBytes) {
      return await this.#putMultipart(key, bytes, options.signal);
    }
    try {
      const response = await this.#client.send(
        new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: bytes }),
        _abortOption(options.signal),
      );
      this.uploadStats.singleRequestPuts += 1;
      return { key, sizeBytes: bytes.length, etag: response.ETag ?? "" };
    } catch (error) {
      throw this.#mapError(error, "put", key);
    }
  }

  /** GetObject, with `Range: bytes=start-end` for ranged reads. */
  async get(key: string, options: GetOptions = {}): Promise<Uint8Array> {
    assertValidObjectKey(key);
    const { range } = options;
    if (range !== undefined) assertValidByteRange(range);
    try {
      const response = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.#bucket,
          Key: key,
          ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end}` }),
        }),
        _abortOption(options.signal),
      );
      const body = response.Body === undefined
        ? new Uint8Array(0)
        : await response.Body.transformToByteArray();
      return range === undefined ? body : _trimToRange(body, range, response.ContentRange);
    } catch (error) {
      throw this.#mapError(error, "get", key);
    }
  }

  /** HeadObject; `null` on 404. */
  async head(key: string, options: RequestOptions = {}): Promise<ObjectMetadata | null> {
    assertValidObjectKey(key);
    try {
      const response = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: key }),
        _abortOption(options.signal),
      );
      return { key, sizeBytes: response.ContentLength ?? 0, etag: response.ETag ?? "" };
    } catch (error) {
      const mapped = this.#mapError(error, "head", key);
      if (mapped instanceof ObjectNotFoundError) return null;
      throw mapped;
    }
  }

  /** ListObjectsV2; the page token is S3's continuation token. */
  async listPage(prefix: string, options: ListPageOptions = {}): Promise<ListPage> {
    const pageSizeMax = options.pageSizeMax ?? LIST_PAGE_SIZE_MAX;
    assertValidPageSize(pageSizeMax);
    try {
      const response = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: prefix,
          MaxKeys: pageSizeMax,
          ...(options.pageToken === undefined ? {} : { ContinuationToken: options.pageToken }),
        }),
        _abortOption(options.signal),
      );
      const objects = (response.Contents ?? []).map((entry) => ({
        key: entry.Key ?? "",
        sizeBytes: entry.Size ?? 0,
      }));
      const token = response.IsTruncated === true ? response.NextContinuationToken : undefined;
      return token === undefined ? { objects } : { objects, nextPageToken: token };
    } catch (error) {
      throw this.#mapError(error, "list", prefix);
    }
  }

  /** All keys with `prefix`, page by page. */
  list(prefix: string, options?: RequestOptions): AsyncIterable<ObjectSummary> {
    return listAllPages(this, prefix, options);
  }

  /** DeleteObject, which S3 already makes idempotent. */
  async delete(key: string, options: RequestOptions = {}): Promise<void> {
    assertValidObjectKey(key);
    try {
      await this.#client.send(
        new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }),
        _abortOption(options.signal),
      );
    } catch (error) {
      const mapped = this.#mapError(error, "delete", key);
      if (!(mapped instanceof ObjectNotFoundError)) throw mapped;
    }
  }

  /** Closes the client's sockets. */
  close(): Promise<void> {
    this.#client.destroy();
    return Promise.resolve();
  }

  async #putMultipart(
    key: string,
    bytes: Uint8Array,
    signal: AbortSignal | undefined,
  ): Promise<ObjectMetadata> {
    const partCount = Math.ceil(bytes.length / this.partSizeBytes);
    if (partCount > S3_PARTS_MAX) {
      throw new RangeError(
        `Cannot put object '${key}' as it needs ${partCount} parts of ${this.partSizeBytes} ` +
          `bytes, more than S3's ${S3_PARTS_MAX}: raise partSizeBytes`,
      );
    }
    let uploadId: string | undefined;
    try {
      const created = await this.#client.send(
        new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: key }),
        _abortOption(signal),
      );
      uploadId = created.UploadId;
      if (uploadId === undefined) throw new Error("CreateMultipartUpload returned no UploadId");
      const etags = await this.#uploadParts(key, uploadId, bytes, partCount, signal);
      const completed = await this.#client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.#bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
        _abortOption(signal),
      );
      this.uploadStats.multipartPuts += 1;
      return { key, sizeBytes: bytes.length, etag: completed.ETag ?? "" };
    } catch (error) {
      if (uploadId !== undefined) await this.#abortUpload(key, uploadId);
      throw this.#mapError(error, "put", key);
    }
  }

  /** Uploads parts with at most `partConcurrencyMax` in flight; returns their ETags in order. */
  async #uploadParts(
    key: string,
    uploadId: string,
    bytes: Uint8Array,
    partCount: number,
    signal: AbortSignal | undefined,
  ): Promise<string[]> {
    const etags = new Array<string>(partCount);
    let next = 0;
    const worker = async () => {
      while (next < partCount) {
        const index = next;
        next += 1;
        const start = index * this.partSizeBytes;
        const response = await this.#client.send(
          new UploadPartCommand({
            Bucket: this.#bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: index + 1,
            Body: bytes.subarray(start, start + this.partSizeBytes),
          }),
          _abortOption(signal),
        );
        if (response.ETag === undefined) throw new Error(`UploadPart ${index + 1} had no ETag`);
        etags[index] = response.ETag;
        this.uploadStats.partsUploaded += 1;
      }
    };
    const workers = Math.min(this.partConcurrencyMax, partCount);
    await Promise.all(Array.from({ length: workers }, worker));
    return etags;
  }

  async #abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.#client.send(
        new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: key, UploadId: uploadId }),
      );
    } catch {
      // Best effort: a bucket lifecycle rule for incomplete uploads cleans up what this misses.
    }
  }

  #mapError(error: unknown, operation: ObjectStoreOperation, key: string): Error {
    if (error instanceof ObjectStoreError || error instanceof RangeError) return error;
    return mapCloudError(error, {
      backend: this.backend,
      location: this.location,
      operation,
      key,
      status: _s3Status(error),
      errorName: _s3ErrorName(error),
    });
  }
}

function _clientConfig(options: S3ObjectStoreOptions): S3ClientConfig {
  const hasKeys = options.accessKeyId !== undefined || options.secretAccessKey !== undefined;
  if (hasKeys && (options.accessKeyId === undefined || options.secretAccessKey === undefined)) {
    throw new RangeError("Cannot configure S3 with only one of accessKeyId and secretAccessKey");
  }
  return {
    region: options.region ?? "us-east-1",
    forcePathStyle: options.forcePathStyle ?? false,
    maxAttempts: 1,
    // Checksums are only sent where S3 requires them: the newer default (CRC32 trailers in
    // aws-chunked bodies) is not understood by s3rver and older S3-compatible servers.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(hasKeys
      ? {
        credentials: {
          accessKeyId: options.accessKeyId ?? "",
          secretAccessKey: options.secretAccessKey ?? "",
        },
      }
      : {}),
  };
}

/**
 * Cuts a ranged response down to the bytes asked for. Some S3-compatible servers answer more
 * than the range: s3rver 3.7.1 reads `bytes=0-0` as "from 0 to the end" (it tests the end
 * offset for truthiness), and others ignore `Range` and send the whole object with 200.
 * `contentRange` ("bytes 0-99/100") says where the body starts; without it the body is the
 * whole object.
 */
function _trimToRange(body: Uint8Array, range: ByteRange, contentRange?: string): Uint8Array {
  const match = contentRange === undefined ? null : /^bytes (\d+)-(\d+)\//.exec(contentRange);
  const bodyStart = match === null ? 0 : Number(match[1]);
  const from = range.start - bodyStart;
  const to = range.end - bodyStart + 1;
  if (from < 0) {
    throw new Error(
      `Server answered range ${contentRange} for requested bytes=${range.start}-${range.end}`,
    );
  }
  return from === 0 && to >= body.length ? body : body.subarray(from, Math.min(to, body.length));
}

function _abortOption(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal === undefined ? {} : { abortSignal: signal };
}

function _s3Status(error: unknown): number | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const metadata = (error as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return metadata?.httpStatusCode;
}

function _s3ErrorName(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const name = (error as { name?: unknown }).name;
  return typeof name === "string" && name !== "Error" ? name : undefined;
}

function _positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Cannot use ${name} ${value} as it must be a positive integer`);
  }
  return value;
}
