import assert from "node:assert/strict";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { ensureDevCertificates, generateDevCertificates } from "./dev_certs.ts";

Deno.test("generateDevCertificates signs a leaf for localhost and loopback with a CA", async () => {
  const now = new Date("2026-01-01T00:00:00Z");
  const certs = await generateDevCertificates({ now, validityDays: 10 });
  const ca = new x509.X509Certificate(certs.caPem);
  const leaf = new x509.X509Certificate(certs.certPem);
  assert.equal(leaf.issuer, ca.subject);
  assert.ok(await leaf.verify({ publicKey: ca.publicKey, date: now }));
  const basic = ca.getExtension(x509.BasicConstraintsExtension);
  assert.equal(basic?.ca, true);
  assert.equal(leaf.getExtension(x509.BasicConstraintsExtension)?.ca, false);
  const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.toJSON().map((n) => `${n.type}:${n.value}`);
  assert.deepEqual(names, ["dns:localhost", "ip:127.0.0.1", "ip:::1"]);
  assert.equal(leaf.notAfter.getTime(), now.getTime() + 10 * 86_400_000);
  assert.match(certs.keyPem, /^-----BEGIN PRIVATE KEY-----/);
});

Deno.test("generateDevCertificates rejects invalid options", async () => {
  await assert.rejects(generateDevCertificates({ hostnames: [] }), RangeError);
  await assert.rejects(generateDevCertificates({ validityDays: 0 }), RangeError);
});

Deno.test("ensureDevCertificates writes the files once and reuses them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await ensureDevCertificates(`${dir}/certs`);
    assert.equal(first.generated, true);
    assert.equal(await Deno.readTextFile(`${dir}/certs/ca.pem`), first.caPem);
    assert.equal((await Deno.stat(first.keyPath)).mode! & 0o777, 0o600);
    const second = await ensureDevCertificates(`${dir}/certs`);
    assert.equal(second.generated, false);
    assert.equal(second.certPem, first.certPem);
    // A missing file means a partial write: all three are regenerated.
    await Deno.remove(first.caPath);
    const third = await ensureDevCertificates(`${dir}/certs`);
    assert.equal(third.generated, true);
    assert.notEqual(third.certPem, first.certPem);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "generateDevCertificates serves QUIC and TLS to clients that trust the CA",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const certs = await generateDevCertificates();
    const endpoint = new Deno.QuicEndpoint({ hostname: "127.0.0.1", port: 0 });
    const listener = endpoint.listen({
      cert: certs.certPem,
      key: certs.keyPem,
      alpnProtocols: ["rustmq"],
    });
    // The server only answers handshakes it accepts, so keep accepting.
    const accepted = (async () => {
      for (let i = 0; i < 3; i++) await listener.accept().then((c) => c.close(), () => {});
    })();
    for (const hostname of ["localhost", "127.0.0.1"]) {
      const conn = await Deno.connectQuic({
        hostname,
        port: endpoint.addr.port,
        alpnProtocols: ["rustmq"],
        caCerts: [certs.caPem],
      });
      assert.equal(conn.protocol, "rustmq");
      conn.close();
    }
    // Without the CA the certificate must not be trusted.
    await assert.rejects(async () => {
      await Deno.connectQuic({
        hostname: "localhost",
        port: endpoint.addr.port,
        alpnProtocols: ["rustmq"],
      });
    });
    await accepted;
    listener.stop();
    endpoint.close();

    const tls = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: certs.certPem,
      key: certs.keyPem,
    });
    const server = tls.accept().then(async (conn) => {
      await conn.handshake();
      conn.close();
    });
    const client = await Deno.connectTls({
      hostname: "localhost",
      port: tls.addr.port,
      caCerts: [certs.caPem],
    });
    await client.handshake();
    await server;
    client.close();
    tls.close();
  },
});
