import assert from "node:assert/strict";
import {
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
