import assert from "node:assert/strict";
import {
  anyRoute,
  createRequestRouter,
  RequestRejectedError,
  type RoutedRequest,
  UnsupportedRequestError,
} from "./request_router.ts";
import { AssertionError } from "../../ops/assert.ts";
import { kafkaErrorCode } from "../broker_errors.ts";
import { LogInvariantError } from "../log/log_errors.ts";
import { Reader, Writer } from "../../protocol/kafka/wire.ts";
import { decodeResponseHeader, encodeRequestHeader } from "../../protocol/kafka/header.ts";
import {
  createListOffsetsRequest,
  decodeHeartbeatResponse,
  decodeListOffsetsResponse,
  encodeHeartbeatRequest,
  encodeListOffsetsRequest,
} from "../../protocol/kafka/messages/mod.ts";
import { createLogger } from "../../ops/logger.ts";
import { listOffsetsRoute } from "./list_offsets_handler.ts";
import { heartbeatRoute } from "./group_handlers.ts";
import type { BrokerContext } from "./broker_context.ts";
import { joinPayload } from "../../protocol/transport/frame_decoder.ts";
import {
  ANONYMOUS_PRINCIPAL,
  type ConnectionContext,
  silentNetLogger,
} from "../net/frame_handler.ts";

// ApiVersions v0: apiKey 18, version 0, correlationId 7, null clientId, empty body.
const _API_VERSIONS_V0 = new Uint8Array([0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff]);
// The router reaches the broker only through handlers; ApiVersions uses none of it.
const _NO_BROKER = {} as BrokerContext;

function _connection(): ConnectionContext {
  return {
    connectionId: 1,
    remoteAddr: { hostname: "127.0.0.1", port: 5555 },
    transport: "tcp",
    logger: silentNetLogger,
    principal: ANONYMOUS_PRINCIPAL,
  };
}

Deno.test("middleware sees the connection's principal, api key, version and decoded request", async () => {
  const seen: RoutedRequest[] = [];
  const route = createRequestRouter([], _NO_BROKER, undefined, [(req) => {
    seen.push(req);
    return undefined;
  }]);
  const conn = _connection();
  const out = await route(_API_VERSIONS_V0, conn);
  assert.ok(out !== null && out.length > 4, "ApiVersions answered");
  assert.equal(seen.length, 1);
  const first = seen[0]!;
  assert.equal(first.connection.principal, "User:ANONYMOUS");
  assert.equal(first.connection, conn);
  assert.equal(first.apiKey, 18);
  assert.equal(first.apiVersion, 0);
  assert.equal(typeof first.request, "object");
});

Deno.test("a middleware refusal stops the request before its handler and names the reason", async () => {
  const order: string[] = [];
  const route = createRequestRouter([], _NO_BROKER, (api, _s, failed) => {
    order.push(`${api}:${failed}`);
  }, [
    () => {
      order.push("first");
      return undefined;
    },
    (req) => {
      order.push("second");
      return req.connection.principal === ANONYMOUS_PRINCIPAL ? "not authenticated" : undefined;
    },
    () => {
      order.push("third");
      return undefined;
    },
  ]);
  await assert.rejects(
    () => route(_API_VERSIONS_V0, _connection()),
    (e) => e instanceof RequestRejectedError && e.message === "not authenticated",
  );
  assert.deepEqual(order, ["first", "second", "ApiVersions:true"]);
  // A principal the middleware accepts is served.
  const authed = { ..._connection(), principal: "User:alice" };
  assert.ok(await route(_API_VERSIONS_V0, authed) !== null);
});

Deno.test("a handler's broken invariant is handed to onInvariantBroken and never answered", async () => {
  const broken: string[] = [];
  const failing = anyRoute({
    apiKey: 3,
    name: "Metadata",
    minVersion: 0,
    maxVersion: 0,
    advertised: true,
    decode: () => ({}),
    encode: () => {},
    handle: () => Promise.reject(new AssertionError("Invariant broken: offsets are contiguous")),
  });
  const route = createRequestRouter(
    [failing],
    _NO_BROKER,
    undefined,
    [],
    (e) => broken.push(e.message),
  );
  // Metadata v0: apiKey 3, version 0, correlationId 9, null clientId.
  const frame = new Uint8Array([0, 3, 0, 0, 0, 0, 0, 9, 0xff, 0xff]);
  await assert.rejects(route(frame, _connection()), AssertionError);
  assert.deepEqual(broken, ["Invariant broken: offsets are contiguous"]);
});

Deno.test("kafkaErrorCode refuses to turn a broken invariant into an error code", () => {
  assert.throws(
    () => kafkaErrorCode(new LogInvariantError("gap at 7")),
    /Invariant broken: gap at 7/,
  );
  assert.equal(kafkaErrorCode(new TypeError("x")), -1);
});

function _frame(apiKey: number, apiVersion: number, encodeBody: (w: Writer) => void): Uint8Array {
  const w = new Writer();
  encodeRequestHeader(w, { apiKey, apiVersion, correlationId: 42, clientId: "old-tool" });
  encodeBody(w);
  return w.finish();
}

function _loggingBroker(lines: string[]): BrokerContext {
  return {
    logger: createLogger("broker", { sink: (l) => lines.push(l), now: () => 0 }),
  } as Pick<BrokerContext, "logger"> as BrokerContext;
}

Deno.test("a version below a route's range gets UNSUPPORTED_VERSION per partition, not a closed connection", async () => {
  const lines: string[] = [];
  const route = createRequestRouter(
    [anyRoute({ ...listOffsetsRoute, minVersion: 1 })],
    _loggingBroker(lines),
  );
  const req = createListOffsetsRequest();
  req.replicaId = -1;
  req.topics = [{
    name: "t",
    partitions: [{ partitionIndex: 3, currentLeaderEpoch: -1, timestamp: -1n, maxNumOffsets: 1 }],
  }];
  const out = await route(_frame(2, 0, (w) => encodeListOffsetsRequest(w, req, 0)), _connection());
  assert.ok(out !== null);
  const r = new Reader(joinPayload(out));
  assert.equal(decodeResponseHeader(r, 2, 0).correlationId, 42);
  const res = decodeListOffsetsResponse(r, 0);
  assert.equal(res.topics[0]!.name, "t");
  assert.equal(res.topics[0]!.partitions[0]!.partitionIndex, 3);
  assert.equal(res.topics[0]!.partitions[0]!.errorCode, 35);
  assert.equal(JSON.parse(lines[0]!).api, "ListOffsets");
});

Deno.test("an unsupported top-level-error API answers errorCode 35; repeats are rate-limited", async () => {
  const lines: string[] = [];
  const route = createRequestRouter(
    [anyRoute({ ...heartbeatRoute, maxVersion: 2 })],
    _loggingBroker(lines),
  );
  const hb = { groupId: "g", generationId: 1, memberId: "m", groupInstanceId: null };
  for (let i = 0; i < 25; i++) {
    const out = await route(_frame(12, 4, (w) => encodeHeartbeatRequest(w, hb, 4)), _connection());
    const r = new Reader(joinPayload(out!));
    decodeResponseHeader(r, 12, 4);
    assert.equal(decodeHeartbeatResponse(r, 4).errorCode, 35);
  }
  // The logger lets 10 lines of a kind through per minute; the rest are summarised later.
  assert.equal(lines.length, 10);
});

Deno.test("a version beyond the codec's range still closes the connection with a clear error", async () => {
  const route = createRequestRouter([anyRoute(heartbeatRoute)], _loggingBroker([]));
  await assert.rejects(
    () => route(_frame(12, 99, () => {}), _connection()),
    (e) => e instanceof UnsupportedRequestError && /Heartbeat v99/.test(e.message),
  );
});
