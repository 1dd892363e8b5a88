/**
 * One conformance suite for every `ObjectStore` backend (Hono's `common.case.test.ts` idea):
 * each backend's test file calls {@linkcode registerObjectStoreConformanceTests} with a factory,
 * so Local, S3 and GCS are held to exactly the same contract.
 *
 * The suite registers one `Deno.test` whose steps share a single store (so a real server is
 * started once per backend); every step works under its own key prefix.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  ObjectNotFoundError,
  ObjectRangeNotSatisfiableError,
  type ObjectStore,
  type ObjectSummary,
} from "./object_store.ts";

/** What a backend's factory hands to the suite. */
export interface ConformanceFixture {
  /** The store under test, configured with `multipartThresholdBytes`. */
  store: ObjectStore;
  /** The threshold the store was configured with; the suite writes objects on both sides. */
  multipartThresholdBytes: number;
  /** Stops servers and removes files; called once after all steps. */
  cleanup(): Promise<void>;
}

/** Options for {@linkcode registerObjectStoreConformanceTests}. */
export interface ConformanceOptions {
  /**
   * How many tiny keys the pagination step writes (more than 1000 proves that `list`
   * follows page tokens); 0 skips it for slow backends.
   * @default {1100}
   */
  paginationKeyCount?: number;
  /**
   * Size of the large round-trip object.
   * @default {10 MiB + 3 bytes}
   */
  largeObjectBytes?: number;
  /** Passed to `Deno.test` (e.g. when a backend's server cannot run here). */
  ignore?: boolean;
  /**
   * Why the test server cannot answer a ranged get of an empty object; the check is skipped
   * when set. (s3rver 3.7.1 answers 206 with `Content-Length: 1` and no body, so the client
   * waits for a byte that never comes.)
   */
  skipEmptyObjectRangeBecause?: string;
}

/**
 * Registers the conformance suite for one backend as a `Deno.test` named
 * "`<name>` conforms to the ObjectStore contract".
 *
 * @example
 * ```ts ignore
 * import { registerObjectStoreConformanceTests } from "./object_store_conformance.ts";
 * import { LocalObjectStore } from "./local_object_store.ts";
 * registerObjectStoreConformanceTests("LocalObjectStore", async () => {
 *   const rootDir = await Deno.makeTempDir();
 *   return {
 *     store: new LocalObjectStore({ rootDir, multipartThresholdBytes: 1 << 20 }),
 *     multipartThresholdBytes: 1 << 20,
 *     cleanup: () => Deno.remove(rootDir, { recursive: true }),
 *   };
 * });
 * ```
 */
export function registerObjectStoreConformanceTests(
  name: string,
  factory: () => Promise<ConformanceFixture>,
  options: ConformanceOptions = {},
): void {
  const paginationKeyCount = options.paginationKeyCount ?? 1100;
  const largeObjectBytes = options.largeObjectBytes ?? 10 * 1024 * 1024 + 3;
  Deno.test({
    name: `${name} conforms to the ObjectStore contract`,
    ignore: options.ignore ?? false,
    async fn(t) {
      const fixture = await factory();
      const { store } = fixture;
      try {
        const steps = _steps(fixture, largeObjectBytes, options.skipEmptyObjectRangeBecause);
        for (const [stepName, step] of steps) {
          await t.step(stepName, () => step(store));
        }
        if (paginationKeyCount > 0) {
          await t.step(
            `${name} list follows page tokens past 1000 keys`,
            () => _checkPagination(store, paginationKeyCount),
          );
        }
      } finally {
        await store.close();
        await fixture.cleanup();
      }
    },
  });
}

type Step = (store: ObjectStore) => Promise<void>;

function _steps(
  fixture: ConformanceFixture,
  largeObjectBytes: number,
  skipEmptyObjectRangeBecause: string | undefined,
): [string, Step][] {
  const threshold = fixture.multipartThresholdBytes;
  return [
    [
      "put and get round-trip binary, empty and large objects",
      (s) => _checkRoundTrip(s, largeObjectBytes),
    ],
    ["put replaces an existing object", _checkReplace],
    ["get with a range returns inclusive bytes and clamps the end", _checkRanges],
    [
      "get with a range past the end is ObjectRangeNotSatisfiableError",
      (s) => _checkRangePastEnd(s, skipEmptyObjectRangeBecause === undefined),
    ],
    ["head returns size and etag, or null", _checkHead],
    ["list returns keys under a prefix in order", _checkListPrefixes],
    ["listPage pages with tokens and pageSizeMax", _checkListPages],
    ["delete is idempotent", _checkDelete],
    ["get of a missing key is ObjectNotFoundError", _checkNotFound],
    ["put above the multipart threshold round-trips", (s) => _checkMultipart(s, threshold)],
    ["put stores a body given in slices as one object", (s) => _checkSlices(s, threshold)],
    ["concurrent puts all land whole", _checkConcurrentPuts],
    ["invalid keys and ranges are RangeError", _checkInvalidArguments],
  ];
}

/** Deterministic pseudo-random bytes (xorshift32) so failures are reproducible. */
export function patternBytes(sizeBytes: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(sizeBytes);
  let x = (seed | 0) || 0x9e3779b9;
  for (let i = 0; i < sizeBytes; i += 1) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

async function _collect(iterable: AsyncIterable<ObjectSummary>): Promise<ObjectSummary[]> {
  const all: ObjectSummary[] = [];
  for await (const summary of iterable) all.push(summary);
  return all;
}

function _assertBytesEqual(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  // Comparing as a Buffer is fast even for 10 MiB, unlike element-wise deepEqual.
  assert.ok(
    Buffer.from(actual.buffer, actual.byteOffset, actual.length).equals(expected),
    `${what}: contents differ`,
  );
}

async function _checkRoundTrip(store: ObjectStore, largeObjectBytes: number): Promise<void> {
  const small = patternBytes(1000, 1);
  // All 256 byte values, to catch any text decoding on the way.
  const everyByte = Uint8Array.from({ length: 512 }, (_, i) => i % 256);
  const empty = new Uint8Array(0);
  const large = patternBytes(largeObjectBytes, 2);
  for (
    const [key, bytes] of [
      ["round-trip/small", small],
      ["round-trip/every-byte", everyByte],
      ["round-trip/empty", empty],
      ["round-trip/large", large],
    ] as const
  ) {
    const metadata = await store.put(key, bytes);
    assert.equal(metadata.key, key);
    assert.equal(metadata.sizeBytes, bytes.length);
    _assertBytesEqual(await store.get(key), bytes, key);
  }
  const weird = "round-trip/sp ace+plus%percent/ünïcødé=1&x?y#z";
  await store.put(weird, small);
  _assertBytesEqual(await store.get(weird), small, weird);
  assert.deepEqual((await _collect(store.list("round-trip/sp "))).map((o) => o.key), [weird]);
}

async function _checkReplace(store: ObjectStore): Promise<void> {
  const first = await store.put("replace/x", patternBytes(100, 3));
  const second = await store.put("replace/x", patternBytes(50, 4));
  assert.notEqual(first.etag, second.etag);
  _assertBytesEqual(await store.get("replace/x"), patternBytes(50, 4), "replaced");
  assert.equal((await store.head("replace/x"))?.sizeBytes, 50);
}

async function _checkRanges(store: ObjectStore): Promise<void> {
  const bytes = patternBytes(3 * 1024 * 1024 + 17, 5);
  await store.put("range/obj", bytes);
  const last = bytes.length - 1;
  const cases: [number, number][] = [
    [0, 0], // first byte only: end is inclusive
    [0, 9],
    [1, 1],
    [last, last], // last byte only
    [1024 * 1024 - 1, 2 * 1024 * 1024], // across MiB boundaries
    [0, last], // whole object
  ];
  for (const [start, end] of cases) {
    const got = await store.get("range/obj", { range: { start, end } });
    _assertBytesEqual(got, bytes.subarray(start, end + 1), `range ${start}-${end}`);
  }
  // An end past the last byte is clamped, as HTTP Range does.
  const tail = await store.get("range/obj", { range: { start: last - 4, end: last + 1000 } });
  _assertBytesEqual(tail, bytes.subarray(last - 4), "clamped tail");
}

async function _checkRangePastEnd(store: ObjectStore, checkEmpty: boolean): Promise<void> {
  await store.put("range-past/obj", patternBytes(10, 6));
  await assert.rejects(
    store.get("range-past/obj", { range: { start: 10, end: 20 } }),
    (error: unknown) => {
      assert.ok(error instanceof ObjectRangeNotSatisfiableError, String(error));
      assert.equal(error.retriable, false);
      assert.equal(error.code, "OBJECT_RANGE_NOT_SATISFIABLE");
      return true;
    },
  );
  if (!checkEmpty) return;
  // An empty object has no byte 0.
  await store.put("range-past/empty", new Uint8Array(0));
  await assert.rejects(
    store.get("range-past/empty", { range: { start: 0, end: 0 } }),
    ObjectRangeNotSatisfiableError,
  );
}

async function _checkHead(store: ObjectStore): Promise<void> {
  const put = await store.put("head/obj", patternBytes(1234, 7));
  const head = await store.head("head/obj");
  assert.ok(head !== null);
  assert.equal(head.key, "head/obj");
  assert.equal(head.sizeBytes, 1234);
  assert.equal(typeof head.etag, "string");
  assert.ok(head.etag.length > 0);
  assert.equal(head.etag, put.etag);
  await store.put("head/empty", new Uint8Array(0));
  assert.equal((await store.head("head/empty"))?.sizeBytes, 0);
  assert.equal(await store.head("head/missing"), null);
  // "head" is a directory-like prefix of "head/obj", not an object.
  assert.equal(await store.head("head"), null);
}

async function _checkListPrefixes(store: ObjectStore): Promise<void> {
  const keys = ["list/p/b/c", "list/p/a", "list/p/bb", "list/q/x", "list/pz"];
  await Promise.all(keys.map((key, i) => store.put(key, patternBytes(i + 1, i))));
  const keysOf = async (prefix: string) => (await _collect(store.list(prefix))).map((o) => o.key);
  assert.deepEqual(await keysOf("list/"), [...keys].sort());
  assert.deepEqual(await keysOf("list/p/"), ["list/p/a", "list/p/b/c", "list/p/bb"]);
  assert.deepEqual(await keysOf("list/p/b"), ["list/p/b/c", "list/p/bb"]);
  assert.deepEqual(await keysOf("list/p"), ["list/p/a", "list/p/b/c", "list/p/bb", "list/pz"]);
  assert.deepEqual(await keysOf("list/none"), []);
  const sizes = (await _collect(store.list("list/q/"))).map((o) => o.sizeBytes);
  assert.deepEqual(sizes, [4]);
}

async function _checkListPages(store: ObjectStore): Promise<void> {
  const keys = Array.from({ length: 20 }, (_, i) => `pages/k${String(i).padStart(3, "0")}`);
  await Promise.all(keys.map((key) => store.put(key, new Uint8Array([1]))));
  const seen: string[] = [];
  let pageToken: string | undefined;
  let pages = 0;
  do {
    const page = await store.listPage("pages/", {
      pageSizeMax: 7,
      ...(pageToken === undefined ? {} : { pageToken }),
    });
    assert.ok(page.objects.length <= 7);
    seen.push(...page.objects.map((o) => o.key));
    pageToken = page.nextPageToken;
    pages += 1;
    assert.ok(pages <= 20, "listing does not terminate");
  } while (pageToken !== undefined);
  assert.deepEqual(seen, keys);
  assert.ok(pages >= 3, `expected at least 3 pages of 7, got ${pages}`);
}

async function _checkPagination(store: ObjectStore, count: number): Promise<void> {
  const keys = Array.from({ length: count }, (_, i) => `many/${String(i).padStart(5, "0")}`);
  const payload = new Uint8Array([42]);
  // Bounded parallelism keeps a real server from drowning.
  for (let i = 0; i < keys.length; i += 50) {
    await Promise.all(keys.slice(i, i + 50).map((key) => store.put(key, payload)));
  }
  const listed = (await _collect(store.list("many/"))).map((o) => o.key);
  assert.equal(listed.length, count);
  assert.deepEqual(listed, keys);
  const first = await store.listPage("many/");
  assert.ok(first.objects.length <= 1000);
  assert.ok(first.nextPageToken !== undefined);
}

async function _checkDelete(store: ObjectStore): Promise<void> {
  await store.put("delete/a", patternBytes(10, 8));
  await store.put("delete/b", patternBytes(10, 9));
  await store.delete("delete/a");
  assert.equal(await store.head("delete/a"), null);
  await assert.rejects(store.get("delete/a"), ObjectNotFoundError);
  await store.delete("delete/a");
  await store.delete("delete/never-existed");
  assert.deepEqual((await _collect(store.list("delete/"))).map((o) => o.key), ["delete/b"]);
}

async function _checkNotFound(store: ObjectStore): Promise<void> {
  await assert.rejects(store.get("missing/key"), (error: unknown) => {
    assert.ok(error instanceof ObjectNotFoundError, String(error));
    assert.equal(error.code, "OBJECT_NOT_FOUND");
    assert.equal(error.retriable, false);
    assert.equal(error.key, "missing/key");
    assert.equal(error.operation, "get");
    assert.match(error.message, /Cannot get object 'missing\/key' from /);
    assert.ok(error.message.includes(store.location), error.message);
    return true;
  });
  await assert.rejects(
    store.get("missing/key", { range: { start: 0, end: 1 } }),
    ObjectNotFoundError,
  );
  // A prefix of existing keys is not an object (a directory, for the Local backend).
  await store.put("missing/dir/child", new Uint8Array(1));
  await assert.rejects(store.get("missing/dir"), ObjectNotFoundError);
}

async function _checkMultipart(store: ObjectStore, thresholdBytes: number): Promise<void> {
  // Three full parts and a ragged tail, assuming parts of about the threshold size.
  const big = patternBytes(3 * thresholdBytes + 12345, 10);
  const metadata = await store.put("multipart/big", big);
  assert.equal(metadata.sizeBytes, big.length);
  _assertBytesEqual(await store.get("multipart/big"), big, "multipart object");
  const middle = { start: thresholdBytes - 5, end: 2 * thresholdBytes + 5 };
  _assertBytesEqual(
    await store.get("multipart/big", { range: middle }),
    big.subarray(middle.start, middle.end + 1),
    "range across parts",
  );
  const exact = patternBytes(thresholdBytes, 11);
  await store.put("multipart/at-threshold", exact);
  _assertBytesEqual(await store.get("multipart/at-threshold"), exact, "at threshold");
}

async function _checkSlices(store: ObjectStore, thresholdBytes: number): Promise<void> {
  // Short slices (joined by some backends), empty ones, long ones, and in all more than the
  // multipart threshold, so parts and chunks fall across slice boundaries.
  const whole = patternBytes(thresholdBytes + 3 * 70_000 + 5000, 12);
  const cuts = [0, 1, 101, 101, 5101, 75_101, 75_101 + thresholdBytes, whole.length - 7];
  const slices = [...cuts, whole.length].slice(1).map((end, i) => whole.subarray(cuts[i]!, end));
  const before = slices.map((slice) => slice.slice());
  const metadata = await store.put("slices/object", slices);
  assert.equal(metadata.sizeBytes, whole.length);
  assert.equal((await store.head("slices/object"))?.sizeBytes, whole.length);
  _assertBytesEqual(await store.get("slices/object"), whole, "sliced object");
  const range = { start: 100, end: 80_000 };
  _assertBytesEqual(
    await store.get("slices/object", { range }),
    whole.subarray(range.start, range.end + 1),
    "range across slices",
  );
  // A put reads the slices and leaves them as they were.
  slices.forEach((slice, i) => _assertBytesEqual(slice, before[i]!, `slice ${i}`));
  await store.put("slices/none", []);
  assert.equal((await store.head("slices/none"))?.sizeBytes, 0);
  await assert.rejects(
    store.put("slices/bad", [new Uint8Array(1), "x" as unknown as Uint8Array]),
    TypeError,
  );
}

async function _checkConcurrentPuts(store: ObjectStore): Promise<void> {
  const count = 16;
  await Promise.all(
    Array.from({ length: count }, (_, i) => store.put(`concurrent/${i}`, patternBytes(70_000, i))),
  );
  for (let i = 0; i < count; i += 1) {
    _assertBytesEqual(await store.get(`concurrent/${i}`), patternBytes(70_000, i), `#${i}`);
  }
  // Racing writers of one key: the survivor is one whole version, never a mix.
  const versions = [20, 21, 22, 23].map((seed) => patternBytes(50_000, seed));
  await Promise.all(versions.map((bytes) => store.put("concurrent/same", bytes)));
  const got = await store.get("concurrent/same");
  assert.ok(
    versions.some((v) => Buffer.from(v).equals(got)),
    "the object is a mix of versions",
  );
}

async function _checkInvalidArguments(store: ObjectStore): Promise<void> {
  for (const key of ["", "../escape", "a/../../b", "/absolute", "a//b", "a/./b", "trailing/"]) {
    await assert.rejects(store.put(key, new Uint8Array(1)), RangeError, `put '${key}'`);
    await assert.rejects(store.get(key), RangeError, `get '${key}'`);
    await assert.rejects(store.delete(key), RangeError, `delete '${key}'`);
  }
  await store.put("args/obj", new Uint8Array(10));
  for (const range of [{ start: -1, end: 2 }, { start: 5, end: 4 }, { start: 0.5, end: 2 }]) {
    await assert.rejects(store.get("args/obj", { range }), RangeError, JSON.stringify(range));
  }
  await assert.rejects(store.listPage("args/", { pageSizeMax: 0 }), RangeError);
}
