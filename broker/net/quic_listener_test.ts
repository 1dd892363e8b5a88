import assert from "node:assert/strict";
import { encodeFrame } from "../../protocol/transport/frame_decoder.ts";
import { QUIC_ALPN } from "./quic_listener.ts";
import {
  _CERTS,
  _client,
  _defineTransportConformance,
  _Op,
  _request,
  _startServer,
} from "./_transport_conformance.ts";

_defineTransportConformance("quic");

Deno.test({
  name: "QuicListener answers a fast request while a slow one on the same connection waits",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = _startServer("quic");
    const client = await _client(server);
    try {
      const order: string[] = [];
      const options = { expectResponse: true, timeoutMs: 10_000 };
      const slow = client.request(_request(1, _Op.SLEEP, 500), options).then(() =>
        order.push("slow")
      );
      const fast = client.request(_request(2, _Op.ECHO), options).then(() => order.push("fast"));
      await Promise.all([slow, fast]);
      assert.deepEqual(order, ["fast", "slow"]);
    } finally {
      client.close();
      await server.close();
    }
  },
});

Deno.test({
  name: "QuicListener starts requests in stream order even when a later stream completes first",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = _startServer("quic");
    const conn = await Deno.connectQuic({
      hostname: "localhost",
      port: server.port,
      alpnProtocols: [QUIC_ALPN],
      caCerts: [_CERTS.caPem],
    });
    try {
      const first = encodeFrame(_request(1, _Op.ECHO));
      const a = await conn.createBidirectionalStream();
      const aw = a.writable.getWriter();
      await aw.write(first.subarray(0, 6)); // only part of the first request
      const b = await conn.createBidirectionalStream();
      const bw = b.writable.getWriter();
      await bw.write(encodeFrame(_request(2, _Op.ECHO)));
      await bw.close();
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(server.handler.started, [], "the second waits for the first");
      await aw.write(first.subarray(6));
      await aw.close();
      for (const s of [a, b]) {
        const reader = s.readable.getReader();
        while (!(await reader.read()).done);
      }
      assert.deepEqual(server.handler.started, [1, 2]);
    } finally {
      conn.close();
      await server.close();
    }
  },
});

Deno.test({
  name: "QUIC transport pipelines requests on one stream; Fetches have a lane of their own",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = _startServer("quic");
    const client = await _client(server);
    const options = { expectResponse: true, timeoutMs: 10_000 };
    try {
      const ids = Array.from({ length: 20 }, (_, i) => 100 + i);
      const echoes = await Promise.all(
        ids.map((id) => client.request(_request(id, _Op.ECHO), options)),
      );
      assert.deepEqual(echoes.map((e) => new DataView(e!.buffer, e!.byteOffset).getInt32(0)), ids);
      assert.deepEqual(server.handler.started, ids, "started in send order");
      assert.equal(server.counters.streams, 1, "all on one stream");
      // SLEEP frames carry api key 1, Fetch's: they go on the Fetch lane and hold nothing back.
      const order: string[] = [];
      const slow = client.request(_request(1, _Op.SLEEP, 300), options).then(() =>
        order.push("slow")
      );
      const fast = client.request(_request(2, _Op.ECHO), options).then(() => order.push("fast"));
      await Promise.all([slow, fast]);
      assert.deepEqual(order, ["fast", "slow"]);
      assert.equal(server.counters.streams, 2);
    } finally {
      client.close();
      await server.close();
    }
  },
});
