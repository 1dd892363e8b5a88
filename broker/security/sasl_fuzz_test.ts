/**
 * Fuzzes the request path of a SASL listener before authentication: 100,000 random and mutated
 * frames (garbage, every API key in the route table, mutated SaslHandshake and SaslAuthenticate
 * carrying PLAIN and SCRAM messages) go through the SASL gate and the real router, exactly the
 * handler chain a SASL listener runs. The broker context behind the router is a trap: any API
 * other than ApiVersions and SASL that reached a handler would touch it. Checks: no trap hit, no
 * response to any other API, no connection authenticated without the password, every call
 * settles, and the per-address failure table stays bounded. Print the seed to replay a failure.
 *
 * The socket-level pass (real listener, after authentication too) is tests/security_wire_test.ts.
 */

import assert from "node:assert/strict";
import { silentLogger } from "../../ops/logger.ts";
import { Writer } from "../../protocol/kafka/wire.ts";
import { encodeRequestHeader } from "../../protocol/kafka/header.ts";
import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import {
  encodeSaslAuthenticateRequest,
  encodeSaslHandshakeRequest,
} from "../../protocol/kafka/messages/mod.ts";
import { ManualClock } from "../../ops/clock.ts";
import { SeededRandom } from "../../ops/random.ts";
import { BROKER_ROUTES } from "../kafka_api/routes.ts";
import { createRequestRouter } from "../kafka_api/request_router.ts";
import type { BrokerContext } from "../kafka_api/broker_context.ts";
import {
  ANONYMOUS_PRINCIPAL,
  type ConnectionContext,
  silentNetLogger,
} from "../net/frame_handler.ts";
import { SaslAuthenticator } from "./sasl_authenticator.ts";
import { createCredential } from "./scram.ts";
import { SecurityStore } from "./security_store.ts";
import { securityAdminRoutes } from "./security_admin_handlers.ts";
import { joinPayload } from "../../protocol/transport/frame_decoder.ts";

const FRAMES = 100_000;
const PRE_AUTH = new Set<number>([
  ApiKey.ApiVersions,
  ApiKey.SaslHandshake,
  ApiKey.SaslAuthenticate,
]);

function frame(
  apiKey: number,
  apiVersion: number,
  correlationId: number,
  body: (w: Writer) => void,
) {
  const w = new Writer();
  encodeRequestHeader(w, { apiKey, apiVersion, correlationId, clientId: "fuzz" });
  body(w);
  return w.finish();
}

function mutate(rng: SeededRandom, bytes: Uint8Array): Uint8Array {
  const out = rng.chance(0.2) ? bytes.slice(0, rng.int(bytes.length + 1)) : bytes.slice();
  const flips = rng.int(4);
  for (let i = 0; i < flips && out.length > 0; i++) out[rng.int(out.length)] = rng.int(256);
  return out;
}

const SASL_MESSAGES = [
  "\u0000alice\u0000wrong",
  "alice\u0000alice\u0000guess",
  "n,,n=alice,r=abc",
  "n,,n=al=2Cice,r=x",
  "c=biws,r=abc,p=AAAA",
  "p=tls-unique,,n=a,r=b",
  "y,,n=alice,r=" + "r".repeat(300),
];

function randomFrame(rng: SeededRandom, id: number): { apiKey: number; bytes: Uint8Array } {
  const roll = rng.int(10);
  if (roll === 0) {
    const bytes = crypto.getRandomValues(new Uint8Array(rng.int(64)));
    return { apiKey: bytes.length >= 2 ? (bytes[0]! << 8 | bytes[1]!) << 16 >> 16 : -1, bytes };
  }
  if (roll <= 3) {
    const mechanism = rng.pick(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", ""]);
    const v = rng.int(3);
    const f = frame(
      ApiKey.SaslHandshake,
      v,
      id,
      (w) => encodeSaslHandshakeRequest(w, { mechanism }, 1),
    );
    return { apiKey: ApiKey.SaslHandshake, bytes: rng.chance(0.3) ? mutate(rng, f) : f };
  }
  if (roll <= 6) {
    const text = new TextEncoder().encode(rng.pick(SASL_MESSAGES));
    const v = rng.int(3);
    const f = frame(
      ApiKey.SaslAuthenticate,
      v,
      id,
      (w) =>
        encodeSaslAuthenticateRequest(
          w,
          { authBytes: rng.chance(0.5) ? mutate(rng, text) : text },
          Math.min(v, 2),
        ),
    );
    return { apiKey: ApiKey.SaslAuthenticate, bytes: rng.chance(0.3) ? mutate(rng, f) : f };
  }
  // Any other API, with a random body: it must never reach its handler.
  const route = rng.pick(BROKER_ROUTES);
  const body = crypto.getRandomValues(new Uint8Array(rng.int(200)));
  const f = frame(
    route.apiKey,
    rng.between(route.minVersion, route.maxVersion),
    id,
    (w) => w.raw(body),
  );
  return { apiKey: route.apiKey, bytes: f };
}

function connection(id: number, rng: SeededRandom): ConnectionContext {
  return {
    connectionId: id,
    remoteAddr: { hostname: `10.0.${rng.int(256)}.${rng.int(256)}`, port: 1 },
    transport: "tcp",
    logger: silentNetLogger,
    principal: ANONYMOUS_PRINCIPAL,
  };
}

Deno.test("SASL gate and router serve only ApiVersions and SASL to 100,000 fuzzed pre-auth frames", async () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 1_000_000);
  const rng = new SeededRandom(seed);
  let text: string | null = null;
  const store = await SecurityStore.open({
    load: () => Promise.resolve(text),
    save: (t) => Promise.resolve(void (text = t)),
  });
  await store.upsertCredential(
    "alice",
    "SCRAM-SHA-256",
    await createCredential("SCRAM-SHA-256", "secret", new Uint8Array(8), 4096),
  );
  await store.upsertCredential(
    "alice",
    "SCRAM-SHA-512",
    await createCredential("SCRAM-SHA-512", "secret", new Uint8Array(8), 4096),
  );
  const sasl = new SaslAuthenticator({
    store,
    mechanisms: ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
    maxUnauthenticatedBytes: 512 * 1024,
    failureDelayMs: 0,
    failureDelayMaxMs: 0,
    clock: new ManualClock(0),
    randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
  });
  let trapHits = 0;
  const trap = new Proxy({}, {
    get: (_target, key) => {
      // The router logs a version it does not serve (rate-limited) before any handler runs;
      // logging is not serving, so the logger is the one thing the trap hands out.
      if (key === "logger") return silentLogger;
      trapHits++;
      throw new Error("the broker context was reached before authentication");
    },
  }) as BrokerContext;
  const routes = [...BROKER_ROUTES, ...sasl.routes(), ...securityAdminRoutes(store, true)];
  const handler = sasl.gate(createRequestRouter(routes, trap));

  let conn = connection(0, rng);
  let responses = 0, closes = 0;
  const started = performance.now();
  for (let i = 0; i < FRAMES; i++) {
    const { apiKey, bytes } = randomFrame(rng, i);
    let out: Uint8Array | null = null;
    let threw = false;
    try {
      const answer = await handler(bytes, conn);
      out = answer === null ? null : joinPayload(answer);
    } catch {
      threw = true;
    }
    if (out !== null) {
      responses++;
      assert.ok(
        PRE_AUTH.has(apiKey),
        `seed ${seed}: frame ${i} of API ${apiKey} was answered before authentication`,
      );
    }
    assert.equal(
      conn.principal,
      ANONYMOUS_PRINCIPAL,
      `seed ${seed}: frame ${i} authenticated a connection`,
    );
    if (threw || conn.closeAfterResponse) {
      closes++;
      conn = connection(i + 1, rng);
    }
  }
  const elapsedMs = performance.now() - started;
  assert.equal(trapHits, 0, `seed ${seed}: a handler other than ApiVersions/SASL ran`);
  assert.ok(responses > 1000 && closes > 1000, `seed ${seed}: the mix must exercise both paths`);
  assert.ok(sasl.backoffEntries <= 10_000, "the failure table is bounded");
  console.log(
    `fuzz seed ${seed}: ${FRAMES} frames, ${responses} answered, ${closes} closes, ${
      Math.round(elapsedMs)
    } ms`,
  );
});
