import assert from "node:assert/strict";
import { connect, parseTransportUrl } from "./connect.ts";
import { ConnectionError, TimeoutError } from "./errors.ts";
import { _CERTS } from "../../broker/net/_transport_conformance.ts";

Deno.test("parseTransportUrl reads scheme, host and port", () => {
  assert.deepEqual(parseTransportUrl("tcp://broker-1:19092"), {
    protocol: "tcp",
    hostname: "broker-1",
    port: 19092,
  });
  assert.deepEqual(parseTransportUrl("tls://10.0.0.1"), {
    protocol: "tls",
    hostname: "10.0.0.1",
    port: 9092,
  });
  assert.deepEqual(parseTransportUrl("quic://[::1]:9092"), {
    protocol: "quic",
    hostname: "::1",
    port: 9092,
  });
});

Deno.test("parseTransportUrl rejects other schemes and malformed URLs", () => {
  assert.throws(() => parseTransportUrl("http://localhost:9092"), RangeError);
  assert.throws(() => parseTransportUrl("localhost:9092"), RangeError);
  assert.throws(() => parseTransportUrl("not a url"), RangeError);
});

Deno.test("connect reports a refused connection as CONNECTION_FAILED", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    connect(`tcp://127.0.0.1:${port}`),
    (error) => error instanceof ConnectionError && error.code === "CONNECTION_FAILED",
  );
});

Deno.test("connect times out a TLS handshake the server never answers", async () => {
  // A plain TCP listener that never accepts: the TLS handshake hangs.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await assert.rejects(
      connect(`tls://localhost:${listener.addr.port}`, { connectTimeoutMs: 100 }),
      (error) => error instanceof TimeoutError && error.code === "CONNECT_TIMEOUT",
    );
  } finally {
    listener.close();
    // Let the abandoned handshake fail and be closed.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});

Deno.test("connect refuses a TLS server whose CA is not trusted", async () => {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: _CERTS.certPem,
    key: _CERTS.keyPem,
  });
  const accepted = listener.accept().then(async (conn) => {
    await conn.handshake().catch(() => {});
    conn.close();
  });
  try {
    await assert.rejects(
      connect(`tls://localhost:${listener.addr.port}`),
      (error) => error instanceof ConnectionError && error.code === "CONNECTION_FAILED",
    );
  } finally {
    await accepted;
    listener.close();
  }
});
