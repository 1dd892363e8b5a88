/**
 * Quick measurement, not a test: 1 KiB request / 1 KiB response round trips
 * through the broker listeners and the client transports on loopback, with
 * pipelining. Run with:
 *
 *   deno run -A --unstable-net bench/roundtrip_bench.ts
 *
 * @module
 */
import { generateDevCertificates } from "../broker/net/dev_certs.ts";
import { type FrameHandler, silentNetLogger } from "../broker/net/frame_handler.ts";
import { listenQuic } from "../broker/net/quic_listener.ts";
import { listenTcp } from "../broker/net/tcp_listener.ts";
import { connect } from "../protocol/transport/connect.ts";

const PAYLOAD_BYTES = 1024;
const REQUESTS = Number(Deno.args[0] ?? 20_000);

// Echo: a response is the correlation id followed by the request body.
const echo: FrameHandler = (frame) => {
  const response = new Uint8Array(4 + frame.length - 8);
  response.set(frame.subarray(4, 8), 0);
  response.set(frame.subarray(8), 4);
  return Promise.resolve(response);
};

async function run(url: string, caPem: string, window: number): Promise<string> {
  const transport = await connect(url, {
    caCerts: [caPem],
    maxInFlightRequests: window,
    maxQueuedRequests: REQUESTS,
  });
  const frame = new Uint8Array(8 + PAYLOAD_BYTES);
  const options = { expectResponse: true, timeoutMs: 60_000 };
  // Warm up.
  await Promise.all(Array.from({ length: 200 }, () => transport.request(frame, options)));
  const start = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    new DataView(frame.buffer).setInt32(4, i);
    pending.push(transport.request(frame.slice(), options));
  }
  await Promise.all(pending);
  const seconds = (performance.now() - start) / 1000;
  transport.close();
  const perSecond = REQUESTS / seconds;
  const mib = (perSecond * PAYLOAD_BYTES * 2) / (1024 * 1024);
  return `${url.split(":")[0]!.padEnd(5)} window ${String(window).padStart(3)}: ${
    Math.round(perSecond)
  } round trips/s, ${mib.toFixed(1)} MiB/s (both directions), mean ${
    (seconds * 1000 * window / REQUESTS).toFixed(3)
  } ms per request`;
}

const certs = await generateDevCertificates();
const tcp = listenTcp(echo, {
  hostname: "127.0.0.1",
  port: 0,
  maxInFlightRequests: 100,
  logger: silentNetLogger,
});
const tls = listenTcp(echo, {
  hostname: "127.0.0.1",
  port: 0,
  maxInFlightRequests: 100,
  cert: certs.certPem,
  key: certs.keyPem,
  logger: silentNetLogger,
});
const quic = listenQuic(echo, {
  hostname: "127.0.0.1",
  port: 0,
  cert: certs.certPem,
  key: certs.keyPem,
  logger: silentNetLogger,
});
for (const window of [1, 5, 32]) {
  console.log(await run(`tcp://127.0.0.1:${tcp.addr.port}`, certs.caPem, window));
  console.log(await run(`tls://localhost:${tls.addr.port}`, certs.caPem, window));
  console.log(await run(`quic://localhost:${quic.addr.port}`, certs.caPem, window));
}
await tcp.close();
await tls.close();
await quic.close();
