/**
 * One conformance suite for every transport (TCP, TLS, QUIC), run end to end:
 * the broker-side listener serves a scripted handler and the client-side
 * transport talks to it, with raw sockets for the misbehaving clients.
 * `tcp_listener_test.ts` and `quic_listener_test.ts` run it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect } from "../../protocol/transport/connect.ts";
import { ConnectionError } from "../../protocol/transport/errors.ts";
import type { Transport } from "../../protocol/transport/transport.ts";
import { generateDevCertificates } from "./dev_certs.ts";
import type { FrameHandler, NetCounters, NetLogger } from "./frame_handler.ts";
import { listenQuic } from "./quic_listener.ts";
import { listenTcp } from "./tcp_listener.ts";

/** The transports under test. */
export type _Kind = "tcp" | "tls" | "quic";

export const _CERTS = await generateDevCertificates();

/** Operations the scripted handler understands, sent as the apiKey. */
/** Ops, at the api key position: SLEEP is 1 like Fetch, so QUIC clients send it on the Fetch lane. */
export const _Op = { ECHO: 0, SLEEP: 1, THROW: 2, SILENT: 3, GATED: 4 } as const;

/** Builds a request: apiKey=op, apiVersion=0, correlationId, int32 sleep ms, payload. */
export function _request(
  correlationId: number,
  op: number,
  sleepMs = 0,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const frame = new Uint8Array(12 + payload.length);
  const view = new DataView(frame.buffer);
  view.setInt16(0, op);
  view.setInt32(4, correlationId);
  view.setInt32(8, sleepMs);
  frame.set(payload, 12);
  return frame;
}

/** A handler that sleeps, throws or answers as the request says, counting concurrency. */
export class _ScriptedHandler {
  active = 0;
  maxActive = 0;
  calls = 0;
  /** Correlation ids in the order the handler was called. */
  readonly started: number[] = [];
  /** GATED requests wait until {@linkcode _ScriptedHandler.openGate}. */
  openGate!: () => void;
  readonly #gate = new Promise<void>((resolve) => this.openGate = resolve);
  readonly handle: FrameHandler = async (frame) => {
    this.calls += 1;
    this.started.push(new DataView(frame.buffer, frame.byteOffset).getInt32(4));
    this.active += 1;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      const view = new DataView(frame.buffer, frame.byteOffset, frame.length);
      const op = view.getInt16(0);
      const sleepMs = view.getInt32(8);
      if (sleepMs > 0) await new Promise((resolve) => setTimeout(resolve, sleepMs));
      if (op === _Op.GATED) await this.#gate;
      if (op === _Op.THROW) throw new Error("scripted failure");
      if (op === _Op.SILENT) return null;
      // Response: correlationId then the request payload.
      const response = new Uint8Array(4 + frame.length - 12);
      response.set(frame.subarray(4, 8), 0);
      response.set(frame.subarray(12), 4);
      return response;
    } finally {
      this.active -= 1;
    }
  };
}

/** A logger that keeps warn and error lines for assertions. */
export class _RecordingLogger implements NetLogger {
  readonly lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  debug(): void {}
  info(): void {}
  warn(message: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ level: "warn", message, fields });
  }
  error(message: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ level: "error", message, fields });
  }
}

/** Listener limits the suite varies. */
export interface _Limits {
  maxInFlightRequests?: number;
  maxRequestBytes?: number;
  connectionTimeoutMs?: number;
  maxConnections?: number;
}

/** A running listener of one kind. */
export interface _Server {
  url: string;
  port: number;
  counters: NetCounters;
  logger: _RecordingLogger;
  handler: _ScriptedHandler;
  close(graceMs?: number): Promise<void>;
}

/** Starts a listener of `kind` on an ephemeral loopback port. */
export function _startServer(kind: _Kind, limits: _Limits = {}): _Server {
  const logger = new _RecordingLogger();
  const handler = new _ScriptedHandler();
  const common = { hostname: "127.0.0.1", port: 0, logger, ...limits };
  if (kind === "quic") {
    const { maxInFlightRequests, ...rest } = common;
    const listener = listenQuic(handler.handle, {
      ...rest,
      ...(maxInFlightRequests === undefined ? {} : { maxConcurrentStreams: maxInFlightRequests }),
      cert: _CERTS.certPem,
      key: _CERTS.keyPem,
    });
    const port = listener.addr.port;
    return {
      url: `quic://localhost:${port}`,
      port,
      counters: listener.counters,
      logger,
      handler,
      close: (graceMs = 1000) => listener.close({ graceMs }),
    };
  }
  const tls = kind === "tls" ? { cert: _CERTS.certPem, key: _CERTS.keyPem } : {};
  const listener = listenTcp(handler.handle, { ...common, ...tls });
  const port = listener.addr.port;
  return {
    url: `${kind}://localhost:${port}`,
    port,
    counters: listener.counters,
    logger,
    handler,
    close: (graceMs = 1000) => listener.close({ graceMs }),
  };
}

/** Connects the client transport to `server`. */
export function _client(server: _Server, maxInFlightRequests = 100): Promise<Transport> {
  return connect(server.url, { caCerts: [_CERTS.caPem], maxInFlightRequests });
}

/** A raw connection that sends arbitrary bytes; `closed` resolves when the broker drops it. */
export interface _RawClient {
  localPort: number;
  closed: Promise<void>;
  dispose(): void;
}

/** Opens a raw connection and sends `bytes` (over QUIC: on one stream). */
export async function _sendRaw(kind: _Kind, port: number, bytes: Uint8Array): Promise<_RawClient> {
  if (kind === "quic") {
    const conn = await Deno.connectQuic({
      hostname: "localhost",
      port,
      alpnProtocols: ["rustmq"],
      caCerts: [_CERTS.caPem],
    });
    const stream = await conn.createBidirectionalStream();
    const writer = stream.writable.getWriter();
    await writer.write(bytes);
    await writer.close().catch(() => {});
    return {
      localPort: conn.endpoint.addr.port,
      closed: conn.closed.then(() => {}, () => {}),
      dispose: () => conn.close(),
    };
  }
  const conn = kind === "tls"
    ? await Deno.connectTls({ hostname: "localhost", port, caCerts: [_CERTS.caPem] })
    : await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(bytes);
  const closed = (async () => {
    const buffer = new Uint8Array(1024);
    try {
      while (await conn.read(buffer) !== null) { /* drain */ }
    } catch {
      // A reset also means the broker dropped the connection.
    }
  })();
  return {
    localPort: (conn.localAddr as Deno.NetAddr).port,
    closed,
    dispose: () => {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    },
  };
}

/** Reads the correlation id a scripted response starts with. */
export function _correlationOf(response: Uint8Array | null): number {
  assert.ok(response !== null, "expected a response");
  return new DataView(response.buffer, response.byteOffset).getInt32(0);
}

const _REQ = { expectResponse: true, timeoutMs: 10_000 };

/** Registers the whole suite for `kind` with `Deno.test`. */
export function _defineTransportConformance(kind: _Kind): void {
  const name = kind.toUpperCase();
  // QUIC handles are released by the runtime asynchronously after close.
  const sanitize = kind !== "quic";
  const test = (title: string, fn: () => Promise<void>) =>
    Deno.test({ name: `${name} ${title}`, fn, sanitizeOps: sanitize, sanitizeResources: sanitize });

  test("listener echoes pipelined requests to the right callers", async () => {
    const server = _startServer(kind);
    const client = await _client(server);
    try {
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, i) => {
          const payload = new TextEncoder().encode(`payload-${i}`);
          return client.request(_request(i, _Op.ECHO, 0, payload), _REQ);
        }),
      );
      responses.forEach((response, i) => {
        assert.equal(_correlationOf(response), i);
        assert.equal(new TextDecoder().decode(response!.subarray(4)), `payload-${i}`);
      });
      assert.equal(server.counters.requests, 50);
      assert.ok(server.counters.bytesIn > 0 && server.counters.bytesOut > 0);
    } finally {
      client.close();
      await server.close();
    }
  });

  test("listener echoes large and small requests interleaved, byte for byte", async () => {
    // Each side reads a stream into one reused buffer: a frame that spans many reads, followed
    // by tiny ones, shows whether bytes are copied out before the buffer is read into again.
    const sizes = [3 << 20, 10, (700 << 10) + 3, 1, (2 << 20) + 1, 0, 65_537];
    const pattern = (i: number, j: number) => (j * 31 + i * 7 + (j >> 16)) & 0xff;
    const server = _startServer(kind);
    const client = await _client(server);
    try {
      const responses = await Promise.all(sizes.map((size, i) => {
        const payload = new Uint8Array(size);
        for (let j = 0; j < size; j++) payload[j] = pattern(i, j);
        return client.request(_request(i, _Op.ECHO, 0, payload), _REQ);
      }));
      responses.forEach((response, i) => {
        assert.equal(_correlationOf(response), i);
        const body = response!.subarray(4);
        assert.equal(body.length, sizes[i]);
        const bad = body.findIndex((b, j) => b !== pattern(i, j));
        assert.equal(bad, -1, `request ${i} came back with a wrong byte at ${bad}`);
      });
    } finally {
      client.close();
      await server.close();
    }
  });

  test("listener answers concurrent slow and fast requests correctly", async () => {
    const server = _startServer(kind, { maxInFlightRequests: 5 });
    const client = await _client(server);
    try {
      const completed: number[] = [];
      // Sleeps of 0..40 ms in a fixed shuffled pattern.
      const requests = Array.from(
        { length: 20 },
        (_, i) =>
          client.request(_request(i, _Op.SLEEP, ((i * 7) % 5) * 10), _REQ).then((r) => {
            completed.push(i);
            return _correlationOf(r);
          }),
      );
      assert.deepEqual(await Promise.all(requests), Array.from({ length: 20 }, (_, i) => i));
      if (kind !== "quic") {
        // Kafka requires responses in request order on one connection.
        assert.deepEqual(completed, Array.from({ length: 20 }, (_, i) => i));
      }
      assert.ok(server.handler.maxActive > 1, "requests were handled concurrently");
    } finally {
      client.close();
      await server.close();
    }
  });

  test("listener never runs more requests per connection than its in-flight limit", async () => {
    const server = _startServer(kind, { maxInFlightRequests: 3 });
    // The client would send 50 at once; the broker must hold it to 3.
    const client = await _client(server, 50);
    try {
      await Promise.all(
        Array.from({ length: 30 }, (_, i) => client.request(_request(i, _Op.SLEEP, 20), _REQ)),
      );
      assert.equal(server.handler.maxActive, 3);
      assert.equal(server.handler.calls, 30);
    } finally {
      client.close();
      await server.close();
    }
  });

  test("listener sends nothing for a null response and keeps later responses matched", async () => {
    const server = _startServer(kind);
    const client = await _client(server);
    try {
      const silent = client.request(_request(1, _Op.SILENT, 20), {
        expectResponse: false,
        timeoutMs: 10_000,
      });
      const echo = client.request(_request(2, _Op.ECHO), _REQ);
      assert.equal(await silent, null);
      assert.equal(_correlationOf(await echo), 2);
      assert.equal(server.counters.requests, 2);
    } finally {
      client.close();
      await server.close();
    }
  });

  test("listener closes only the connection that sends an oversized frame", async () => {
    const server = _startServer(kind, { maxRequestBytes: 1024 });
    const good = await _client(server);
    try {
      const slow = good.request(_request(1, _Op.SLEEP, 100), _REQ);
      // The size prefix announces 2 GiB - 1; the broker must not allocate it.
      const raw = await _sendRaw(kind, server.port, new Uint8Array([0x7f, 0xff, 0xff, 0xff, 0]));
      await raw.closed;
      raw.dispose();
      assert.equal(_correlationOf(await slow), 1);
      assert.equal(_correlationOf(await good.request(_request(2, _Op.ECHO), _REQ)), 2);
      assert.equal(server.counters.connectionsErrored, 1);
      const line = server.logger.lines.find((l) => l.message.includes("maxRequestBytes"));
      assert.ok(line, "a log line explains the close");
      assert.match(String(line.fields.client), /:\d+$/);
      if (kind !== "quic") assert.equal(line.fields.client, `127.0.0.1:${raw.localPort}`);
    } finally {
      good.close();
      await server.close();
    }
  });

  test("listener closes only the connection that sends a frame shorter than a header", async () => {
    const server = _startServer(kind);
    const good = await _client(server);
    try {
      const raw = await _sendRaw(kind, server.port, new Uint8Array([0, 0, 0, 2, 0xde, 0xad]));
      await raw.closed;
      raw.dispose();
      assert.equal(_correlationOf(await good.request(_request(7, _Op.ECHO), _REQ)), 7);
      assert.equal(server.counters.connectionsErrored, 1);
    } finally {
      good.close();
      await server.close();
    }
  });

  test("listener closes only the connection whose handler throws", async () => {
    const server = _startServer(kind);
    const good = await _client(server);
    const bad = await _client(server);
    try {
      const slow = good.request(_request(1, _Op.SLEEP, 100), _REQ);
      await assert.rejects(
        bad.request(_request(2, _Op.THROW), _REQ),
        (error) => error instanceof ConnectionError,
      );
      await bad.closed;
      assert.equal(_correlationOf(await slow), 1);
      assert.equal(_correlationOf(await good.request(_request(3, _Op.ECHO), _REQ)), 3);
      const line = server.logger.lines.find((l) => l.level === "error");
      assert.ok(line, "the failure is logged");
      assert.match(String(line.fields.client), /^127\.0\.0\.1:\d+$/);
    } finally {
      good.close();
      bad.close();
      await server.close();
    }
  });

  test("listener refuses connections beyond maxConnections", async () => {
    const server = _startServer(kind, { maxConnections: 2 });
    const first = await _client(server);
    const second = await _client(server);
    try {
      await first.request(_request(1, _Op.ECHO), _REQ);
      await second.request(_request(1, _Op.ECHO), _REQ);
      await assert.rejects(async () => {
        const third = await _client(server);
        try {
          await third.request(_request(1, _Op.ECHO), _REQ);
        } finally {
          third.close();
        }
      }, (error) => error instanceof ConnectionError);
      assert.equal(server.counters.connectionsRejected, 1);
      assert.equal(server.counters.connectionsOpen, 2);
      assert.ok(server.logger.lines.some((l) => l.message.includes("maxConnections")));
      // The two admitted connections are undisturbed.
      assert.equal(_correlationOf(await first.request(_request(2, _Op.ECHO), _REQ)), 2);
    } finally {
      first.close();
      second.close();
      await server.close();
    }
  });

  test("listener closes idle connections", async () => {
    const server = _startServer(kind, { connectionTimeoutMs: 300 });
    const client = await _client(server);
    try {
      await client.request(_request(1, _Op.ECHO), _REQ);
      await client.closed;
      await assert.rejects(
        client.request(_request(2, _Op.ECHO), _REQ),
        (error) => error instanceof ConnectionError,
      );
    } finally {
      client.close();
      await server.close();
    }
  });

  test("listener close waits for in-flight requests", async () => {
    const server = _startServer(kind);
    const client = await _client(server);
    try {
      const slow = client.request(_request(1, _Op.SLEEP, 150), _REQ);
      // Graceful close covers requests the broker has started on.
      while (server.handler.active === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      await server.close(5000);
      assert.equal(_correlationOf(await slow), 1);
      await client.closed;
    } finally {
      client.close();
      await server.close();
    }
  });

  test("listener close does not wait out the grace for a connection that is only idle", async () => {
    const server = _startServer(kind);
    const client = await _client(server);
    try {
      // The client keeps its connection (and, over QUIC, its lane stream) open after this.
      assert.equal(_correlationOf(await client.request(_request(1, _Op.ECHO), _REQ)), 1);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const graceOver = new Promise<"grace over">((r) =>
        timer = setTimeout(() => r("grace over"), 10_000)
      );
      const outcome = await Promise.race([
        server.close(60_000).then(() => "closed" as const),
        graceOver,
      ]);
      clearTimeout(timer);
      assert.equal(outcome, "closed", "nothing was in flight, so close had nothing to wait for");
      await client.closed;
    } finally {
      client.close();
      await server.close();
    }
  });

  test("listener counts connections", async () => {
    const server = _startServer(kind);
    try {
      for (let i = 0; i < 3; i++) {
        const client = await _client(server);
        await client.request(_request(i, _Op.ECHO), _REQ);
        client.close();
      }
      assert.equal(server.counters.connectionsAccepted, 3);
      for (let i = 0; i < 100 && server.counters.connectionsOpen > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(server.counters.connectionsOpen, 0);
    } finally {
      await server.close();
    }
  });
}
