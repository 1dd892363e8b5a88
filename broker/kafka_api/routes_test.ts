import assert from "node:assert/strict";
import { BROKER_ROUTES } from "./routes.ts";
import { createRequestRouter } from "./request_router.ts";
import type { BrokerContext } from "./broker_context.ts";
import {
  apiDescriptor,
  decodeApiVersionsResponse,
  encodeApiVersionsRequest,
} from "../../protocol/kafka/messages/mod.ts";
import { encodeRequestHeader } from "../../protocol/kafka/header.ts";
import { Reader, Writer } from "../../protocol/kafka/wire.ts";
import { populateMessage, SeededRandom } from "../../protocol/kafka/_populate.ts";
import { ANONYMOUS_PRINCIPAL, silentNetLogger } from "../net/frame_handler.ts";
import { joinPayload } from "../../protocol/transport/frame_decoder.ts";

/** What the router advertises, asked over ApiVersions v3 as a client asks. */
async function _advertised(): Promise<Map<number, [number, number]>> {
  const route = createRequestRouter(BROKER_ROUTES, {} as BrokerContext);
  const w = new Writer();
  encodeRequestHeader(w, { apiKey: 18, apiVersion: 3, correlationId: 1, clientId: "t" });
  encodeApiVersionsRequest(w, {
    clientSoftwareName: "t",
    clientSoftwareVersion: "1",
  }, 3);
  const out = await route(w.finish(), {
    connectionId: 1,
    remoteAddr: { hostname: "127.0.0.1", port: 1 },
    transport: "tcp",
    logger: silentNetLogger,
    principal: ANONYMOUS_PRINCIPAL,
  });
  const r = new Reader(joinPayload(out!));
  r.int32(); // correlation id: ApiVersions answers with response header v0
  const res = decodeApiVersionsResponse(r, 3);
  assert.equal(res.errorCode, 0);
  return new Map(res.apiKeys.map((k) => [k.apiKey, [k.minVersion, k.maxVersion]]));
}

function _encoded(fn: (w: Writer) => void): Uint8Array {
  const w = new Writer();
  fn(w);
  return w.finish();
}

Deno.test("ApiVersions advertises exactly the served routes, each within its codec's range", async () => {
  const advertised = await _advertised();
  const routes = new Map(BROKER_ROUTES.map((r) => [r.apiKey, r]));
  for (const [key, [min, max]] of advertised) {
    const api = apiDescriptor(key);
    assert.ok(api !== undefined, `API ${key} is advertised but has no codec`);
    assert.ok(min >= api.minVersion && max <= api.maxVersion, `${api.name} ${min}-${max}`);
    if (key === 18) continue;
    const route = routes.get(key);
    assert.ok(route !== undefined && route.advertised, `${api.name} advertised without a route`);
    assert.deepEqual([route.minVersion, route.maxVersion], [min, max]);
  }
  for (const r of routes.values()) assert.equal(advertised.has(r.apiKey), r.advertised, r.name);
});

Deno.test("every advertised version of every API round-trips through the route's codecs", async () => {
  const rnd = new SeededRandom(0x14);
  const routes = new Map(BROKER_ROUTES.map((r) => [r.apiKey, r]));
  let checked = 0;
  for (const [key, [min, max]] of await _advertised()) {
    const api = apiDescriptor(key)!;
    const route = routes.get(key);
    for (let v = min; v <= max; v++) {
      // A client encodes the request with the generated codec; the route must decode it whole.
      const req = populateMessage(api.request, v, rnd);
      const reqBytes = _encoded((w) => api.request.encode(w, req as never, v));
      const reader = new Reader(reqBytes);
      const decoded = route?.decode(reader, v);
      const got = decoded === undefined ? api.request.decode(reader, v) : decoded.request;
      assert.deepEqual(got, req, `${api.name} v${v} request`);
      assert.equal(reader.remaining, 0, `${api.name} v${v} request left bytes`);
      // The route encodes the response; the client's codec must read back the same value.
      const res = populateMessage(api.response, v, rnd);
      const write = decoded?.respond(res) ??
        ((w: Writer) => api.response.encode(w, res as never, v));
      const resBytes = _encoded(write);
      assert.deepEqual(api.response.decode(new Reader(resBytes), v), res, `${api.name} v${v}`);
      checked++;
    }
  }
  // Produce 0-11, Fetch 0-17 and the rest: well over a hundred versions.
  assert.ok(checked > 100, `only ${checked} versions checked`);
});
