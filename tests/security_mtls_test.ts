/**
 * Mutual TLS on the Kafka listener of a real `rustmq standalone`, driven by kcat (librdkafka)
 * with `security.protocol=SSL` and a client certificate, and by kafkajs for the admin calls:
 * - certificates come from `openssl` (a CA, the broker, clients; one client from another CA);
 * - a client without a certificate, or with one from another CA, is refused at the handshake;
 * - the certificate's subject, through `ssl_principal_mapping_rules`, is the principal ACLs see:
 *   alice (CN=alice,OU=eng,O=Acme → User:alice) is refused until an ACL names User:alice, then
 *   produces and consumes; bob, same CA, no ACL, stays refused;
 * - QUIC, which cannot ask for client certificates, does not listen;
 * - on SASL_SSL with required certificates, a client needs both, and the SASL user is the principal.
 */

import assert from "node:assert/strict";
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  Kafka,
  logLevel,
  ResourcePatternTypes,
} from "kafkajs";
import { type CertFiles, makeMtlsCertificates, opensslMissing } from "./support/mtls_certs.ts";
import { startStandalone } from "./support/standalone_process.ts";
import { tempDir } from "./support/temp_dir.ts";
import { kcatMissing, run } from "./support/kcat.ts";

Deno.test({
  name: "kcat over mutual TLS: the certificate's mapped name is the principal ACLs check",
  ignore: kcatMissing || opensslMissing(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using dir = await tempDir("rustmq-mtls-");
    const certs = await makeMtlsCertificates(dir.path, {
      alice: { subject: "/O=Acme/OU=eng/CN=alice" },
      bob: { subject: "/O=Acme/OU=eng/CN=bob" },
      admin: { subject: "/O=Acme/OU=ops/CN=Admin" },
    });
    await using sa = await startStandalone({
      config: [
        `tls_cert_path = "${certs.broker.certPath}"`,
        `tls_key_path = "${certs.broker.keyPath}"`,
        "[security]",
        'ssl_client_auth = "required"',
        `ssl_client_ca_path = "${certs.caPath}"`,
        // CN=alice,OU=eng,O=Acme → alice; anything else from this CA → its whole DN.
        "ssl_principal_mapping_rules = ['RULE:^CN=([^,]+),OU=(eng|ops),O=Acme$/$1/L', 'DEFAULT']",
        "authorizer_enabled = true",
        'super_users = ["User:admin"]',
      ].join("\n"),
    });
    assert.equal(sa.quicPort, null, "QUIC cannot require client certificates, so it is off");
    const ssl = (client: CertFiles | null) => [
      "-b",
      sa.bootstrap,
      "-X",
      "security.protocol=SSL",
      "-X",
      `ssl.ca.location=${certs.caPath}`,
      ...(client === null ? [] : [
        "-X",
        `ssl.certificate.location=${client.certPath}`,
        "-X",
        `ssl.key.location=${client.keyPath}`,
      ]),
    ];
    const { alice, bob, admin } = certs.clients as Record<string, CertFiles>;

    // The admin (a super user by its mapped name) creates the topic with kafkajs over mTLS.
    const kafka = new Kafka({
      clientId: "mtls-admin",
      brokers: [`localhost:${sa.kafkaPort}`],
      ssl: {
        ca: [certs.caPem],
        cert: admin!.certPem,
        key: admin!.keyPem,
        servername: "localhost",
      },
      logLevel: logLevel.NOTHING,
      retry: { initialRetryTime: 50, retries: 3 },
    });
    const kadmin = kafka.admin();
    await kadmin.connect();
    try {
      assert.ok(await kadmin.createTopics({ topics: [{ topic: "orders", numPartitions: 1 }] }));

      const lines = Array.from({ length: 50 }, (_, i) => `order-${i}`);
      const produce = (who: CertFiles) =>
        run("kcat", ["-P", ...ssl(who), "-t", "orders"], lines.join("\n") + "\n");
      const consume = (who: CertFiles) =>
        run("kcat", ["-C", ...ssl(who), "-t", "orders", "-o", "beginning", "-e", "-q"]);

      // Authenticated as User:alice, but no ACL names her yet.
      const early = await produce(alice!);
      assert.match(early.err, /Topic authorization failed/i, early.err);

      await kadmin.createAcls({
        acl: ["WRITE", "READ"].map((op) => ({
          resourceType: AclResourceTypes.TOPIC,
          resourceName: "orders",
          resourcePatternType: ResourcePatternTypes.LITERAL,
          principal: "User:alice",
          host: "*",
          operation: AclOperationTypes[op as "WRITE" | "READ"],
          permissionType: AclPermissionTypes.ALLOW,
        })),
      });
      const produced = await produce(alice!);
      assert.equal(produced.code, 0, produced.err);
      assert.ok(!/failed/i.test(produced.err), produced.err);
      const consumed = await consume(alice!);
      assert.equal(consumed.code, 0, consumed.err);
      assert.deepEqual(consumed.out.trim().split("\n"), lines);

      // bob's certificate is as valid as alice's; the ACL names alice only.
      const bobRead = await consume(bob!);
      assert.match(bobRead.err, /Topic authorization failed/i, bobRead.err);
      assert.ok(!bobRead.out.includes("order-"), bobRead.out);
    } finally {
      await kadmin.disconnect();
    }

    // No certificate, or one from another CA: refused at the TLS handshake.
    const metadata = (who: CertFiles | null) => run("kcat", ["-L", ...ssl(who), "-m", "3"]);
    for (const who of [null, certs.stranger]) {
      const refused = await metadata(who);
      assert.notEqual(refused.code, 0, refused.out);
      assert.ok(!refused.out.includes("orders"), refused.out);
      assert.match(refused.err, /SSL|certificate|Disconnected|transport failure/i, refused.err);
    }
    assert.match(sa.stderr(), /peer sent no certificates/);
    assert.match(sa.stderr(), /Refusing a TLS client as its certificate is missing or untrusted/);
    const listed = await metadata(alice!);
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, /topic "orders"/);
  },
});

Deno.test({
  name:
    "kcat over SASL_SSL with required client certificates: both are needed, SASL names the user",
  ignore: kcatMissing || opensslMissing(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using dir = await tempDir("rustmq-mtls-sasl-");
    const certs = await makeMtlsCertificates(dir.path, { app: { subject: "/CN=app-host" } });
    const data = `${dir.path}/data`;
    const added = await run(Deno.execPath(), [
      "run",
      "-A",
      new URL("../main.ts", import.meta.url).pathname,
      "users",
      "add",
      "carol",
      "--data",
      data,
    ], "carol-secret\n");
    assert.equal(added.code, 0, added.err);
    await using sa = await startStandalone({
      dataDir: data,
      config: [
        `tls_cert_path = "${certs.broker.certPath}"`,
        `tls_key_path = "${certs.broker.keyPath}"`,
        "[security]",
        'kafka_listener_protocol = "SASL_SSL"',
        'ssl_client_auth = "required"',
        `ssl_client_ca_path = "${certs.caPath}"`,
        "authorizer_enabled = true",
        // The certificate's name is not the principal on SASL_SSL: only the SASL user is.
        'super_users = ["User:carol"]',
      ].join("\n"),
    });
    const args = (client: CertFiles | null) => [
      "-b",
      sa.bootstrap,
      "-X",
      "security.protocol=SASL_SSL",
      "-X",
      "sasl.mechanisms=SCRAM-SHA-512",
      "-X",
      "sasl.username=carol",
      "-X",
      "sasl.password=carol-secret",
      "-X",
      `ssl.ca.location=${certs.caPath}`,
      ...(client === null ? [] : [
        "-X",
        `ssl.certificate.location=${client.certPath}`,
        "-X",
        `ssl.key.location=${client.keyPath}`,
      ]),
    ];
    const app = certs.clients.app!;
    const produced = await run("kcat", ["-P", ...args(app), "-t", "both"], "b1\nb2\n");
    assert.equal(produced.code, 0, produced.err);
    assert.ok(!/failed/i.test(produced.err), produced.err);
    const consumed = await run("kcat", [
      "-C",
      ...args(app),
      "-t",
      "both",
      "-o",
      "beginning",
      "-e",
      "-q",
    ]);
    assert.deepEqual(consumed.out.trim().split("\n"), ["b1", "b2"]);
    // The right password without a certificate does not get past the handshake.
    const noCert = await run("kcat", ["-L", ...args(null), "-m", "3"]);
    assert.notEqual(noCert.code, 0);
    assert.ok(!noCert.out.includes("both"), noCert.out);
    assert.match(sa.stderr(), /peer sent no certificates/);
  },
});
