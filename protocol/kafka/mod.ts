/**
 * The Kafka wire protocol: primitive codecs, request/response headers, API keys and versions,
 * error codes. The generated message codecs are exported from `./messages/mod.ts`.
 *
 * @example
 * ```ts
 * import { decodeRequestHeader, encodeRequestHeader, Reader, Writer } from "./mod.ts";
 * const w = new Writer();
 * encodeRequestHeader(w, { apiKey: 3, apiVersion: 12, correlationId: 9, clientId: "sdk" });
 * const h = decodeRequestHeader(new Reader(w.finish()));
 * if (h.correlationId !== 9 || h.clientId !== "sdk") throw new Error("unreachable");
 * ```
 *
 * @module
 */

export {
  API_VERSION_RANGES,
  ApiKey,
  type ApiVersionRange,
  apiVersionRange,
  isFlexibleVersion,
} from "./api_keys.ts";
export {
  ERROR_CODES,
  ErrorCode,
  type ErrorCodeInfo,
  errorCodeInfo,
  isRetriableErrorCode,
} from "./errors.ts";
export {
  decodeRequestHeader,
  decodeResponseHeader,
  encodeRequestHeader,
  encodeResponseHeader,
  type RequestHeader,
  requestHeaderVersion,
  type ResponseHeader,
  responseHeaderVersion,
} from "./header.ts";
export {
  checkVersion,
  FrameEncodeError,
  MalformedFrameError,
  Reader,
  rejectNonDefault,
  requireNonNull,
  Writer,
  type WriterOptions,
  ZERO_UUID,
} from "./wire.ts";
