/**
 * Users and ACLs live in the controller's metadata, so they hold on every broker: a real cluster
 * (1 controller, 3 brokers, each its own `rustmq` process) with SASL_PLAINTEXT and the
 * authorizer on. Users are created with `rustmq admin users create` (REST, through Raft) and
 * with Kafka's AlterUserScramCredentials on broker 1 (raw frames: no client here has it); an ACL
 * is created with Kafka's CreateAcls on broker 1 (kafkajs admin, as a super user; Debian's
 * confluent-kafka 1.7 binding has no ACL admin);
 * a librdkafka producer authenticating with SCRAM-SHA-512 against broker 2 alone is refused,
 * then allowed, then refused again once `rustmq admin acls remove` deletes the ACL.
 */

import assert from "node:assert/strict";
import { Cluster, getJson, waitFor } from "./support/cluster_harness.ts";
import { tempDir } from "./support/temp_dir.ts";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { ApiKey } from "../protocol/kafka/api_keys.ts";
import {
  decodeAlterUserScramCredentialsResponse,
  decodeSaslAuthenticateResponse,
  decodeSaslHandshakeResponse,
  encodeAlterUserScramCredentialsRequest,
  encodeSaslAuthenticateRequest,
  encodeSaslHandshakeRequest,
} from "../protocol/kafka/messages/mod.ts";
import { saltedPassword } from "../broker/security/scram.ts";
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  Kafka,
  logLevel,
  ResourcePatternTypes,
} from "kafkajs";

const PYTHON = "/usr/bin/python3";
const MAIN = new URL("../main.ts", import.meta.url).pathname;

// "produce BS USER PW" sends 3 records to `orders`, one per partition, and prints how many were
// delivered and the errors.
const _PY = `
import json, sys
from confluent_kafka import Producer
mode, bs, user, pw = sys.argv[1:5]
conf = {"bootstrap.servers": bs, "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": user, "sasl.password": pw}
if True:
    errors = []
    p = Producer({**conf, "linger.ms": 0, "message.timeout.ms": 4000,
                  "error_cb": lambda e: errors.append(str(e))})
    ok = []
    def done(err, msg):
        if err is None: ok.append(msg.partition())
        else: errors.append(str(err))
    for i in range(3):
        p.produce("orders", b"m%d" % i, partition=i, on_delivery=done)
    p.flush(8)
    print(json.dumps({"delivered": len(ok), "errors": errors[:3]}))
`;

const pythonMissing = new Deno.Command("sh", {
  args: ["-c", `${PYTHON} -c 'import confluent_kafka'`],
}).outputSync().code !== 0;

/** AlterUserScramCredentials on `port` as the super user (SASL PLAIN first), as Kafka's tools send it. */
async function alterScramOnBroker(port: number, user: string, password: string) {
  await using c = await RawKafkaClient.connect(port);
  const hs = await c.request(
    ApiKey.SaslHandshake,
    1,
    (w) => encodeSaslHandshakeRequest(w, { mechanism: "PLAIN" }, 1),
    decodeSaslHandshakeResponse,
  );
  assert.equal(hs.errorCode, 0);
  const authBytes = new TextEncoder().encode("\0admin\0admin-pw");
  const au = await c.request(
    ApiKey.SaslAuthenticate,
    1,
    (w) => encodeSaslAuthenticateRequest(w, { authBytes }, 1),
    decodeSaslAuthenticateResponse,
  );
  assert.equal(au.errorCode, 0, au.errorMessage ?? "");
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const salted = await saltedPassword("SCRAM-SHA-512", password, salt, 4096);
  const r = await c.request(
    ApiKey.AlterUserScramCredentials,
    0,
    (w) =>
      encodeAlterUserScramCredentialsRequest(w, {
        deletions: [],
        upsertions: [{ name: user, mechanism: 2, iterations: 4096, salt, saltedPassword: salted }],
      }, 0),
    decodeAlterUserScramCredentialsResponse,
  );
  return r.results;
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

Deno.test({
  name: "ACLs and SCRAM users made on one broker or the controller apply on every broker",
  ignore: pythonMissing,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using tmp = await tempDir("rustmq-secacl-");
    const script = `${tmp.path}/client.py`;
    await Deno.writeTextFile(script, _PY);
    await using cluster = await Cluster.start({
      brokers: 3,
      controllers: 1,
      brokerConfig: {
        security: [
          'kafka_listener_protocol = "SASL_PLAINTEXT"',
          "allow_sasl_plaintext = true",
          "authorizer_enabled = true",
          'super_users = ["User:admin"]',
          "auth_failure_delay_ms = 50",
        ],
      },
    });
    const admin = await cluster.adminUrl();
    // Each partition on its own broker (RF 1), so every broker serves part of the produce.
    await cluster.createTopic("orders", 3, 1);
    const cli = (env: Record<string, string>, ...args: string[]) =>
      run(Deno.execPath(), ["run", "-A", MAIN, "admin", "--controller", admin, ...args], env);
    for (const [user, pw] of [["admin", "admin-pw"], ["alice", "alice-pw"]]) {
      const r = await cli({ RUSTMQ_USER_PASSWORD: pw! }, "users", "create", user!);
      assert.equal(r.code, 0, r.err);
      assert.doesNotMatch(r.out + r.err, new RegExp(pw!));
    }
    const listed = await cli({}, "users", "list");
    assert.match(listed.out, /alice\s+SCRAM-SHA-512\(8192\)/);

    const b1 = cluster.brokers[0]!.bootstrap;
    const b2 = cluster.brokers[1]!.bootstrap;
    // A user made with Kafka's API on broker 1 lands in the controller's metadata.
    assert.deepEqual(await alterScramOnBroker(cluster.brokers[0]!.kafkaPort, "carol", "carol-pw"), [
      { user: "carol", errorCode: 0, errorMessage: null },
    ]);
    const users = await getJson(`${admin}/api/v1/users`);
    assert.deepEqual(
      (users.users as { name: string }[]).map((u) => u.name).sort(),
      ["admin", "alice", "carol"],
    );
    const py = async (...args: string[]) => {
      const r = await run(PYTHON, [script, ...args]);
      assert.equal(r.code, 0, r.err);
      return JSON.parse(r.out.trim().split("\n").at(-1)!);
    };
    // Authenticated against broker 2, which never saw the user created: refused by the ACLs.
    const before = await py("produce", b2, "alice", "alice-pw");
    assert.equal(before.delivered, 0);
    assert.match(before.errors.join(" "), /authoriz/i, JSON.stringify(before));
    const wrong = await py("produce", b2, "alice", "not-the-password");
    assert.equal(wrong.delivered, 0);
    assert.match(wrong.errors.join(" "), /authenticat/i, JSON.stringify(wrong));

    // carol logs in on broker 2 (authentication passes; she has no ACL, so authorization fails).
    const carol = await py("produce", b2, "carol", "carol-pw");
    assert.equal(carol.delivered, 0);
    assert.match(carol.errors.join(" "), /authoriz/i, JSON.stringify(carol));
    assert.doesNotMatch(carol.errors.join(" "), /authenticat/i);

    // CreateAcls on broker 1 goes to the controller; the controller lists the ACL...
    const kjs = new Kafka({
      clientId: "secacl-admin",
      brokers: [b1],
      sasl: { mechanism: "scram-sha-512", username: "admin", password: "admin-pw" },
      logLevel: logLevel.NOTHING,
      retry: { initialRetryTime: 100, retries: 3 },
    }).admin();
    await kjs.connect();
    try {
      await kjs.createAcls({
        acl: [{
          resourceType: AclResourceTypes.TOPIC,
          resourceName: "orders",
          resourcePatternType: ResourcePatternTypes.LITERAL,
          principal: "User:alice",
          host: "*",
          operation: AclOperationTypes.WRITE,
          permissionType: AclPermissionTypes.ALLOW,
        }],
      });
    } finally {
      await kjs.disconnect();
    }
    const acls = await getJson(`${admin}/api/v1/acls?principal=User:alice`);
    assert.deepEqual(acls.acls, [{
      resource_type: "Topic",
      resource_name: "orders",
      pattern_type: "LITERAL",
      principal: "User:alice",
      host: "*",
      operation: "Write",
      permission: "Allow",
    }]);
    // ...and broker 2 enforces it once its metadata copy has the delta (well under 5 s).
    const t0 = performance.now();
    await waitFor("alice allowed on broker 2", 5000, async () => {
      const r = await py("produce", b2, "alice", "alice-pw");
      return r.delivered === 3 ? true : undefined;
    }, 100);
    const allowedMs = Math.round(performance.now() - t0);
    console.log(`alice allowed on broker 2 ${allowedMs} ms after CreateAcls on broker 1`);

    const removed = await cli(
      {},
      "acls",
      "remove",
      "--principal",
      "User:alice",
      "--topic",
      "orders",
    );
    assert.equal(removed.code, 0, removed.err);
    assert.match(removed.out, /^Removed 1 ACL\(s\)/);
    await waitFor("alice refused again on broker 2", 5000, async () => {
      const r = await py("produce", b2, "alice", "alice-pw");
      return r.delivered === 0 && /authoriz/i.test(r.errors.join(" ")) ? true : undefined;
    }, 100);
    // Broker 3 agrees: the ACL is gone there too (no per-broker copy survives).
    const b3 = await py("produce", cluster.brokers[2]!.bootstrap, "alice", "alice-pw");
    assert.equal(b3.delivered, 0);
    // No process logged a password, and no broker wrote a local users file.
    const logs = [
      ...cluster.controllers.map((c) => c.stderr()),
      ...cluster.brokers.map((b) => b.stderr()),
    ];
    assert.ok(logs.join("").length > 0);
    for (const pw of ["admin-pw", "alice-pw", "carol-pw"]) {
      assert.ok(!logs.some((l) => l.includes(pw)), pw);
    }
    for (const b of cluster.brokers) {
      await assert.rejects(Deno.stat(`${b.dataDir}/state/security.json`), Deno.errors.NotFound);
    }
  },
});
