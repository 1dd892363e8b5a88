/**
 * The `ObjectStore` interface: the one contract every object storage backend (local directory,
 * S3, GCS) fulfils, plus the typed errors callers act on.
 *
 * Object storage is RustMQ's system of record for everything older than the WAL, so the
 * contract is deliberately small (put, ranged get, head, list, delete) and every failure is
 * typed: callers retry `retriable` errors and treat `ObjectNotFoundError` as an answer, not a
 * fault.
 *
 * Byte ranges are **inclusive on both ends**, exactly like HTTP `Range: bytes=start-end`:
 * `{ start: 0, end: 0 }` is the first byte. An `end` at or past the object's last byte is
 * clamped to it (as HTTP does); a `start` at or past the object's size is an
 * `ObjectRangeNotSatisfiableError`.
 *
 * @module
 */

/** The backends `object_storage.storage_type` can name, spelled as in the config file. */
export type ObjectStoreBackend = "Local" | "S3" | "Gcs";

/** The operations of an `ObjectStore`, used in error messages and metrics. */
export type ObjectStoreOperation = "put" | "get" | "head" | "list" | "delete";

/** An inclusive byte range `[start, end]`, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  /** Offset of the first byte wanted, `>= 0`. */
  start: number;
  /** Offset of the last byte wanted (inclusive), `>= start`; clamped to the last byte. */
  end: number;
}

/**
 * What {@linkcode ObjectStore.put} stores: one buffer, or consecutive slices stored back to back
 * as one object. Slices spare the caller a copy: the uploader's object is the cached batches as
 * they are plus an index, never concatenated in memory. The store reads the slices only until
 * `put` settles, and never changes them.
 */
export type ObjectBody = Uint8Array | readonly Uint8Array[];

/** Options for {@linkcode ObjectStore.put}. */
export interface PutOptions {
  /** Cancels the request (used by `ResilientObjectStore` for timeouts). */
  signal?: AbortSignal;
}

/** Options for {@linkcode ObjectStore.get}. */
export interface GetOptions {
  /** Only these bytes (inclusive range); the whole object when absent. */
  range?: ByteRange;
  /** Cancels the request. */
  signal?: AbortSignal;
}

/** Options for {@linkcode ObjectStore.head} and {@linkcode ObjectStore.delete}. */
export interface RequestOptions {
  /** Cancels the request. */
  signal?: AbortSignal;
}

/** Options for {@linkcode ObjectStore.listPage}. */
export interface ListPageOptions {
  /** The `nextPageToken` of the previous page; the first page when absent. */
  pageToken?: string;
  /**
   * At most this many keys in the page (backends may return fewer).
   * @default {1000}
   */
  pageSizeMax?: number;
  /** Cancels the request. */
  signal?: AbortSignal;
}

/** What `head` and `put` report about a stored object. */
export interface ObjectMetadata {
  /** The object's key. */
  key: string;
  /** The object's size in bytes. */
  sizeBytes: number;
  /** An opaque version tag that changes when the object is rewritten. */
  etag: string;
}

/** One entry of a listing. */
export interface ObjectSummary {
  /** The object's key. */
  key: string;
  /** The object's size in bytes. */
  sizeBytes: number;
}

/** One page of a listing, in ascending key order. */
export interface ListPage {
  /** The objects of this page, sorted by key. */
  objects: ObjectSummary[];
  /** Pass as `pageToken` to get the next page; absent on the last page. */
  nextPageToken?: string;
}

/**
 * An object store: a flat namespace of immutable byte objects addressed by string keys.
 *
 * Keys are non-empty strings of "/"-separated segments; no segment may be empty, "." or "..",
 * and keys never start with "/". Backends reject other keys with a `RangeError` so that the
 * same key means the same object on every backend.
 */
export interface ObjectStore {
  /** Which backend this is, for messages and metrics. */
  readonly backend: ObjectStoreBackend | "Memory";
  /** Where the objects live, as used in messages: "S3 bucket 'b'". */
  readonly location: string;
  /**
   * Stores `bytes` under `key`, replacing any object there. Objects larger than the
   * backend's multipart threshold are uploaded in parts; either way the object appears
   * whole or not at all.
   */
  put(key: string, bytes: ObjectBody, options?: PutOptions): Promise<ObjectMetadata>;
  /** Reads the object, or the inclusive `range` of it. Throws `ObjectNotFoundError`. */
  get(key: string, options?: GetOptions): Promise<Uint8Array>;
  /** The object's size and etag, or `null` when there is no such object. */
  head(key: string, options?: RequestOptions): Promise<ObjectMetadata | null>;
  /** One page of the keys starting with `prefix`, in ascending order. */
  listPage(prefix: string, options?: ListPageOptions): Promise<ListPage>;
  /** Every object whose key starts with `prefix`, in ascending order, across all pages. */
  list(prefix: string, options?: RequestOptions): AsyncIterable<ObjectSummary>;
  /** Removes the object; removing a missing object succeeds (idempotent). */
  delete(key: string, options?: RequestOptions): Promise<void>;
  /** Releases sockets and other resources. The store must not be used afterwards. */
  close(): Promise<void>;
}

/** The default and largest number of keys a backend returns per listing page (S3's cap). */
export const LIST_PAGE_SIZE_MAX = 1000;

/** The default `object_storage.multipart_threshold`: objects above 64 MiB go in parts. */
export const MULTIPART_THRESHOLD_BYTES_DEFAULT = 64 * 1024 * 1024;

/** The largest object a single `put` accepts (S3's 5 TiB cap would not fit in memory anyway). */
export const OBJECT_BYTES_MAX = 5 * 1024 * 1024 * 1024;

/** Where an error happened, as carried by every {@linkcode ObjectStoreError}. */
export interface ObjectStoreErrorOptions {
  /** The backend that failed. */
  backend: string;
  /** Where the objects live, e.g. "S3 bucket 'b'". */
  location: string;
  /** The operation that failed. */
  operation: ObjectStoreOperation;
  /** The object key, or for `list` the prefix. */
  key: string;
  /** Why, completing "... as <reason>": "the server answered 503: SlowDown". */
  reason: string;
  /** A stable machine-readable code; each subclass has its default. */
  code?: string;
  /** Whether retrying the same call may succeed; each subclass has its default. */
  retriable?: boolean;
  /** The HTTP status the server answered, when there was one. */
  status?: number;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * A failure of an object store operation. The message names the operation, the key, the
 * backend and location, and why: "Cannot get object 'x' from S3 bucket 'b' as the server
 * answered 503: SlowDown".
 *
 * @example
 * ```ts
 * import { ObjectStoreError } from "./object_store.ts";
 * const error = new ObjectStoreError({
 *   backend: "S3", location: "S3 bucket 'b'", operation: "put", key: "x",
 *   reason: "the server answered 403: AccessDenied",
 * });
 * console.assert(error.message === "Cannot put object 'x' into S3 bucket 'b' as the server answered 403: AccessDenied");
 * console.assert(error.retriable === false);
 * ```
 */
export class ObjectStoreError extends Error {
  /** A stable machine-readable code. */
  readonly code: string;
  /** Whether retrying the same call may succeed. */
  readonly retriable: boolean;
  /** The backend that failed. */
  readonly backend: string;
  /** Where the objects live. */
  readonly location: string;
  /** The operation that failed. */
  readonly operation: ObjectStoreOperation;
  /** The object key (for `list`, the prefix). */
  readonly key: string;
  /** The HTTP status, when the server answered. */
  readonly status: number | undefined;

  /** Builds the message from the options; see the class description. */
  constructor(options: ObjectStoreErrorOptions) {
    super(objectStoreErrorMessage(options), { cause: options.cause });
    this.name = "ObjectStoreError";
    this.code = options.code ?? "OBJECT_STORE_ERROR";
    this.retriable = options.retriable ?? false;
    this.backend = options.backend;
    this.location = options.location;
    this.operation = options.operation;
    this.key = options.key;
    this.status = options.status;
  }
}

/** There is no object with this key. Not retriable: it is an answer, not a fault. */
export class ObjectNotFoundError extends ObjectStoreError {
  /** See {@linkcode ObjectStoreError}; `code` is "OBJECT_NOT_FOUND". */
  constructor(options: Omit<ObjectStoreErrorOptions, "code" | "retriable">) {
    super({ ...options, code: "OBJECT_NOT_FOUND", retriable: false });
    this.name = "ObjectNotFoundError";
  }
}

/** The requested range starts at or past the object's end (HTTP 416). Not retriable. */
export class ObjectRangeNotSatisfiableError extends ObjectStoreError {
  /** See {@linkcode ObjectStoreError}; `code` is "OBJECT_RANGE_NOT_SATISFIABLE". */
  constructor(options: Omit<ObjectStoreErrorOptions, "code" | "retriable">) {
    super({ ...options, code: "OBJECT_RANGE_NOT_SATISFIABLE", retriable: false });
    this.name = "ObjectRangeNotSatisfiableError";
  }
}

/**
 * The store could not be reached or answered with a transient failure (5xx, 429, throttling,
 * connection refused or reset, timeout). Retriable.
 */
export class ObjectStoreUnavailableError extends ObjectStoreError {
  /** See {@linkcode ObjectStoreError}; `code` defaults to "OBJECT_STORE_UNAVAILABLE". */
  constructor(options: Omit<ObjectStoreErrorOptions, "retriable">) {
    super({ ...options, code: options.code ?? "OBJECT_STORE_UNAVAILABLE", retriable: true });
    this.name = "ObjectStoreUnavailableError";
  }
}

/** One attempt did not finish within its timeout. Retriable. */
export class ObjectStoreTimeoutError extends ObjectStoreUnavailableError {
  /** See {@linkcode ObjectStoreError}; `code` is "OBJECT_STORE_TIMEOUT". */
  constructor(options: Omit<ObjectStoreErrorOptions, "retriable" | "code">) {
    super({ ...options, code: "OBJECT_STORE_TIMEOUT" });
    this.name = "ObjectStoreTimeoutError";
  }
}

/** Too many uploads are already queued for a free upload slot: back off. Retriable. */
export class ObjectStoreOverloadedError extends ObjectStoreError {
  /** See {@linkcode ObjectStoreError}; `code` is "OBJECT_STORE_OVERLOADED". */
  constructor(options: Omit<ObjectStoreErrorOptions, "retriable" | "code">) {
    super({ ...options, code: "OBJECT_STORE_OVERLOADED", retriable: true });
    this.name = "ObjectStoreOverloadedError";
  }
}

/** "Cannot get object 'x' from S3 bucket 'b' as <reason>". */
export function objectStoreErrorMessage(
  options: Pick<ObjectStoreErrorOptions, "operation" | "key" | "location" | "reason">,
): string {
  const { operation, key, location, reason } = options;
  switch (operation) {
    case "put":
      return `Cannot put object '${key}' into ${location} as ${reason}`;
    case "get":
      return `Cannot get object '${key}' from ${location} as ${reason}`;
    case "head":
      return `Cannot head object '${key}' in ${location} as ${reason}`;
    case "list":
      return `Cannot list objects with prefix '${key}' in ${location} as ${reason}`;
    case "delete":
      return `Cannot delete object '${key}' from ${location} as ${reason}`;
  }
}

/**
 * Throws a `RangeError` unless `key` is a valid object key: non-empty, at most 1024 UTF-8
 * bytes (S3's and GCS's limit), "/"-separated segments that are neither empty, "." nor "..",
 * and no NUL character. Every backend calls this first so that keys are portable.
 */
export function assertValidObjectKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) {
    throw new RangeError("Cannot use an empty object key");
  }
  if (new TextEncoder().encode(key).length > 1024) {
    throw new RangeError(
      `Cannot use object key '${key.slice(0, 64)}...' as it is longer than 1024 bytes`,
    );
  }
  if (key.includes("\0")) {
    throw new RangeError(`Cannot use object key '${key}' as it contains a NUL character`);
  }
  for (const segment of key.split("/")) {
    if (segment === "" || segment === "." || segment === "..") {
      throw new RangeError(
        `Cannot use object key '${key}' as it has an empty, '.' or '..' segment ` +
          `(absolute paths and parent references are not allowed)`,
      );
    }
  }
}

/** Throws a `RangeError` unless `range` is a well-formed inclusive byte range. */
export function assertValidByteRange(range: ByteRange): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0) {
    throw new RangeError(`Cannot read byte range as start must be an integer >= 0: got ${start}`);
  }
  if (!Number.isSafeInteger(end) || end < start) {
    throw new RangeError(
      `Cannot read byte range as end must be an integer >= start (${start}): got ${end}`,
    );
  }
}

/** Throws a `RangeError` unless `pageSizeMax` is an integer in [1, LIST_PAGE_SIZE_MAX]. */
export function assertValidPageSize(pageSizeMax: number): void {
  if (!Number.isSafeInteger(pageSizeMax) || pageSizeMax < 1 || pageSizeMax > LIST_PAGE_SIZE_MAX) {
    throw new RangeError(
      `Cannot list with pageSizeMax ${pageSizeMax} as it must be an integer in ` +
        `[1, ${LIST_PAGE_SIZE_MAX}]`,
    );
  }
}

/**
 * Throws a `TypeError` unless `body` is a `Uint8Array` or an array of them, and a `RangeError`
 * when it is larger than `OBJECT_BYTES_MAX`.
 */
export function assertValidObjectBytes(key: string, body: ObjectBody): void {
  const slices = body instanceof Uint8Array ? [body] : body;
  if (!Array.isArray(slices) || !slices.every((s) => s instanceof Uint8Array)) {
    throw new TypeError(`Cannot put object '${key}' as its bytes are not Uint8Arrays`);
  }
  const size = objectBodyBytes(body);
  if (size > OBJECT_BYTES_MAX) {
    throw new RangeError(
      `Cannot put object '${key}' as it is larger than ${OBJECT_BYTES_MAX} bytes: ` +
        `current value is ${size}`,
    );
  }
}

/** Total bytes of an object body. */
export function objectBodyBytes(body: ObjectBody): number {
  if (body instanceof Uint8Array) return body.length;
  let n = 0;
  for (const slice of body) n += slice.length;
  return n;
}

/**
 * The body in one buffer: the buffer itself when it is one (no copy), else its slices joined.
 * Backends whose client takes one buffer (S3, GCS) call this; the Local backend writes the
 * slices as they are.
 *
 * @example
 * ```ts
 * import { joinObjectBody } from "./object_store.ts";
 * const joined = joinObjectBody([new Uint8Array([1]), new Uint8Array([2, 3])]);
 * if (joined.join(",") !== "1,2,3") throw new Error();
 * ```
 */
export function joinObjectBody(body: ObjectBody): Uint8Array {
  if (body instanceof Uint8Array) return body;
  if (body.length === 1) return body[0]!;
  const out = new Uint8Array(objectBodyBytes(body));
  let at = 0;
  for (const slice of body) {
    out.set(slice, at);
    at += slice.length;
  }
  return out;
}

/**
 * Iterates all pages of a listing through `listPage`. Backends implement `list` with it, so
 * pagination is handled in one place.
 */
export async function* listAllPages(
  store: Pick<ObjectStore, "listPage">,
  prefix: string,
  options: RequestOptions = {},
): AsyncGenerator<ObjectSummary> {
  let pageToken: string | undefined;
  // Each page either ends the listing or advances the token; a backend that hands back the
  // same token twice would loop forever, which is a bug worth crashing on.
  for (;;) {
    const page: ListPage = await store.listPage(prefix, {
      ...(pageToken === undefined ? {} : { pageToken }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    yield* page.objects;
    if (page.nextPageToken === undefined) return;
    if (page.nextPageToken === pageToken) {
      throw new Error(`Listing of prefix '${prefix}' returned the same page token twice`);
    }
    pageToken = page.nextPageToken;
  }
}

/** Clamps an inclusive range to an object of `sizeBytes`, or `null` if it starts past the end. */
export function clampByteRange(range: ByteRange, sizeBytes: number): ByteRange | null {
  if (range.start >= sizeBytes) return null;
  return { start: range.start, end: Math.min(range.end, sizeBytes - 1) };
}

/** What `mapCloudError` needs to know about a failed request. */
export interface CloudErrorContext {
  /** The backend, e.g. "S3". */
  backend: string;
  /** Where the objects live. */
  location: string;
  /** The failed operation. */
  operation: ObjectStoreOperation;
  /** The object key or list prefix. */
  key: string;
  /** The HTTP status, `undefined` when no answer came (network failure). */
  status: number | undefined;
  /** The service's error name ("NoSuchKey", "SlowDown"), when known. */
  errorName: string | undefined;
}

/**
 * Maps a failed S3 or GCS request to a typed error: 404 is not-found (except a missing
 * bucket, which is a configuration error), 416 is an unsatisfiable range, 408/429/5xx and
 * network failures are retriable, anything else (403, 400) is a permanent `ObjectStoreError`.
 */
export function mapCloudError(error: unknown, context: CloudErrorContext): Error {
  if (error instanceof DOMException && error.name === "AbortError") return error;
  const { status, errorName } = context;
  const detail = error instanceof Error ? error.message : String(error);
  const base = {
    backend: context.backend,
    location: context.location,
    operation: context.operation,
    key: context.key,
    cause: error,
    ...(status === undefined ? {} : { status }),
  };
  const answered = `the server answered ${status}${errorName ? ` ${errorName}` : ""}: ${detail}`;
  if (status === 404 && errorName !== "NoSuchBucket") {
    return new ObjectNotFoundError({ ...base, reason: "it does not exist" });
  }
  if (status === 416 || errorName === "InvalidRange") {
    return new ObjectRangeNotSatisfiableError({ ...base, reason: answered });
  }
  if (status === undefined) {
    return new ObjectStoreUnavailableError({
      ...base,
      reason: `the request failed without an answer: ${detail}`,
    });
  }
  if (status === 408 || status === 429 || status >= 500 || errorName === "SlowDown") {
    return new ObjectStoreUnavailableError({ ...base, reason: answered });
  }
  return new ObjectStoreError({ ...base, reason: answered });
}
