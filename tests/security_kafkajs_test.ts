/**
 * kafkajs against an in-process broker with SASL (PLAIN and SCRAM-SHA-256) and the ACL
 * authorizer on: admin createAcls/describeAcls/deleteAcls, a principal without Write refused with
 * TOPIC_AUTHORIZATION_FAILED and allowed on its next request once an ACL is added (same producer,
 * no reconnect), Deny over Allow, PREFIXED patterns, group ACLs, and Metadata hiding topics.
 */

import assert from "node:assert/strict";
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  type Consumer,
  Kafka,
  logLevel,
  ResourcePatternTypes,
  type SASLOptions,
} from "kafkajs";
import { createCredential, type ScramMechanism } from "../broker/security/scram.ts";
import { SecurityStore } from "../broker/security/security_store.ts";
import { fileMetadataPersistence } from "../broker/metadata/local_metadata.ts";
import { startTestBroker } from "./support/in_process_broker.ts";
import { tempDir } from "./support/temp_dir.ts";

const TEST_OPTS = { sanitizeOps: false, sanitizeResources: false };

const CONFIG = `
[security]
kafka_listener_protocol = "SASL_PLAINTEXT"
allow_sasl_plaintext = true
authorizer_enabled = true
super_users = ["User:admin"]
auth_failure_delay_ms = 20
`;

async function addUser(dir: string, user: string, password: string): Promise<void> {
  const store = await SecurityStore.open(fileMetadataPersistence(`${dir}/security.json`));
  for (const m of ["SCRAM-SHA-256", "SCRAM-SHA-512"] as ScramMechanism[]) {
    const salt = crypto.getRandomValues(new Uint8Array(16));
    await store.upsertCredential(user, m, await createCredential(m, password, salt, 4096));
  }
}

function kafka(port: number, clientId: string, sasl: SASLOptions): Kafka {
  return new Kafka({
    clientId,
    brokers: [`127.0.0.1:${port}`],
    sasl,
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 50, retries: 2 },
  });
}

const topicAcl = (
  name: string,
  pattern: ResourcePatternTypes,
  operation: AclOperationTypes,
  permission: AclPermissionTypes,
) => ({
  resourceType: AclResourceTypes.TOPIC,
  resourceName: name,
  resourcePatternType: pattern,
  principal: "User:bob",
  host: "*",
  operation,
  permissionType: permission,
});

/** The broker error type inside a kafkajs error, which wraps it (KafkaJSNonRetriableError...). */
function typeOf(err: unknown): string {
  let e = err as { type?: string; cause?: unknown; originalError?: unknown } | undefined;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (e.type !== undefined) return e.type;
    e = (e.cause ?? e.originalError) as typeof e;
  }
  return String(err);
}

async function errorType(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "none";
  } catch (err) {
    return typeOf(err);
  }
}

Deno.test({
  name: "kafkajs SASL PLAIN and SCRAM-SHA-256 logins, and a wrong password is refused",
  ...TEST_OPTS,
  async fn() {
    await using dir = await tempDir("rustmq-kjs-sasl-");
    await addUser(dir.path, "admin", "admin-pw");
    await using b = await startTestBroker(CONFIG, dir.path);
    for (const mechanism of ["plain", "scram-sha-256", "scram-sha-512"] as const) {
      const admin = kafka(b.port, `admin-${mechanism}`, {
        mechanism,
        username: "admin",
        password: "admin-pw",
      } as SASLOptions).admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: `t-${mechanism}` }] });
      assert.ok((await admin.listTopics()).includes(`t-${mechanism}`));
      await admin.disconnect();
    }
    const wrong = kafka(b.port, "wrong", {
      mechanism: "scram-sha-256",
      username: "admin",
      password: "nope",
    }).admin();
    const err = await wrong.connect().then(() => null, (e: Error) => e);
    assert.ok(err !== null, "a wrong password must not connect");
    assert.match(`${err.name} ${err.message}`, /SASL|Authentication failed/i);
  },
});

Deno.test({
  name:
    "kafkajs ACLs: Write refused then allowed without reconnecting, Deny wins, PREFIXED, groups",
  ...TEST_OPTS,
  async fn() {
    await using dir = await tempDir("rustmq-kjs-acl-");
    await addUser(dir.path, "admin", "admin-pw");
    await addUser(dir.path, "bob", "bob-pw");
    await using b = await startTestBroker(CONFIG, dir.path);
    const admin = kafka(b.port, "admin", {
      mechanism: "scram-sha-256",
      username: "admin",
      password: "admin-pw",
    }).admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic: "orders" }, { topic: "orders-secret" }, { topic: "hidden" }],
    });
    const bob = kafka(b.port, "bob", { mechanism: "plain", username: "bob", password: "bob-pw" });
    const producer = bob.producer();
    await producer.connect();
    const send = (topic: string) => producer.send({ topic, messages: [{ value: "x" }] });

    assert.equal(await errorType(send("orders")), "TOPIC_AUTHORIZATION_FAILED");

    await admin.createAcls({
      acl: [
        topicAcl(
          "ord",
          ResourcePatternTypes.PREFIXED,
          AclOperationTypes.WRITE,
          AclPermissionTypes.ALLOW,
        ),
        topicAcl(
          "orders-secret",
          ResourcePatternTypes.LITERAL,
          AclOperationTypes.WRITE,
          AclPermissionTypes.DENY,
        ),
      ],
    });
    const granted = performance.now();
    // The same producer, connected before the ACL existed, may write on its next request.
    await send("orders");
    const appliedMs = performance.now() - granted;
    assert.ok(appliedMs < 1000, `took ${appliedMs} ms`);
    assert.equal(await errorType(send("orders-secret")), "TOPIC_AUTHORIZATION_FAILED");

    const described = await admin.describeAcls({
      resourceType: AclResourceTypes.ANY,
      resourcePatternType: ResourcePatternTypes.ANY,
      operation: AclOperationTypes.ANY,
      permissionType: AclPermissionTypes.ANY,
    });
    const seen = described.resources.flatMap((r) =>
      r.acls.map((a) =>
        `${r.resourceName}/${r.resourcePatternType}/${a.operation}/${a.permissionType}`
      )
    ).sort();
    assert.deepEqual(seen, [
      `ord/${ResourcePatternTypes.PREFIXED}/${AclOperationTypes.WRITE}/${AclPermissionTypes.ALLOW}`,
      `orders-secret/${ResourcePatternTypes.LITERAL}/${AclOperationTypes.WRITE}/${AclPermissionTypes.DENY}`,
    ]);

    // Metadata shows bob only the topics he may describe: Write implies Describe, and a Deny of
    // Write denies only Write, so orders-secret is listed and "hidden" is not.
    const bobAdmin = bob.admin();
    await bobAdmin.connect();
    assert.deepEqual((await bobAdmin.listTopics()).sort(), ["orders", "orders-secret"]);
    await bobAdmin.disconnect();

    // Groups: Read on the topic alone is not enough; Read on the group is needed too.
    await admin.createAcls({
      acl: [
        topicAcl(
          "orders",
          ResourcePatternTypes.LITERAL,
          AclOperationTypes.READ,
          AclPermissionTypes.ALLOW,
        ),
      ],
    });
    // With no group ACL, FindCoordinator is refused; kafkajs reports it as coordinator-not-found.
    assert.match(
      await consumeOne(bob, "g1"),
      /GROUP_AUTHORIZATION_FAILED|GroupCoordinatorNotFound/,
    );
    // Describe on the group lets FindCoordinator through, and JoinGroup still needs Read.
    await admin.createAcls({
      acl: [{
        ...topicAcl(
          "g1",
          ResourcePatternTypes.LITERAL,
          AclOperationTypes.DESCRIBE,
          AclPermissionTypes.ALLOW,
        ),
        resourceType: AclResourceTypes.GROUP,
      }],
    });
    assert.equal(await consumeOne(bob, "g1"), "GROUP_AUTHORIZATION_FAILED");
    await admin.createAcls({
      acl: [{
        ...topicAcl(
          "g",
          ResourcePatternTypes.PREFIXED,
          AclOperationTypes.READ,
          AclPermissionTypes.ALLOW,
        ),
        resourceType: AclResourceTypes.GROUP,
      }],
    });
    assert.equal(await consumeOne(bob, "g1"), "x");

    const deleted = await admin.deleteAcls({
      filters: [{
        resourceType: AclResourceTypes.TOPIC,
        resourceName: "ord",
        resourcePatternType: ResourcePatternTypes.PREFIXED,
        principal: "User:bob",
        host: "*",
        operation: AclOperationTypes.WRITE,
        permissionType: AclPermissionTypes.ALLOW,
      }],
    });
    assert.equal(deleted.filterResponses[0]!.matchingAcls.length, 1);
    assert.equal(await errorType(send("orders")), "TOPIC_AUTHORIZATION_FAILED");
    await producer.disconnect();
    await admin.disconnect();
  },
});

/** Joins `group` and returns the first message's value, or the error type that stopped it. */
async function consumeOne(k: Kafka, group: string): Promise<string> {
  const consumer: Consumer = k.consumer({
    groupId: group,
    retry: { retries: 0 },
    sessionTimeout: 6000,
    rebalanceTimeout: 3000,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: "orders", fromBeginning: true });
    return await new Promise<string>((resolve) => {
      consumer.on(consumer.events.CRASH, (e) => resolve(typeOf(e.payload.error)));
      consumer.run({
        eachMessage: ({ message }) => {
          resolve(message.value?.toString() ?? "");
          return Promise.resolve();
        },
      }).catch((e: unknown) => resolve(typeOf(e)));
    });
  } finally {
    await consumer.disconnect();
  }
}
