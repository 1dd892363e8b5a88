/**
 * Mutual TLS between cluster members (`security.internal_tls_*`), with real processes: three
 * controllers and three brokers share one CA. Raft, broker registration and replication run over
 * mutual TLS (an RF 3, acks=all write needs all three); a gRPC caller or a follower that speaks
 * plaintext, shows no certificate or one from another CA is refused; a broker with a stranger's
 * certificate cannot join. The controller's admin API serves HTTPS with
 * `security.admin_tls_cert_path`, and `rustmq admin --ca-cert` talks to it.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import { Cluster, waitFor } from "./support/cluster_harness.ts";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { fetchValues, produceValues } from "./support/raw_ops.ts";
import { makeMtlsCertificates, opensslMissing } from "./support/mtls_certs.ts";
import { startTestController } from "./support/controller_inprocess.ts";
import {
  BrokerServiceClient,
  GRPC_CHANNEL_OPTIONS,
  RaftServiceClient,
  unaryCall,
} from "../controller/transport/grpc_codec.ts";

const TOPIC = "internal-tls";
const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** The gRPC status of one call on a fresh client (0: it succeeded). */
async function grpcStatus(client: grpc.Client, method: string, request: unknown) {
  try {
    await unaryCall(client, method, request, 3000);
    return { code: 0, details: "" };
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, details: e.details ?? "" };
  } finally {
    client.close();
  }
}

Deno.test({
  name: "internal mTLS: Raft, registration and replication need a certificate from the cluster CA",
  ignore: opensslMissing(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "rustmq-itls-" });
    try {
      const certs = await makeMtlsCertificates(dir, {});
      const tlsLines = (c: { certPath: string; keyPath: string }) => [
        `internal_tls_cert_path = "${c.certPath}"`,
        `internal_tls_key_path = "${c.keyPath}"`,
        `internal_tls_ca_path = "${certs.caPath}"`,
      ];
      await using cluster = await Cluster.start({
        brokers: 3,
        controllerConfig: ["[security]", ...tlsLines(certs.broker)],
        brokerConfig: { security: tlsLines(certs.broker) },
      });

      // An RF 3 partition reaches a full ISR only if followers fetch over mutual TLS.
      await cluster.createTopic(TOPIC, 1, 3, { "min.insync.replicas": "3" });
      const leader = await waitFor("a full ISR", 30_000, async () => {
        const p = ((await cluster.topic(TOPIC)).partition_details as {
          leader: number;
          isr: number[];
        }[])[0]!;
        return p.isr.length === 3 && p.leader >= 0 ? p.leader : undefined;
      });
      const leaderBroker = cluster.brokers.find((b) => b.id === leader)!;
      const code = await waitFor("the leader to take a write", 20_000, async () => {
        await using c = await RawKafkaClient.connect(leaderBroker.kafkaPort);
        const r = await produceValues(c, TOPIC, 0, ["a", "b", "c"]);
        // Unknown topic (3) or leadership (6) not heard of yet: nothing was appended, so retry.
        return r.errorCode === 3 || r.errorCode === 6 ? undefined : r.errorCode;
      });
      assert.equal(code, 0, "acks=all with min.insync.replicas=3 over mutual TLS replication");

      // The controllers' gRPC: plaintext, no client certificate, or another CA's are refused.
      const ctl = cluster.controllers[0]!.spec;
      const ca = Buffer.from(certs.caPem);
      const own = (c: { keyPem: string; certPem: string }) =>
        grpc.credentials.createSsl(ca, Buffer.from(c.keyPem), Buffer.from(c.certPem));
      const refusedCreds: [string, grpc.ChannelCredentials][] = [
        ["plaintext", grpc.credentials.createInsecure()],
        ["no client certificate", grpc.credentials.createSsl(ca)],
        ["another CA's certificate", own(certs.stranger)],
      ];
      for (const [what, creds] of refusedCreds) {
        const broker = new BrokerServiceClient(
          `localhost:${ctl.rpcPort}`,
          creds,
          GRPC_CHANNEL_OPTIONS,
        );
        const md = await grpcStatus(broker, "GetMetadata", { v: 1 });
        assert.equal(md.code, grpc.status.UNAVAILABLE, `BrokerService with ${what}: ${md.details}`);
        const raft = new RaftServiceClient(
          `localhost:${ctl.raftPort}`,
          creds,
          GRPC_CHANNEL_OPTIONS,
        );
        const sent = await grpcStatus(raft, "Send", { v: 1, from: "intruder", messages: [] });
        assert.equal(sent.code, grpc.status.UNAVAILABLE, `Raft with ${what}: ${sent.details}`);
      }
      // The same call with the cluster's certificate is answered, so the refusals were TLS's.
      const good = new BrokerServiceClient(
        `localhost:${ctl.rpcPort}`,
        own(certs.broker),
        GRPC_CHANNEL_OPTIONS,
      );
      assert.equal((await grpcStatus(good, "GetMetadata", { v: 1 })).code, 0);

      // Replication: a plaintext follower or one with another CA's certificate gets nothing.
      const port = /replication tcp:\/\/[^:]+:(\d+)/.exec(leaderBroker.readyLine)?.[1];
      assert.ok(port, leaderBroker.readyLine);
      {
        await using raw = await RawKafkaClient.connect(Number(port));
        await assert.rejects(fetchValues(raw, TOPIC, 0), "a plaintext follower is cut off");
      }
      const tlsFetch = async (c: { certPem: string; keyPem: string } | null) => {
        const conn = await Deno.connectTls({
          hostname: "localhost",
          port: Number(port),
          caCerts: [certs.caPem],
          ...(c === null ? {} : { cert: c.certPem, key: c.keyPem }),
        });
        await using raw = RawKafkaClient.over(conn);
        return await fetchValues(raw, TOPIC, 0);
      };
      await assert.rejects(tlsFetch(null), "a follower without a certificate is cut off");
      await assert.rejects(tlsFetch(certs.stranger), "another CA's certificate is cut off");
      assert.deepEqual((await tlsFetch(certs.broker)).values, ["a", "b", "c"]);

      // A broker whose certificate another CA signed cannot register.
      const err = await cluster.addBroker(15_000, { security: tlsLines(certs.stranger) })
        .then(() => null, (e: Error) => e);
      assert.ok(err !== null, "a broker with a stranger's certificate must not join");
      assert.match(err.message, /internal TLS is on/, "the refusal says where to look");
      const brokers = await (await fetch(`${await cluster.adminUrl()}/api/v1/brokers`)).json();
      assert.equal((brokers.brokers as unknown[]).length, 3, "no stranger registered");
      // A half-configured broker is refused with the reason, not silently plaintext.
      const half = await cluster.addBroker(15_000, {
        security: [`internal_tls_cert_path = "${certs.broker.certPath}"`],
      }).then(() => null, (e: Error) => e);
      assert.ok(half !== null);
      assert.match(half.message, /internal_tls_key_path/);
      assert.doesNotMatch(half.message, /^\s+at /m, "no stack trace");

      // And the cluster still serves: another acks=all write and the whole log back.
      {
        await using c = await RawKafkaClient.connect(leaderBroker.kafkaPort);
        assert.equal((await produceValues(c, TOPIC, 0, ["d"])).errorCode, 0);
        assert.deepEqual((await fetchValues(c, TOPIC, 0)).values, ["a", "b", "c", "d"]);
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "admin HTTPS: the controller serves its REST API over TLS and rustmq admin --ca-cert uses it",
  ignore: opensslMissing(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "rustmq-atls-" });
    try {
      const certs = await makeMtlsCertificates(dir, {});
      await using ctl = await startTestController({
        extraLines: [
          "[security]",
          `admin_tls_cert_path = "${certs.broker.certPath}"`,
          `admin_tls_key_path = "${certs.broker.keyPath}"`,
        ],
      });
      const https = `https://localhost:${ctl.controller.addrs.httpPort}`;
      const client = Deno.createHttpClient({ caCerts: [certs.caPem] });
      try {
        const health = await waitFor("the HTTPS health endpoint", 10_000, async () => {
          const res = await fetch(`${https}/health`, { client });
          await res.body?.cancel();
          return res.ok ? res.status : undefined;
        });
        assert.equal(health, 200);
      } finally {
        client.close();
      }
      // Without the CA the certificate is not trusted; plain HTTP to the port gets no answer.
      await assert.rejects(fetch(`${https}/health`), TypeError);
      await assert.rejects(fetch(`http://localhost:${ctl.controller.addrs.httpPort}/health`));

      const run = async (...extra: string[]) => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", MAIN, "admin", "list-topics", "--controller", https, ...extra],
          stdout: "piped",
          stderr: "piped",
        }).output();
        return {
          code: out.code,
          text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
        };
      };
      const trusted = await run("--ca-cert", certs.caPath);
      assert.equal(trusted.code, 0, trusted.text);
      const untrusted = await run("--timeout-ms", "2000");
      assert.notEqual(untrusted.code, 0, untrusted.text);
      assert.match(untrusted.text, /not trusted: pass its CA with --ca-cert/);
      assert.doesNotMatch(untrusted.text, /^\s+at /m, "no stack trace");
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
