import assert from "node:assert/strict";
import { encodeFrame } from "./frame_decoder.ts";
import { ConnectionError } from "./errors.ts";
import { TcpTransport } from "./tcp_transport.ts";

/** A fake broker that answers every request with the given correlation id. */
function fakeBroker(answerCorrelationId: number): { port: number; done: Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const done = (async () => {
    const conn = await listener.accept();
    listener.close();
    const buffer = new Uint8Array(64);
    await conn.read(buffer);
    const response = new Uint8Array(4);
    new DataView(response.buffer).setInt32(0, answerCorrelationId);
    await conn.write(encodeFrame(response));
    // Wait for the client to hang up.
    while (await conn.read(buffer).catch(() => null) !== null) { /* drain */ }
    conn.close();
  })();
  return { port: listener.addr.port, done };
}

Deno.test("TcpTransport fails the connection when a correlation id does not match", async () => {
  const broker = fakeBroker(99);
  const transport = new TcpTransport(await Deno.connect({ port: broker.port }), "tcp");
  const frame = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 7]);
  await assert.rejects(
    transport.request(frame, { expectResponse: true, timeoutMs: 5000 }),
    (error) => error instanceof ConnectionError && error.code === "PROTOCOL_ERROR",
  );
  await transport.closed;
  await broker.done;
});

Deno.test("TcpTransport accepts a response whose correlation id matches", async () => {
  const broker = fakeBroker(7);
  const transport = new TcpTransport(await Deno.connect({ port: broker.port }), "tcp");
  const frame = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 7]);
  const response = await transport.request(frame, { expectResponse: true, timeoutMs: 5000 });
  assert.deepEqual(response, new Uint8Array([0, 0, 0, 7]));
  transport.close();
  await broker.done;
});

Deno.test("TcpTransport validates its limits and timeouts", async () => {
  const broker = fakeBroker(1);
  const conn = await Deno.connect({ port: broker.port });
  assert.throws(() => new TcpTransport(conn, "tcp", { maxInFlightRequests: 0 }), RangeError);
  const transport = new TcpTransport(conn, "tcp");
  assert.throws(
    () => transport.request(new Uint8Array(8), { expectResponse: true, timeoutMs: -1 }),
    RangeError,
  );
  transport.close();
  await broker.done;
});
