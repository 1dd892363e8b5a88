/**
 * Client-side behaviour every transport shares, run against the broker's real
 * listeners (the listener-side suite is in broker/net/_transport_conformance.ts).
 */
import assert from "node:assert/strict";
import {
  _CERTS,
  _correlationOf,
  type _Kind,
  _Op,
  _request,
  _startServer,
} from "../../broker/net/_transport_conformance.ts";
import { connect } from "./connect.ts";
import { ConnectionError, QueueFullError, TimeoutError } from "./errors.ts";

const REQ = { expectResponse: true, timeoutMs: 10_000 };

function defineClientSuite(kind: _Kind): void {
  const sanitize = kind !== "quic";
  const test = (title: string, fn: () => Promise<void>) =>
    Deno.test({
      name: `${kind.toUpperCase()} transport ${title}`,
      fn,
      sanitizeOps: sanitize,
      sanitizeResources: sanitize,
    });
  const open = (url: string, maxInFlightRequests: number, maxQueuedRequests = 1000) =>
    connect(url, { caCerts: [_CERTS.caPem], maxInFlightRequests, maxQueuedRequests });

  test("rejects a timed-out request and keeps later responses matched", async () => {
    const server = _startServer(kind);
    const client = await open(server.url, 5);
    try {
      await assert.rejects(
        client.request(_request(1, _Op.SLEEP, 300), { expectResponse: true, timeoutMs: 50 }),
        (error) => error instanceof TimeoutError && error.code === "REQUEST_TIMEOUT",
      );
      // Over TCP the late response to request 1 arrives first and must be skipped.
      assert.equal(_correlationOf(await client.request(_request(2, _Op.ECHO), REQ)), 2);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(_correlationOf(await client.request(_request(3, _Op.ECHO), REQ)), 3);
    } finally {
      client.close();
      await server.close();
    }
  });

  test("never has more requests in flight than its limit", async () => {
    const server = _startServer(kind, { maxInFlightRequests: 50 });
    const client = await open(server.url, 2);
    try {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => client.request(_request(i, _Op.SLEEP, 10), REQ)),
      );
      assert.equal(server.handler.maxActive, 2);
    } finally {
      client.close();
      await server.close();
    }
  });

  test("rejects with QueueFullError when its queue is full", async () => {
    const server = _startServer(kind);
    const client = await open(server.url, 1, 1);
    try {
      const first = client.request(_request(1, _Op.SLEEP, 100), REQ);
      const second = client.request(_request(2, _Op.ECHO), REQ);
      await assert.rejects(
        client.request(_request(3, _Op.ECHO), REQ),
        (error) => error instanceof QueueFullError && error.retriable,
      );
      assert.equal(_correlationOf(await first), 1);
      assert.equal(_correlationOf(await second), 2);
    } finally {
      client.close();
      await server.close();
    }
  });

  test("fails outstanding requests when closed", async () => {
    const server = _startServer(kind);
    const client = await open(server.url, 1);
    try {
      const inFlight = client.request(_request(1, _Op.SLEEP, 200), REQ);
      const queued = client.request(_request(2, _Op.ECHO), REQ);
      client.close();
      for (const pending of [inFlight, queued]) {
        await assert.rejects(
          pending,
          (error) => error instanceof ConnectionError && error.code === "CONNECTION_CLOSED",
        );
      }
      await client.closed;
      await assert.rejects(client.request(_request(3, _Op.ECHO), REQ), ConnectionError);
    } finally {
      await server.close();
    }
  });

  test("fails outstanding requests when the broker goes away", async () => {
    const server = _startServer(kind);
    const client = await open(server.url, 5);
    try {
      const pending = client.request(_request(1, _Op.SLEEP, 500), REQ);
      while (server.handler.active === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      await server.close(0);
      await assert.rejects(pending, (error) => error instanceof ConnectionError && error.retriable);
      await client.closed;
      // The handler outlives its connection; let its timer finish.
      while (server.handler.active > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    } finally {
      client.close();
      await server.close();
    }
  });

  test("resolves a request that expects no response to null", async () => {
    const server = _startServer(kind);
    const client = await open(server.url, 5);
    try {
      const options = { expectResponse: false, timeoutMs: 10_000 };
      assert.equal(await client.request(_request(1, _Op.SILENT), options), null);
      assert.equal(_correlationOf(await client.request(_request(2, _Op.ECHO), REQ)), 2);
    } finally {
      client.close();
      await server.close();
    }
  });
}

defineClientSuite("tcp");
defineClientSuite("tls");
defineClientSuite("quic");
