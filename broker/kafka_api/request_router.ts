/**
 * Routes Kafka request frames to handlers: decode the header, check the API and version, decode
 * the body with the generated codec, run the handler, and encode the response with the header
 * version the API requires. ApiVersions advertises exactly the routes in the table.
 *
 * A version outside a route's range is answered with the API's UNSUPPORTED_VERSION error
 * response (see unsupported_version.ts), and a rate-limited warning. A frame that cannot be
 * decoded, an unknown API key, or a version not even the codec knows throws, which makes the
 * listener log the client and close only that connection.
 *
 * @module
 */

import { Reader, Writer } from "../../protocol/kafka/wire.ts";
import {
  decodeRequestHeader,
  encodeResponseHeader,
  type RequestHeader,
} from "../../protocol/kafka/header.ts";
import { unsupportedVersionResponse } from "./unsupported_version.ts";
import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  type ApiVersionsRequest,
  type ApiVersionsResponse,
  createApiVersionsResponse,
  decodeApiVersionsRequest,
  encodeApiVersionsResponse,
} from "../../protocol/kafka/messages/mod.ts";
import type { ConnectionContext } from "../net/frame_handler.ts";
import type { BrokerContext, RequestContext } from "./broker_context.ts";

/** One served API: its version range, codecs and handler. */
export interface ApiRoute<Req = unknown, Res = unknown> {
  readonly apiKey: number;
  readonly name: string;
  readonly minVersion: number;
  readonly maxVersion: number;
  /** Advertised in ApiVersions. Unadvertised routes answer with an error code. */
  readonly advertised: boolean;
  decode(r: Reader, version: number): Req;
  encode(w: Writer, res: Res, version: number): void;
  /** Returns the response, or null when the request takes none (Produce with acks=0). */
  handle(req: Req, ctx: RequestContext): Promise<Res | null>;
}

/** A client sent something the broker will not serve; its connection is closed. */
export class UnsupportedRequestError extends Error {
  readonly code = "UNSUPPORTED_VERSION";
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedRequestError";
  }
}

/**
 * Called once per routed request with the API's name, the seconds from decode to response
 * (a parked Fetch's wait included, as in Kafka's request metrics) and whether the handler
 * threw, which closes the connection.
 */
export type RequestObserver = (api: string, seconds: number, failed: boolean) => void;

/** What a middleware sees of one decoded request, before its handler runs. */
export interface RoutedRequest {
  readonly connection: ConnectionContext;
  readonly apiKey: number;
  readonly apiVersion: number;
  /** The decoded request body. */
  readonly request: unknown;
}

/**
 * Runs before every handler (ApiVersions included) for authentication, authorization or
 * quotas. Returning a string rejects the request: the router throws
 * {@link RequestRejectedError} with it, which closes only that connection.
 */
export type RequestMiddleware = (req: RoutedRequest) => string | undefined;

/** A middleware refused a request; the listener logs it and closes the connection. */
export class RequestRejectedError extends Error {
  readonly code = "REQUEST_REJECTED";
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "RequestRejectedError";
  }
}

/** Builds the frame handler for a route table; `middleware` runs in order before each handler. */
export function createRequestRouter(
  routes: readonly ApiRoute<never, never>[],
  broker: BrokerContext,
  observe?: RequestObserver,
  middleware: readonly RequestMiddleware[] = [],
): (frame: Uint8Array, connection: ConnectionContext) => Promise<Uint8Array | null> {
  const byKey = new Map<number, ApiRoute>();
  for (const r of routes as readonly ApiRoute[]) byKey.set(r.apiKey, r);
  const apiVersions = apiVersionsRoute(routes as readonly ApiRoute[]);
  byKey.set(ApiKey.ApiVersions, apiVersions);

  return async (frame, connection) => {
    const r = new Reader(frame);
    const header = decodeRequestHeader(r);
    const route = byKey.get(header.apiKey);
    if (route === undefined) {
      throw new UnsupportedRequestError(
        // Kafka closes the connection on an API key it does not know; ApiVersions tells
        // clients which keys this broker serves (no transactions, no ACL or quota APIs).
        `Cannot serve API key ${header.apiKey}: this broker does not offer it (see ApiVersions)`,
      );
    }
    if (header.apiVersion < route.minVersion || header.apiVersion > route.maxVersion) {
      if (header.apiKey === ApiKey.ApiVersions) {
        // Kafka answers a too-new ApiVersions with v0 and UNSUPPORTED_VERSION, so the client
        // can retry with a version from the list.
        return _encode(apiVersions, header.apiKey, 0, header.correlationId, {
          ..._versionsBody(routes as readonly ApiRoute[]),
          errorCode: ErrorCode.UNSUPPORTED_VERSION,
        });
      }
      return _unsupported(route, header, r, broker, connection);
    }
    const started = performance.now();
    let failed = true;
    try {
      const req = route.decode(r, header.apiVersion);
      for (const check of middleware) {
        const { apiKey, apiVersion } = header;
        const refusal = check({ connection, apiKey, apiVersion, request: req });
        if (refusal !== undefined) throw new RequestRejectedError(refusal);
      }
      const ctx: RequestContext = { broker, header, connection };
      const res = await route.handle(req, ctx);
      const out = res === null
        ? null
        : _encode(route, header.apiKey, header.apiVersion, header.correlationId, res);
      failed = false;
      return out;
    } finally {
      observe?.(route.name, (performance.now() - started) / 1000, failed);
    }
  };
}

/** Answers a version the route does not serve with UNSUPPORTED_VERSION, as Kafka does. */
function _unsupported(
  route: ApiRoute,
  header: RequestHeader,
  body: Reader,
  broker: BrokerContext,
  connection: ConnectionContext,
): Uint8Array {
  const served = `versions ${route.minVersion}-${route.maxVersion} are served`;
  const message = `Cannot serve ${route.name} v${header.apiVersion}: ${served}`;
  // One line per kind: the logger's rate limiter folds repeats into a per-minute summary.
  broker.logger?.warn("Request version not served; answered UNSUPPORTED_VERSION", {
    api: route.name,
    version: header.apiVersion,
    clientId: header.clientId,
    remote: `${connection.remoteAddr.hostname}:${connection.remoteAddr.port}`,
  });
  const out = unsupportedVersionResponse(header.apiKey, header.apiVersion, body);
  if (out === null) throw new UnsupportedRequestError(message);
  const w = new Writer();
  encodeResponseHeader(w, header.apiKey, header.apiVersion, header.correlationId);
  out.encode(w as never, out.body as never, header.apiVersion);
  return w.finish();
}

function _encode(
  route: ApiRoute,
  apiKey: number,
  version: number,
  correlationId: number,
  res: unknown,
): Uint8Array {
  const w = new Writer();
  encodeResponseHeader(w, apiKey, version, correlationId);
  route.encode(w, res, version);
  return w.finish();
}

function _versionsBody(routes: readonly ApiRoute[]): ApiVersionsResponse {
  const res = createApiVersionsResponse();
  res.apiKeys = [
    { apiKey: ApiKey.ApiVersions, minVersion: 0, maxVersion: 3 },
    ...routes.filter((r) => r.advertised).map((r) => ({
      apiKey: r.apiKey,
      minVersion: r.minVersion,
      maxVersion: r.maxVersion,
    })),
  ].sort((a, b) => a.apiKey - b.apiKey);
  return res;
}

/** The ApiVersions route, advertising every advertised route of the table. */
export function apiVersionsRoute(
  routes: readonly ApiRoute[],
): ApiRoute<ApiVersionsRequest, ApiVersionsResponse> {
  const body = _versionsBody(routes);
  return {
    apiKey: ApiKey.ApiVersions,
    name: "ApiVersions",
    minVersion: 0,
    maxVersion: 3,
    advertised: true,
    decode: decodeApiVersionsRequest,
    encode: encodeApiVersionsResponse,
    handle: () => Promise.resolve({ ...body }),
  };
}
