/**
 * A small in-process fake of the Google Cloud Storage JSON API, enough for the real
 * `@google-cloud/storage` client (pointed at it with `apiEndpoint`) to put, get, head, list
 * and delete objects. There is no GCS emulator here and no outside network.
 *
 * Implemented:
 * - `POST /upload/storage/v1/b/B/o?uploadType=multipart` (multipart/related: JSON + media)
 * - `POST /upload/storage/v1/b/B/o?uploadType=media&name=N`
 * - `POST /upload/storage/v1/b/B/o?uploadType=resumable` then `PUT ...&upload_id=U` chunks
 *   with `Content-Range: bytes a-b/total|*`, answering 308 with `Range` until the last chunk
 * - `GET /storage/v1/b/B/o/N?alt=media` with `Range: bytes=a-b` (206/416) and `x-goog-hash`
 * - `GET /storage/v1/b/B/o/N` (metadata), `DELETE /storage/v1/b/B/o/N`
 * - `GET /storage/v1/b/B/o?prefix=&maxResults=&pageToken=` (sorted, paged)
 *
 * Objects carry real `md5Hash` and `crc32c` values so the client's end-to-end validation runs
 * as it does against Google.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { crc32c } from "../../protocol/crc32c.ts";

/** A running fake GCS server. */
export interface FakeGcsServer {
  /** "http://127.0.0.1:PORT", for `GcsObjectStore`'s `apiEndpoint`. */
  apiEndpoint: string;
  /** The bucket that exists. */
  bucket: string;
  /** Requests seen per kind, e.g. `upload:multipart`, `upload:resumable`, `media`. */
  requestCounts: Map<string, number>;
  /** The next `count` requests answer `status` (e.g. 503) without being served. */
  failNext(count: number, status: number): void;
  /** The next whole-object media download has one byte flipped (its hash header is intact). */
  corruptNextMedia(): void;
  /** Stops the server. */
  stop(): Promise<void>;
}

interface StoredObject {
  bytes: Uint8Array;
  generation: number;
  contentType: string;
  updated: string;
}

interface ResumableSession {
  name: string;
  contentType: string;
  chunks: Uint8Array[];
  receivedBytes: number;
}

/**
 * Starts the fake on 127.0.0.1 with a kernel-chosen port.
 *
 * @example
 * ```ts ignore
 * const gcs = await startFakeGcsServer();
 * try { console.log(gcs.apiEndpoint); } finally { await gcs.stop(); }
 * ```
 */
export function startFakeGcsServer(
  options: { bucket?: string } = {},
): Promise<FakeGcsServer> {
  const bucket = options.bucket ?? "rustmq-test";
  const state = new _FakeGcsState(bucket);
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => {
        state.origin = `http://127.0.0.1:${port}`;
        resolve({
          apiEndpoint: state.origin,
          bucket,
          requestCounts: state.requestCounts,
          failNext: (count, status) => {
            state.failures = { count, status };
          },
          corruptNextMedia: () => {
            state.corruptNextMedia = true;
          },
          stop: () => server.shutdown(),
        });
      },
    }, (request) => state.handle(request));
  });
}

class _FakeGcsState {
  origin = "";
  failures = { count: 0, status: 503 };
  corruptNextMedia = false;
  readonly requestCounts = new Map<string, number>();
  readonly #objects = new Map<string, StoredObject>();
  readonly #sessions = new Map<string, ResumableSession>();
  #generation = 1_000;
  #sessionCounter = 0;

  constructor(readonly bucket: string) {}

  async handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (this.failures.count > 0) {
      this.failures.count -= 1;
      await request.body?.cancel();
      return _error(this.failures.status, "backendError", "Injected failure");
    }
    const upload = url.pathname.match(/^\/upload\/storage\/v1\/b\/([^/]+)\/o$/);
    const object = url.pathname.match(/^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/);
    const list = url.pathname.match(/^\/storage\/v1\/b\/([^/]+)\/o$/);
    const bucket = upload?.[1] ?? object?.[1] ?? list?.[1];
    if (bucket !== undefined && decodeURIComponent(bucket) !== this.bucket) {
      await request.body?.cancel();
      return _error(404, "notFound", `The specified bucket does not exist: ${bucket}`);
    }
    if (upload !== null) return await this.#upload(request, url);
    if (object !== null) return this.#object(request, url, decodeURIComponent(object[2] ?? ""));
    if (list !== null && request.method === "GET") return this.#list(url);
    await request.body?.cancel();
    return _error(400, "invalid", `Fake GCS does not serve ${request.method} ${url.pathname}`);
  }

  #count(kind: string): void {
    this.requestCounts.set(kind, (this.requestCounts.get(kind) ?? 0) + 1);
  }

  async #upload(request: Request, url: URL): Promise<Response> {
    const uploadType = url.searchParams.get("uploadType");
    const uploadId = url.searchParams.get("upload_id");
    if (uploadId !== null) return await this.#resumableChunk(request, uploadId);
    this.#count(`upload:${uploadType}`);
    const body = new Uint8Array(await request.arrayBuffer());
    if (uploadType === "media") {
      const name = url.searchParams.get("name") ?? "";
      return this.#store(name, body, request.headers.get("content-type") ?? "");
    }
    if (uploadType === "multipart") {
      const parts = _parseMultipart(body, request.headers.get("content-type") ?? "");
      if (parts === null || parts.length !== 2) {
        return _error(400, "invalid", "Expected a multipart/related body of two parts");
      }
      const metadata = JSON.parse(new TextDecoder().decode(parts[0]?.body)) as {
        name?: string;
        contentType?: string;
      };
      const name = metadata.name ?? url.searchParams.get("name") ?? "";
      return this.#store(name, parts[1]?.body ?? new Uint8Array(0), metadata.contentType ?? "");
    }
    if (uploadType === "resumable") {
      const metadata = body.length === 0
        ? {}
        : JSON.parse(new TextDecoder().decode(body)) as { name?: string; contentType?: string };
      const name = metadata.name ?? url.searchParams.get("name") ?? "";
      if (name === "") return _error(400, "required", "Required object name");
      this.#sessionCounter += 1;
      const id = `session-${this.#sessionCounter}`;
      this.#sessions.set(id, {
        name,
        contentType: metadata.contentType ?? request.headers.get("x-upload-content-type") ?? "",
        chunks: [],
        receivedBytes: 0,
      });
      const location = `${this.origin}${url.pathname}?uploadType=resumable&upload_id=${id}`;
      return new Response(null, { status: 200, headers: { location } });
    }
    return _error(400, "invalid", `Unsupported uploadType ${uploadType}`);
  }

  async #resumableChunk(request: Request, uploadId: string): Promise<Response> {
    this.#count("upload:resumable-chunk");
    const session = this.#sessions.get(uploadId);
    const body = new Uint8Array(await request.arrayBuffer());
    if (session === undefined) return _error(404, "notFound", `No upload session ${uploadId}`);
    const header = request.headers.get("content-range") ?? `bytes 0-${body.length - 1}/*`;
    const match = header.match(/^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/);
    if (match === null) return _error(400, "invalid", `Bad Content-Range ${header}`);
    if (match[1] !== undefined) {
      const start = Number(match[1]);
      // A chunk resent after a lost answer overlaps what we have: keep only the new tail.
      const skip = session.receivedBytes - start;
      if (skip < 0) return _error(400, "invalid", `Chunk starts at ${start}, a gap`);
      if (skip < body.length) {
        session.chunks.push(body.subarray(skip));
        session.receivedBytes += body.length - skip;
      }
    }
    const total = match[3] === "*" ? undefined : Number(match[3]);
    if (total !== undefined && session.receivedBytes === total) {
      this.#sessions.delete(uploadId);
      const bytes = new Uint8Array(total);
      let offset = 0;
      for (const chunk of session.chunks) {
        bytes.set(chunk, offset);
        offset += chunk.length;
      }
      return this.#store(session.name, bytes, session.contentType);
    }
    const headers: Record<string, string> = session.receivedBytes > 0
      ? { range: `bytes=0-${session.receivedBytes - 1}` }
      : {};
    return new Response(null, { status: 308, headers });
  }

  #store(name: string, bytes: Uint8Array, contentType: string): Response {
    if (name === "") return _error(400, "required", "Required object name");
    this.#generation += 1;
    const stored = {
      bytes,
      generation: this.#generation,
      contentType: contentType || "application/octet-stream",
      updated: new Date(0).toISOString(),
    };
    this.#objects.set(name, stored);
    return Response.json(this.#resource(name, stored));
  }

  #object(request: Request, url: URL, name: string): Response {
    const stored = this.#objects.get(name);
    if (request.method === "DELETE") {
      this.#count("delete");
      if (stored === undefined) return _error(404, "notFound", `No such object: ${name}`);
      this.#objects.delete(name);
      return new Response(null, { status: 204 });
    }
    if (request.method !== "GET") return _error(405, "invalid", `${request.method} on object`);
    if (stored === undefined) return _error(404, "notFound", `No such object: ${name}`);
    if (url.searchParams.get("alt") !== "media") {
      this.#count("metadata");
      return Response.json(this.#resource(name, stored));
    }
    this.#count("media");
    const response = _media(stored, request.headers.get("range"));
    if (!this.corruptNextMedia || response.status !== 200) return response;
    this.corruptNextMedia = false;
    const bytes = stored.bytes.slice();
    bytes[0] = (bytes[0] ?? 0) ^ 0xff;
    return new Response(bytes, { status: 200, headers: response.headers });
  }

  #list(url: URL): Response {
    this.#count("list");
    const prefix = url.searchParams.get("prefix") ?? "";
    const maxResults = Math.min(Number(url.searchParams.get("maxResults") ?? 1000), 1000);
    const token = url.searchParams.get("pageToken");
    const after = token === null ? "" : atob(token);
    const names = [...this.#objects.keys()]
      .filter((name) => name.startsWith(prefix) && name > after)
      .sort();
    const page = names.slice(0, maxResults);
    const items = page.map((name) => this.#resource(name, this.#objects.get(name)!));
    const last = page.at(-1);
    return Response.json({
      kind: "storage#objects",
      items,
      ...(names.length > maxResults && last !== undefined ? { nextPageToken: btoa(last) } : {}),
    });
  }

  #resource(name: string, stored: StoredObject): Record<string, string> {
    return {
      kind: "storage#object",
      id: `${this.bucket}/${name}/${stored.generation}`,
      name,
      bucket: this.bucket,
      generation: String(stored.generation),
      metageneration: "1",
      contentType: stored.contentType,
      size: String(stored.bytes.length),
      md5Hash: _md5Base64(stored.bytes),
      crc32c: _crc32cBase64(stored.bytes),
      etag: `CP${stored.generation}=`,
      timeCreated: stored.updated,
      updated: stored.updated,
    };
  }
}

function _media(stored: StoredObject, rangeHeader: string | null): Response {
  const size = stored.bytes.length;
  const hash = `crc32c=${_crc32cBase64(stored.bytes)},md5=${_md5Base64(stored.bytes)}`;
  const common = {
    "content-type": stored.contentType,
    "x-goog-generation": String(stored.generation),
    "x-goog-hash": hash,
    "x-goog-stored-content-length": String(size),
    "accept-ranges": "bytes",
  };
  const match = rangeHeader?.match(/^bytes=(\d+)-(\d*)$/);
  if (match === undefined || match === null) {
    return new Response(stored.bytes.slice(), { status: 200, headers: common });
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size) {
    return _error(416, "requestedRangeNotSatisfiable", "The requested range cannot be satisfied.");
  }
  return new Response(stored.bytes.slice(start, end + 1), {
    status: 206,
    headers: { ...common, "content-range": `bytes ${start}-${end}/${size}` },
  });
}

function _error(status: number, reason: string, message: string): Response {
  return Response.json(
    { error: { code: status, message, errors: [{ reason, message, domain: "global" }] } },
    { status },
  );
}

function _md5Base64(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("base64");
}

function _crc32cBase64(bytes: Uint8Array): string {
  const value = crc32c(bytes);
  const big = new Uint8Array([
    value >>> 24,
    (value >>> 16) & 0xff,
    (value >>> 8) & 0xff,
    value & 0xff,
  ]);
  return btoa(String.fromCharCode(...big));
}

/** Splits a multipart/related body into parts (headers are skipped), or `null`. */
function _parseMultipart(
  body: Uint8Array,
  contentType: string,
): { body: Uint8Array }[] | null {
  const boundary = contentType.match(/boundary="?([^";]+)"?/)?.[1];
  if (boundary === undefined) return null;
  const delimiter = new TextEncoder().encode(`--${boundary}`);
  const positions: number[] = [];
  for (let i = _indexOf(body, delimiter, 0); i >= 0; i = _indexOf(body, delimiter, i + 1)) {
    positions.push(i);
  }
  const parts: { body: Uint8Array }[] = [];
  for (let p = 0; p + 1 < positions.length; p += 1) {
    const start = (positions[p] ?? 0) + delimiter.length;
    const end = positions[p + 1] ?? body.length;
    const headerEnd = _indexOf(body, new TextEncoder().encode("\r\n\r\n"), start);
    if (headerEnd < 0 || headerEnd > end) return null;
    // Each part ends with the CRLF that precedes the next delimiter.
    parts.push({ body: body.subarray(headerEnd + 4, end - 2) });
  }
  return parts;
}

function _indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  outer: for (
    let i = haystack.indexOf(first ?? 0, from);
    i >= 0;
    i = haystack.indexOf(first ?? 0, i + 1)
  ) {
    if (i + needle.length > haystack.length) return -1;
    for (let j = 1; j < needle.length; j += 1) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
