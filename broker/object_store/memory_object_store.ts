/**
 * An in-memory `ObjectStore`, for unit tests of code that uses object storage (the uploader,
 * the fetch path) and for the deterministic fault tests of `ResilientObjectStore`. It does no
 * I/O at all, so every operation completes within microtasks.
 *
 * @module
 */
import {
  assertValidByteRange,
  assertValidObjectBytes,
  assertValidObjectKey,
  assertValidPageSize,
  clampByteRange,
  type GetOptions,
  joinObjectBody,
  LIST_PAGE_SIZE_MAX,
  listAllPages,
  type ListPage,
  type ListPageOptions,
  type ObjectBody,
  type ObjectMetadata,
  ObjectNotFoundError,
  ObjectRangeNotSatisfiableError,
  type ObjectStore,
  type ObjectSummary,
  type RequestOptions,
} from "./object_store.ts";

/**
 * An `ObjectStore` kept in a `Map`. Stored bytes are copied on put and get so callers cannot
 * alias the store's contents.
 *
 * @example
 * ```ts
 * import { MemoryObjectStore } from "./memory_object_store.ts";
 * const store = new MemoryObjectStore();
 * await store.put("a/b", new Uint8Array([1, 2, 3]));
 * const bytes = await store.get("a/b", { range: { start: 1, end: 1 } });
 * console.assert(bytes.length === 1 && bytes[0] === 2);
 * ```
 */
export class MemoryObjectStore implements ObjectStore {
  /** Always "Memory". */
  readonly backend = "Memory" as const;
  /** Always "memory store". */
  readonly location = "memory store";
  #objects = new Map<string, { bytes: Uint8Array; etag: string }>();
  #version = 0;

  /** Stores a copy of `body`. */
  put(key: string, body: ObjectBody): Promise<ObjectMetadata> {
    return _settle(() => {
      assertValidObjectKey(key);
      assertValidObjectBytes(key, body);
      // Own copy: the caller may reuse its buffers once put settles (joining already copies).
      const bytes = body instanceof Uint8Array || body.length === 1
        ? joinObjectBody(body).slice()
        : joinObjectBody(body);
      this.#version += 1;
      const etag = `"m${this.#version}"`;
      this.#objects.set(key, { bytes, etag });
      return { key, sizeBytes: bytes.length, etag };
    });
  }

  /** Returns a copy of the object or of its inclusive range. */
  get(key: string, options: GetOptions = {}): Promise<Uint8Array> {
    return _settle(() => {
      assertValidObjectKey(key);
      if (options.range !== undefined) assertValidByteRange(options.range);
      const entry = this.#objects.get(key);
      const context = { backend: this.backend, location: this.location, key };
      if (entry === undefined) {
        throw new ObjectNotFoundError({
          ...context,
          operation: "get",
          reason: "it does not exist",
        });
      }
      if (options.range === undefined) return entry.bytes.slice();
      const range = clampByteRange(options.range, entry.bytes.length);
      if (range === null) {
        throw new ObjectRangeNotSatisfiableError({
          ...context,
          operation: "get",
          reason: `the range starts at ${options.range.start}, ` +
            `past its size of ${entry.bytes.length} bytes`,
        });
      }
      return entry.bytes.slice(range.start, range.end + 1);
    });
  }

  /** The object's size and etag, or `null`. */
  head(key: string, _options?: RequestOptions): Promise<ObjectMetadata | null> {
    return _settle(() => {
      assertValidObjectKey(key);
      const entry = this.#objects.get(key);
      if (entry === undefined) return null;
      return { key, sizeBytes: entry.bytes.length, etag: entry.etag };
    });
  }

  /** One page of keys; the page token is the last key of the previous page. */
  listPage(prefix: string, options: ListPageOptions = {}): Promise<ListPage> {
    return _settle(() => {
      const pageSizeMax = options.pageSizeMax ?? LIST_PAGE_SIZE_MAX;
      assertValidPageSize(pageSizeMax);
      const after = options.pageToken ?? "";
      const keys = [...this.#objects.keys()]
        .filter((key) => key.startsWith(prefix) && key > after)
        .sort();
      const objects: ObjectSummary[] = keys.slice(0, pageSizeMax).map((key) => ({
        key,
        sizeBytes: this.#objects.get(key)?.bytes.length ?? 0,
      }));
      const last = objects.at(-1);
      return keys.length > pageSizeMax && last !== undefined
        ? { objects, nextPageToken: last.key }
        : { objects };
    });
  }

  /** All keys with `prefix`, page by page. */
  list(prefix: string, options?: RequestOptions): AsyncIterable<ObjectSummary> {
    return listAllPages(this, prefix, options);
  }

  /** Removes the object if present. */
  delete(key: string, _options?: RequestOptions): Promise<void> {
    return _settle(() => {
      assertValidObjectKey(key);
      this.#objects.delete(key);
    });
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Runs `fn` and turns its result or exception into a promise, as the async backends do. */
function _settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}
