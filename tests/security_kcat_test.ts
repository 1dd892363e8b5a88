/**
 * kcat (librdkafka) against a real `rustmq standalone` whose Kafka listener is SASL_SSL: a SCRAM
 * user made with `rustmq users add` produces and consumes with SCRAM-SHA-512 and with PLAIN, and a
 * wrong password is refused with an authentication error.
 */

import assert from "node:assert/strict";
import { ensureDevCertificates } from "../broker/net/dev_certs.ts";
import { startStandalone } from "./support/standalone_process.ts";
import { tempDir } from "./support/temp_dir.ts";
import { kcatMissing, run } from "./support/kcat.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

Deno.test({
  name: "kcat over SASL_SSL: SCRAM-SHA-512 and PLAIN produce and consume, a wrong password fails",
  ignore: kcatMissing,
  async fn() {
    await using dir = await tempDir("rustmq-sasl-");
    const tls = await ensureDevCertificates(`${dir.path}/tls`);
    // The user is made offline, before the broker starts, with the documented command.
    const added = await run(Deno.execPath(), [
      "run",
      "-A",
      MAIN,
      "users",
      "add",
      "alice",
      "--data",
      dir.path,
    ], "alice-secret\n");
    assert.equal(added.code, 0, added.err);
    const stored = await Deno.readTextFile(`${dir.path}/security.json`);
    assert.ok(!stored.includes("alice-secret"), "the password must not be stored");

    await using sa = await startStandalone({
      dataDir: dir.path,
      config: [
        `tls_cert_path = "${tls.certPath}"`,
        `tls_key_path = "${tls.keyPath}"`,
        "[security]",
        'kafka_listener_protocol = "SASL_SSL"',
        "auth_failure_delay_ms = 200",
      ].join("\n"),
    });
    const auth = (mechanism: string, password: string) => [
      "-b",
      sa.bootstrap,
      "-X",
      "security.protocol=SASL_SSL",
      "-X",
      `sasl.mechanisms=${mechanism}`,
      "-X",
      "sasl.username=alice",
      "-X",
      `sasl.password=${password}`,
      "-X",
      `ssl.ca.location=${tls.caPath}`,
    ];
    const lines = Array.from({ length: 100 }, (_, i) => `m${i}`);
    const produced = await run("kcat", [
      "-P",
      ...auth("SCRAM-SHA-512", "alice-secret"),
      "-t",
      "secure",
    ], lines.join("\n") + "\n");
    assert.equal(produced.code, 0, produced.err);
    const consumed = await run("kcat", [
      "-C",
      ...auth("PLAIN", "alice-secret"),
      "-t",
      "secure",
      "-o",
      "beginning",
      "-e",
      "-q",
    ]);
    assert.equal(consumed.code, 0, consumed.err);
    assert.deepEqual(consumed.out.trim().split("\n"), lines);

    const started = performance.now();
    const refused = await run("kcat", ["-L", ...auth("SCRAM-SHA-512", "wrong"), "-m", "5"]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.err, /Authentication failed|SASL authentication error/i, refused.err);
    // The failure is answered only after the configured delay.
    assert.ok(performance.now() - started >= 200);
    // A client that skips SASL gets nothing but a closed connection.
    const plain = await run("kcat", [
      "-L",
      "-b",
      sa.bootstrap,
      "-X",
      "security.protocol=SSL",
      "-X",
      `ssl.ca.location=${tls.caPath}`,
      "-m",
      "3",
    ]);
    assert.notEqual(plain.code, 0);
    assert.ok(!plain.out.includes("secure"), plain.out);
  },
});
