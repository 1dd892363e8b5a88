import assert from "node:assert/strict";
import { encodeFrame } from "../../protocol/transport/frame_decoder.ts";
import {
  _CERTS,
  _client,
  _defineTransportConformance,
  _Op,
  _request,
  _startServer,
} from "./_transport_conformance.ts";

_defineTransportConformance("tcp");
_defineTransportConformance("tls");

Deno.test("TcpListener keeps a connection open while a request outlasts the idle timeout", async () => {
  const server = _startServer("tcp", { connectionTimeoutMs: 100 });
  const client = await _client(server);
  try {
    const response = await client.request(_request(1, _Op.SLEEP, 300), {
      expectResponse: true,
      timeoutMs: 5000,
    });
    assert.ok(response !== null);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("TcpListener rejects invalid limits with a RangeError", () => {
  assert.throws(
    () => _startServer("tcp", { maxInFlightRequests: 0 }),
    RangeError,
  );
});

for (const kind of ["tcp", "tls"] as const) {
  Deno.test(`TcpListener over ${kind} stops reading while its in-flight window is full`, async () => {
    const server = _startServer(kind, { maxInFlightRequests: 3 });
    const frameBytes = 64 * 1024;
    const count = 40;
    const wire = new Uint8Array((4 + frameBytes) * count);
    for (let i = 0; i < count; i++) {
      wire.set(
        encodeFrame(_request(i, _Op.GATED, 0, new Uint8Array(frameBytes - 12))),
        i * (4 + frameBytes),
      );
    }
    const conn = kind === "tls"
      ? await Deno.connectTls({ hostname: "localhost", port: server.port, caCerts: [_CERTS.caPem] })
      : await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    try {
      // 2.5 MiB of requests; the writes block once the socket buffers fill.
      const writing = (async () => {
        for (let offset = 0; offset < wire.length;) {
          offset += await conn.write(wire.subarray(offset));
        }
      })();
      while (server.handler.calls < 3) await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(server.handler.calls, 3);
      // Three frames in flight, plus at most one read buffer and one partial frame.
      assert.ok(server.counters.bytesIn <= 6 * (4 + frameBytes), `read ${server.counters.bytesIn}`);
      server.handler.openGate();
      await writing;
      let received = 0;
      const buffer = new Uint8Array(65_536);
      // Each response is the size prefix, the correlation id and the echoed body.
      const expected = count * (8 + frameBytes - 12);
      while (received < expected) received += (await conn.read(buffer)) ?? Infinity;
      assert.equal(received, expected);
      assert.equal(server.handler.maxActive, 3);
    } finally {
      conn.close();
      await server.close();
    }
  });
}

for (const kind of ["tcp", "tls"] as const) {
  Deno.test(`TcpListener over ${kind} echoes large frames read in place, byte for byte`, async () => {
    const server = _startServer(kind);
    const client = await _client(server);
    try {
      // Several MiB-sized frames in flight at once, each longer than any read buffer, so the
      // bodies on both sides go through the decoders' direct reads (and the small one not).
      const sizes = [3 << 20, 1 << 20, 100, (1 << 20) + 12_345];
      const payloads = sizes.map((n, i) => new Uint8Array(n).map((_, j) => (j * 31 + i) & 0xff));
      const responses = await Promise.all(
        payloads.map((payload, i) =>
          client.request(_request(i, _Op.ECHO, 0, payload), {
            expectResponse: true,
            timeoutMs: 20_000,
          })
        ),
      );
      responses.forEach((response, i) => {
        assert.ok(response !== null);
        assert.equal(new DataView(response.buffer, response.byteOffset).getInt32(0), i);
        assert.deepEqual(response.subarray(4), payloads[i]);
      });
    } finally {
      client.close();
      await server.close();
    }
  });
}
