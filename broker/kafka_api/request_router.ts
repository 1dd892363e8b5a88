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
import type { FramePayload } from "../../protocol/transport/frame_decoder.ts";
import { AssertionError, stopOnBrokenInvariant } from "../../ops/assert.ts";
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

/** A decoded request, bound to its route: what the router passes on without knowing its type. */
export interface DecodedRequest {
  /** The decoded body, for middleware to inspect. */
  readonly request: unknown;
  /**
   * Runs the handler on `request` (the decoded body, or a middleware's narrowed copy of it),
   * passes its response through `finish`, and resolves to the body's writer, or null when no
   * response is owed.
   */
  handle(
    ctx: RequestContext,
    request: unknown,
    finish: (res: unknown) => unknown,
  ): Promise<((w: Writer) => void) | null>;
  /** The writer for a response a middleware gave in the handler's place. */
  respond(res: unknown): (w: Writer) => void;
}

/**
 * A route with its request and response types hidden, so one table holds every API. The
 * types stay paired inside the closure {@linkcode anyRoute} builds, so no cast is needed.
 */
export interface AnyRoute {
  readonly apiKey: number;
  readonly name: string;
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly advertised: boolean;
  decode(r: Reader, version: number): DecodedRequest;
}

/** Hides a route's request and response types behind {@linkcode AnyRoute}. */
export function anyRoute<Req, Res>(route: ApiRoute<Req, Res>): AnyRoute {
  const { apiKey, name, minVersion, maxVersion, advertised } = route;
  return {
    apiKey,
    name,
    minVersion,
    maxVersion,
    advertised,
    decode: (r, version) => {
      const request = route.decode(r, version);
      // Middleware sees and returns bodies as `unknown`; by contract (RequestMiddleware) what it
      // hands back is this API's own request or response type, which is why these two narrow.
      const write = (res: unknown) => (w: Writer) => route.encode(w, res as Res, version);
      return {
        request,
        handle: async (ctx, req, finish) => {
          const res = await route.handle(req as Req, ctx);
          return res === null ? null : write(finish(res));
        },
        respond: write,
      };
    },
  };
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
 * What a middleware may do besides passing (undefined) or rejecting (a string): answer in the
 * handler's place (`response`), or let the handler see a narrowed `request` and amend its
 * response with `finish` (authorization answers the topics it refused with their error codes and
 * hands the rest on).
 */
export type MiddlewareOutcome =
  | { readonly response: unknown }
  | { readonly request: unknown; readonly finish?: (res: unknown) => unknown };

/**
 * Runs before every handler (ApiVersions included) for authentication, authorization or
 * quotas. Returning a string rejects the request: the router throws
 * {@link RequestRejectedError} with it, which closes only that connection.
 */
export type RequestMiddleware = (req: RoutedRequest) => string | undefined | MiddlewareOutcome;

/** A middleware refused a request; the listener logs it and closes the connection. */
export class RequestRejectedError extends Error {
  readonly code = "REQUEST_REJECTED";
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "RequestRejectedError";
  }
}

/**
 * Builds the frame handler for a route table; `middleware` runs in order before each handler.
 * A handler that breaks an invariant (an {@linkcode AssertionError}) is never answered:
 * `onInvariantBroken` receives it, and by default stops the process.
 */
export function createRequestRouter(
  routes: readonly AnyRoute[],
  broker: BrokerContext,
  observe?: RequestObserver,
  middleware: readonly RequestMiddleware[] = [],
  onInvariantBroken: (error: AssertionError) => void = stopOnBrokenInvariant,
): (frame: Uint8Array, connection: ConnectionContext) => Promise<FramePayload | null> {
  const byKey = new Map<number, AnyRoute>();
  for (const r of routes) byKey.set(r.apiKey, r);
  const versionsBody = _versionsBody(routes);
  byKey.set(ApiKey.ApiVersions, anyRoute(apiVersionsRoute(routes)));

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
        const body = { ...versionsBody, errorCode: ErrorCode.UNSUPPORTED_VERSION };
        return _encode(
          header.apiKey,
          0,
          header.correlationId,
          (w) => encodeApiVersionsResponse(w, body, 0),
        );
      }
      return _unsupported(route, header, r, broker, connection);
    }
    const started = performance.now();
    let failed = true;
    try {
      const decoded = route.decode(r, header.apiVersion);
      let req = decoded.request;
      const finishers: ((res: unknown) => unknown)[] = [];
      let answer: { response: unknown } | null = null;
      for (const check of middleware) {
        const { apiKey, apiVersion } = header;
        const outcome = check({ connection, apiKey, apiVersion, request: req });
        if (outcome === undefined) continue;
        if (typeof outcome === "string") throw new RequestRejectedError(outcome);
        if ("response" in outcome) {
          answer = outcome;
          break;
        }
        req = outcome.request;
        if (outcome.finish) finishers.unshift(outcome.finish);
      }
      const ctx: RequestContext = { broker, header, connection };
      const finish = (res: unknown) => finishers.reduce((acc, f) => f(acc), res);
      const body = answer
        ? decoded.respond(answer.response)
        : await decoded.handle(ctx, req, finish).catch((error) => {
          if (error instanceof AssertionError) onInvariantBroken(error);
          throw error;
        });
      const out = body === null
        ? null
        : _encode(header.apiKey, header.apiVersion, header.correlationId, body);
      failed = false;
      return out;
    } finally {
      observe?.(route.name, (performance.now() - started) / 1000, failed);
    }
  };
}

/** Answers a version the route does not serve with UNSUPPORTED_VERSION, as Kafka does. */
function _unsupported(
  route: AnyRoute,
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

/**
 * Byte fields at least this long (a Fetch response's stored batches) are kept by reference and
 * written to the socket as they are; below it a copy is cheaper than another write.
 */
const _REFERENCE_FROM_BYTES = 4096;

function _encode(
  apiKey: number,
  version: number,
  correlationId: number,
  writeBody: (w: Writer) => void,
): FramePayload {
  const w = new Writer({ referenceFrom: _REFERENCE_FROM_BYTES });
  encodeResponseHeader(w, apiKey, version, correlationId);
  writeBody(w);
  return w.finishParts();
}

function _versionsBody(routes: readonly AnyRoute[]): ApiVersionsResponse {
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
  routes: readonly AnyRoute[],
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
