import assert from "node:assert/strict";
import { encodeFrame } from "../../protocol/transport/frame_decoder.ts";
import { makeMtlsCertificates, opensslMissing } from "../../tests/support/mtls_certs.ts";
import { tempDir } from "../../tests/support/temp_dir.ts";
import { CertificatePrincipalMapper } from "../security/principal_mapping.ts";
import { type ConnectionContext, silentNetLogger } from "./frame_handler.ts";
import { openTcpListener, type TcpListener } from "./tcp_listener.ts";

// Answers every request with its correlation id, the connection's principal and the body's length.
function principalEcho(frame: Uint8Array, ctx: ConnectionContext): Promise<Uint8Array> {
  const text = new TextEncoder().encode(`${ctx.principal} ${frame.length - 8}`);
  const out = new Uint8Array(4 + text.length);
  out.set(frame.subarray(4, 8));
  out.set(text, 4);
  return Promise.resolve(out);
}

function request(correlationId: number, bodyBytes = 0): Uint8Array {
  const frame = new Uint8Array(8 + bodyBytes);
  new DataView(frame.buffer).setInt32(4, correlationId);
  return encodeFrame(frame);
}

async function readResponse(conn: Deno.Conn): Promise<{ correlationId: number; text: string }> {
  const head = await readExactly(conn, 4);
  const size = new DataView(head.buffer).getInt32(0);
  const body = await readExactly(conn, size);
  return {
    correlationId: new DataView(body.buffer).getInt32(0),
    text: new TextDecoder().decode(body.subarray(4)),
  };
}

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  for (let at = 0; at < n;) {
    const got = await conn.read(out.subarray(at));
    if (got === null) throw new Error("closed");
    at += got;
  }
  return out;
}

/** Connects with an optional client certificate and returns the first answer, or the failure. */
async function ask(
  listener: TcpListener,
  caPem: string,
  client?: { certPem: string; keyPem: string },
): Promise<string> {
  try {
    using conn = await Deno.connectTls({
      hostname: "localhost",
      port: listener.addr.port,
      caCerts: [caPem],
      ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
    });
    await conn.write(request(7));
    const answer = await readResponse(conn);
    assert.equal(answer.correlationId, 7);
    return answer.text;
  } catch (error) {
    return `refused: ${error}`;
  }
}

Deno.test({
  name: "Mutual TLS listener maps verified certificates to principals and refuses the rest",
  ignore: opensslMissing(),
  async fn() {
    await using dir = await tempDir("rustmq-mtls-");
    const certs = await makeMtlsCertificates(dir.path, {
      alice: { subject: "/O=Acme/OU=eng/CN=Alice" },
      svc: { subject: "/CN=ignored", san: "URI:spiffe://acme/payments,DNS:svc.acme" },
    });
    const warnings: string[] = [];
    const logger = {
      ...silentNetLogger,
      warn: (message: string, fields?: Record<string, unknown>) =>
        warnings.push(`${message} ${JSON.stringify(fields)}`),
    };
    const base = {
      hostname: "127.0.0.1",
      port: 0,
      cert: certs.broker.certPem,
      key: certs.broker.keyPem,
      logger,
    };
    const rules = new CertificatePrincipalMapper(["RULE:^CN=([^,]+),OU=eng,.*$/$1/L"], "subject");
    const required = await openTcpListener(principalEcho, {
      ...base,
      clientAuth: { mode: "required", ca: certs.caPem, principalOf: (d) => rules.principalOf(d) },
    });
    try {
      assert.equal(required.transport, "tls");
      assert.equal(await ask(required, certs.caPem, certs.clients.alice), "User:alice 0");
      assert.match(await ask(required, certs.caPem), /^refused/);
      assert.match(await ask(required, certs.caPem, certs.stranger), /^refused/);
      // Verified, but no rule applies to CN=ignored: refused too.
      assert.match(await ask(required, certs.caPem, certs.clients.svc), /^refused/);
      // Each refusal is logged with its own reason.
      assert.match(warnings[0]!, /missing or untrusted.*peer sent no certificates/);
      assert.match(warnings[0]!, /"client":"127\.0\.0\.1:\d+"/);
      assert.match(warnings[1]!, /missing or untrusted/);
      assert.ok(!/peer sent no certificates/.test(warnings[1]!), warnings[1]);
      assert.match(warnings[2]!, /maps to no principal.*CN=ignored/);
      assert.equal(warnings.length, 3);
    } finally {
      await required.close();
    }

    const san = new CertificatePrincipalMapper(
      [String.raw`RULE:^URI:spiffe:\/\/acme\/(.*)$/$1/`],
      "san",
    );
    const requested = await openTcpListener(principalEcho, {
      ...base,
      clientAuth: { mode: "requested", ca: certs.caPem, principalOf: (d) => san.principalOf(d) },
    });
    try {
      assert.equal(await ask(requested, certs.caPem, certs.clients.svc), "User:payments 0");
      // Requested: no certificate is anonymous, a certificate from another CA is still refused.
      assert.equal(await ask(requested, certs.caPem), "User:ANONYMOUS 0");
      assert.match(await ask(requested, certs.caPem, certs.stranger), /^refused/);
    } finally {
      await requested.close();
    }
  },
});

Deno.test({
  name: "Mutual TLS listener carries large pipelined requests in order",
  ignore: opensslMissing(),
  async fn() {
    await using dir = await tempDir("rustmq-mtls-");
    const certs = await makeMtlsCertificates(dir.path, { alice: { subject: "/CN=alice" } });
    const mapper = new CertificatePrincipalMapper(["DEFAULT"], "subject");
    const listener = await openTcpListener(principalEcho, {
      hostname: "127.0.0.1",
      port: 0,
      cert: certs.broker.certPem,
      key: certs.broker.keyPem,
      logger: silentNetLogger,
      clientAuth: { mode: "required", ca: certs.caPem, principalOf: (d) => mapper.principalOf(d) },
    });
    try {
      using conn = await Deno.connectTls({
        hostname: "localhost",
        port: listener.addr.port,
        caCerts: [certs.caPem],
        cert: certs.clients.alice!.certPem,
        key: certs.clients.alice!.keyPem,
      });
      const count = 20;
      const bodyBytes = 256 * 1024;
      // 5 MiB written while responses are read: more than the listener's read buffer bound.
      const writing = (async () => {
        for (let i = 0; i < count; i++) {
          const wire = request(i, bodyBytes);
          for (let at = 0; at < wire.length;) at += await conn.write(wire.subarray(at));
        }
      })();
      for (let i = 0; i < count; i++) {
        assert.deepEqual(await readResponse(conn), {
          correlationId: i,
          text: `User:CN=alice ${bodyBytes}`,
        });
      }
      await writing;
    } finally {
      await listener.close();
    }
  },
});
