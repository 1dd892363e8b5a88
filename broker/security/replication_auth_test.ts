import assert from "node:assert/strict";
import { Reader, Writer } from "../../protocol/kafka/wire.ts";
import { decodeResponseHeader, encodeRequestHeader } from "../../protocol/kafka/header.ts";
import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  decodeSaslAuthenticateResponse,
  encodeSaslAuthenticateRequest,
} from "../../protocol/kafka/messages/sasl_authenticate.ts";
import {
  decodeSaslHandshakeResponse,
  encodeSaslHandshakeRequest,
} from "../../protocol/kafka/messages/sasl_handshake.ts";
import { ClusterSecret } from "../../ops/cluster_secret.ts";
import {
  ANONYMOUS_PRINCIPAL,
  type ConnectionContext,
  silentNetLogger,
} from "../net/frame_handler.ts";
import { ClusterAuthenticationError, replicationAuthGate } from "./replication_auth.ts";
import { joinPayload } from "../../protocol/transport/frame_decoder.ts";

const SECRET = ClusterSecret.fromText("0123456789abcdef0123456789abcdef");

function conn(): ConnectionContext {
  return {
    connectionId: 1,
    remoteAddr: { hostname: "127.0.0.1", port: 1 },
    transport: "tcp",
    logger: silentNetLogger,
    principal: ANONYMOUS_PRINCIPAL,
  };
}

function frame(apiKey: number, version: number, body: (w: Writer) => void): Uint8Array {
  const w = new Writer({ initialBytes: 256 });
  encodeRequestHeader(w, { apiKey, apiVersion: version, correlationId: 7, clientId: "t" });
  body(w);
  return w.finish();
}

const handshake = frame(
  ApiKey.SaslHandshake,
  1,
  (w) => encodeSaslHandshakeRequest(w, { mechanism: "PLAIN" }, 1),
);
const login = (password: string) =>
  frame(ApiKey.SaslAuthenticate, 1, (w) =>
    encodeSaslAuthenticateRequest(
      w,
      { authBytes: new TextEncoder().encode(`\0broker-3\0${password}`) },
      1,
    ));

Deno.test("replicationAuthGate passes requests only after the cluster secret", async () => {
  let served = 0;
  const gate = replicationAuthGate(() => {
    served++;
    return Promise.resolve(new Uint8Array(0));
  }, SECRET);
  const fetch = frame(ApiKey.Fetch, 12, () => {});

  // Before authentication a Fetch is refused and never reaches the handler.
  await assert.rejects(gate(fetch, conn()), ClusterAuthenticationError);

  const good = conn();
  const hs = new Reader(joinPayload((await gate(handshake, good))!));
  decodeResponseHeader(hs, ApiKey.SaslHandshake, 1);
  assert.equal(decodeSaslHandshakeResponse(hs, 1).errorCode, ErrorCode.NONE);
  const au = new Reader(joinPayload((await gate(login(SECRET.reveal()), good))!));
  decodeResponseHeader(au, ApiKey.SaslAuthenticate, 1);
  assert.equal(decodeSaslAuthenticateResponse(au, 1).errorCode, ErrorCode.NONE);
  assert.equal(good.principal, "Broker:broker-3");
  await gate(fetch, good);
  assert.equal(served, 1);

  const bad = conn();
  await gate(handshake, bad);
  const no = new Reader(joinPayload((await gate(login("0123456789abcdef0123456789abcdeX"), bad))!));
  decodeResponseHeader(no, ApiKey.SaslAuthenticate, 1);
  assert.equal(
    decodeSaslAuthenticateResponse(no, 1).errorCode,
    ErrorCode.SASL_AUTHENTICATION_FAILED,
  );
  assert.equal(bad.closeAfterResponse, true);
  assert.equal(bad.principal, ANONYMOUS_PRINCIPAL);
  await assert.rejects(gate(fetch, bad), ClusterAuthenticationError);
  assert.equal(served, 1);
});
