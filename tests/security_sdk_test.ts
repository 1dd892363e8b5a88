/**
 * The SDK's SASL against a real `rustmq standalone` whose Kafka listener is SASL_SSL (QUIC takes
 * the same SASL): SCRAM-SHA-256 over QUIC and SCRAM-SHA-512 and PLAIN over TLS produce and
 * consume; a wrong password is refused with SASL_AUTHENTICATION_FAILED; a client without SASL
 * is served nothing.
 */

import assert from "node:assert/strict";
import { ensureDevCertificates } from "../broker/net/dev_certs.ts";
import { RustMqClient } from "../client/mod.ts";
import type { SaslMechanism } from "../client/sasl.ts";
import { startStandalone } from "./support/standalone_process.ts";
import { tempDir } from "./support/temp_dir.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const TEST_OPTS = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "SDK SASL: SCRAM over QUIC and TLS, PLAIN, a wrong password refused",
  TEST_OPTS,
  async () => {
    await using dir = await tempDir("rustmq-sdk-sasl-");
    const tls = await ensureDevCertificates(`${dir.path}/tls`);
    const add = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "users", "add", "carol", "--data", dir.path],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = add.stdin.getWriter();
    await w.write(new TextEncoder().encode("carol-secret\n"));
    await w.close();
    const added = await add.output();
    assert.equal(added.code, 0, new TextDecoder().decode(added.stderr));

    await using sa = await startStandalone({
      dataDir: dir.path,
      config: [
        `tls_cert_path = "${tls.certPath}"`,
        `tls_key_path = "${tls.keyPath}"`,
        "[security]",
        'kafka_listener_protocol = "SASL_SSL"',
        "auth_failure_delay_ms = 100",
      ].join("\n"),
    });
    assert.ok(sa.quicPort !== null);
    const urls = {
      quic: `quic://127.0.0.1:${sa.quicPort}`,
      tls: `tls://127.0.0.1:${sa.kafkaPort}`,
    };
    const connect = (url: string, mechanism?: SaslMechanism, password = "carol-secret") =>
      RustMqClient.connect({
        brokers: [url],
        tls: { caCerts: [tls.caPem], serverName: "localhost" },
        connectTimeoutMs: 5000,
        requestTimeoutMs: 10_000,
        ...(mechanism === undefined ? {} : { sasl: { mechanism, username: "carol", password } }),
      });

    const runs: [keyof typeof urls, SaslMechanism][] = [
      ["quic", "SCRAM-SHA-256"],
      ["tls", "SCRAM-SHA-512"],
      ["tls", "PLAIN"],
    ];
    for (const [transport, mechanism] of runs) {
      const topic = `sdk-${transport}-${mechanism.toLowerCase()}`;
      const client = await connect(urls[transport], mechanism);
      try {
        const admin = client.admin();
        await admin.createTopic(topic, 1);
        const producer = client.producer();
        for (let i = 0; i < 20; i++) await producer.send({ topic, partition: 0, value: `v${i}` });
        await producer.flush();
        const consumer = client.consumer({ autoOffsetReset: "earliest" });
        consumer.assign([{ topic, partition: 0 }]);
        const got: string[] = [];
        for (let i = 0; i < 50 && got.length < 20; i++) {
          for (const r of await consumer.poll({ timeoutMs: 500 })) {
            got.push(new TextDecoder().decode(r.value!));
          }
        }
        assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => `v${i}`), transport);
      } finally {
        await client.close();
      }
    }

    // The console tools: --sasl-mechanism and --sasl-username, the password from the environment.
    const cli = async (args: string[], stdin?: string) => {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--unstable-net",
          MAIN,
          ...args,
          "-b",
          urls.quic,
          "--ca-cert",
          tls.caPath,
          "--sasl-mechanism",
          "SCRAM-SHA-512",
          "--sasl-username",
          "carol",
        ],
        env: { RUSTMQ_SASL_PASSWORD: "carol-secret" },
        stdin: stdin === undefined ? "null" : "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      if (stdin !== undefined) {
        const sw = child.stdin.getWriter();
        await sw.write(new TextEncoder().encode(stdin));
        await sw.close();
      }
      const out = await child.output();
      const dec = new TextDecoder();
      return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
    };
    const produced = await cli(["produce", "-t", "sdk-quic-scram-sha-256"], "cli1\ncli2\n");
    assert.equal(produced.code, 0, produced.err);
    const consumed = await cli([
      "consume",
      "-t",
      "sdk-quic-scram-sha-256",
      "--from-beginning",
      "--exit-at-end",
    ]);
    assert.equal(consumed.code, 0, consumed.err);
    assert.deepEqual(consumed.out.trim().split("\n").slice(-2), ["cli1", "cli2"]);

    // A wrong password: refused with the Kafka code, over both transports.
    for (const url of [urls.quic, urls.tls]) {
      await assert.rejects(
        connect(url, "SCRAM-SHA-256", "not-the-password"),
        (e: Error & { code?: number }) =>
          /SASL_AUTHENTICATION_FAILED|Authentication failed/.test(`${e.name} ${e.message}`),
      );
    }
    // Without SASL the listener serves nothing past ApiVersions: Metadata is never answered.
    const bare = await connect(urls.tls).then(
      async (c) => {
        try {
          await c.admin().listTopics();
          return "served";
        } catch (e) {
          return (e as Error).name;
        } finally {
          await c.close();
        }
      },
      (e: Error) => e.name,
    );
    assert.notEqual(bare, "served");
  },
);
