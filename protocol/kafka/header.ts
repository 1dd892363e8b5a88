/**
 * Kafka request and response headers (RequestHeader.json v0-v2, ResponseHeader.json v0-v1).
 *
 * A frame on the wire is `int32 size` followed by a header and a body; this module handles the
 * header only, so the framer that splits the byte stream stays separate.
 *
 * Which header version applies depends on the API key and version: flexible API versions use
 * request header v2 and response header v1; ApiVersions responses always use response header v0,
 * because a client reads them before it knows which versions the broker speaks; and
 * ControlledShutdown v0 alone uses request header v0.
 *
 * @module
 */

import { ApiKey, isFlexibleVersion } from "./api_keys.ts";
import type { Reader, Writer } from "./wire.ts";

/** A decoded request header. */
export interface RequestHeader {
  /** The API key of the request. */
  apiKey: number;
  /** The API version of the request. */
  apiVersion: number;
  /** The correlation id the response must echo. */
  correlationId: number;
  /** The client id (null when the client sent none, and always null in header v0). */
  clientId: string | null;
}

/** A decoded response header. */
export interface ResponseHeader {
  /** The correlation id of the request this answers. */
  correlationId: number;
}

/**
 * The request header version (0, 1 or 2) for `apiKey` at `apiVersion`.
 *
 * @example
 * ```ts
 * import { requestHeaderVersion } from "./header.ts";
 * if (requestHeaderVersion(0, 9) !== 2 || requestHeaderVersion(0, 8) !== 1) {
 *   throw new Error("unreachable");
 * }
 * ```
 */
export function requestHeaderVersion(apiKey: number, apiVersion: number): 0 | 1 | 2 {
  if (apiKey === ApiKey.ControlledShutdown && apiVersion === 0) return 0;
  return isFlexibleVersion(apiKey, apiVersion) ? 2 : 1;
}

/**
 * The response header version (0 or 1) for `apiKey` at `apiVersion`.
 *
 * @example
 * ```ts
 * import { responseHeaderVersion } from "./header.ts";
 * if (responseHeaderVersion(18, 3) !== 0 || responseHeaderVersion(3, 9) !== 1) {
 *   throw new Error("unreachable");
 * }
 * ```
 */
export function responseHeaderVersion(apiKey: number, apiVersion: number): 0 | 1 {
  if (apiKey === ApiKey.ApiVersions) return 0;
  return isFlexibleVersion(apiKey, apiVersion) ? 1 : 0;
}

/**
 * Decodes a request header and leaves `r` at the start of the body.
 *
 * The header version comes from the API key and version in the first four bytes. An unknown API
 * key is decoded as header v1 (the header every non-flexible API uses) so the caller can answer
 * or close the connection; its body cannot be decoded anyway.
 *
 * Grammar:
 * ```text
 * v0: request_api_key int16, request_api_version int16, correlation_id int32
 * v1: v0 + client_id NULLABLE_STRING
 * v2: v1 + TAG_BUFFER
 * ```
 *
 * @example
 * ```ts
 * import { decodeRequestHeader } from "./header.ts";
 * import { Reader } from "./wire.ts";
 * const r = new Reader(new Uint8Array([0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff]));
 * const h = decodeRequestHeader(r);
 * if (h.apiKey !== 18 || h.correlationId !== 7 || h.clientId !== null) {
 *   throw new Error("unreachable");
 * }
 * ```
 *
 * @throws {MalformedFrameError} when the header is truncated or malformed.
 */
export function decodeRequestHeader(r: Reader): RequestHeader {
  const apiKey = r.int16();
  const apiVersion = r.int16();
  const correlationId = r.int32();
  const version = requestHeaderVersion(apiKey, apiVersion);
  // The client id keeps its int16 length even in header v2, so that any broker can read the
  // header of an ApiVersions request whatever its version.
  const clientId = version >= 1 ? r.nullableString(false) : null;
  if (version >= 2) r.skipTaggedFields();
  return { apiKey, apiVersion, correlationId, clientId };
}

/**
 * Encodes a request header at the version its API key and version require (client side).
 *
 * @example
 * ```ts
 * import { encodeRequestHeader } from "./header.ts";
 * import { Writer } from "./wire.ts";
 * const w = new Writer();
 * encodeRequestHeader(w, { apiKey: 18, apiVersion: 3, correlationId: 1, clientId: "c" });
 * if (w.length !== 12) throw new Error("unreachable");
 * ```
 */
export function encodeRequestHeader(w: Writer, header: RequestHeader): void {
  const version = requestHeaderVersion(header.apiKey, header.apiVersion);
  w.int16(header.apiKey);
  w.int16(header.apiVersion);
  w.int32(header.correlationId);
  if (version >= 1) w.nullableString(header.clientId, false);
  if (version >= 2) w.uvarint(0);
}

/**
 * Encodes the response header for a request of `apiKey` at `apiVersion`.
 *
 * Grammar:
 * ```text
 * v0: correlation_id int32
 * v1: correlation_id int32, TAG_BUFFER
 * ```
 *
 * @example
 * ```ts
 * import { encodeResponseHeader } from "./header.ts";
 * import { Writer } from "./wire.ts";
 * const w = new Writer();
 * encodeResponseHeader(w, 3, 12, 42);
 * if (w.length !== 5) throw new Error("unreachable");
 * ```
 */
export function encodeResponseHeader(
  w: Writer,
  apiKey: number,
  apiVersion: number,
  correlationId: number,
): void {
  w.int32(correlationId);
  if (responseHeaderVersion(apiKey, apiVersion) >= 1) w.uvarint(0);
}

/**
 * Decodes the response header of a request of `apiKey` at `apiVersion` (client side) and leaves
 * `r` at the start of the body.
 *
 * @throws {MalformedFrameError} when the header is truncated or malformed.
 */
export function decodeResponseHeader(
  r: Reader,
  apiKey: number,
  apiVersion: number,
): ResponseHeader {
  const correlationId = r.int32();
  if (responseHeaderVersion(apiKey, apiVersion) >= 1) r.skipTaggedFields();
  return { correlationId };
}
