/**
 * With the authorizer on, the admin APIs that answer per resource refuse per resource, as Kafka
 * does: DescribeConfigs, AlterConfigs, DeleteGroups, CreatePartitions and the ACL APIs answer a
 * refused resource with TOPIC_, CLUSTER_ or GROUP_AUTHORIZATION_FAILED (kafkajs raises that
 * code), serve the allowed ones, and keep the connection open.
 */

import assert from "node:assert/strict";
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  ConfigResourceTypes,
  Kafka,
  logLevel,
  ResourcePatternTypes,
} from "kafkajs";
import { createCredential } from "../broker/security/scram.ts";
import { SecurityStore } from "../broker/security/security_store.ts";
import { fileMetadataPersistence } from "../broker/metadata/local_metadata.ts";
import { startTestBroker } from "./support/in_process_broker.ts";
import { tempDir } from "./support/temp_dir.ts";

const CONFIG = `
[security]
kafka_listener_protocol = "SASL_PLAINTEXT"
allow_sasl_plaintext = true
authorizer_enabled = true
super_users = ["User:admin"]
auth_failure_delay_ms = 20
`;

async function addUsers(dir: string, users: string[]): Promise<void> {
  const store = await SecurityStore.open(fileMetadataPersistence(`${dir}/security.json`));
  for (const user of users) {
    const salt = crypto.getRandomValues(new Uint8Array(16));
    await store.upsertCredential(
      user,
      "SCRAM-SHA-256",
      await createCredential("SCRAM-SHA-256", `${user}-pw`, salt, 4096),
    );
  }
}

function kafka(port: number, user: string): Kafka {
  return new Kafka({
    clientId: user,
    brokers: [`127.0.0.1:${port}`],
    sasl: { mechanism: "scram-sha-256", username: user, password: `${user}-pw` },
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 50, retries: 0 },
  });
}

async function errorType(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "none";
  } catch (err) {
    let e = err as { type?: string; cause?: unknown; originalError?: unknown } | undefined;
    for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
      if (e.type !== undefined) return e.type;
      e = (e.cause ?? e.originalError) as typeof e;
    }
    return String(err);
  }
}

const allow = (type: AclResourceTypes, name: string, operation: AclOperationTypes) => ({
  resourceType: type,
  resourceName: name,
  resourcePatternType: ResourcePatternTypes.LITERAL,
  principal: "User:bob",
  host: "*",
  operation,
  permissionType: AclPermissionTypes.ALLOW,
});

Deno.test({
  name: "Admin APIs refuse per resource with Kafka's codes and keep the connection",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using dir = await tempDir("rustmq-res-acl-");
    await addUsers(dir.path, ["admin", "bob"]);
    await using b = await startTestBroker(CONFIG, dir.path);
    const admin = kafka(b.port, "admin").admin();
    const bob = kafka(b.port, "bob").admin();
    await admin.connect();
    await bob.connect();
    try {
      await admin.createTopics({ topics: [{ topic: "open" }, { topic: "secret" }] });
      await admin.createAcls({
        acl: [
          allow(AclResourceTypes.TOPIC, "open", AclOperationTypes.DESCRIBE_CONFIGS),
          allow(AclResourceTypes.TOPIC, "open", AclOperationTypes.ALTER),
          allow(AclResourceTypes.GROUP, "g-open", AclOperationTypes.DESCRIBE),
          allow(AclResourceTypes.GROUP, "g-open", AclOperationTypes.DELETE),
          allow(AclResourceTypes.GROUP, "g-secret", AclOperationTypes.DESCRIBE),
        ],
      });
      const topic = (name: string) => ({ type: ConfigResourceTypes.TOPIC, name });
      const described = await bob.describeConfigs({
        resources: [topic("open")],
        includeSynonyms: false,
      });
      assert.equal(described.resources[0]!.errorCode, 0);
      assert.ok(described.resources[0]!.configEntries.length > 0);
      // kafkajs raises the first resource error; the answer is the per-resource code.
      assert.equal(
        await errorType(
          bob.describeConfigs({
            resources: [topic("open"), topic("secret")],
            includeSynonyms: false,
          }),
        ),
        "TOPIC_AUTHORIZATION_FAILED",
      );
      assert.equal(
        await errorType(
          bob.describeConfigs({
            resources: [{ type: ConfigResourceTypes.BROKER, name: "1" }],
            includeSynonyms: false,
          }),
        ),
        "CLUSTER_AUTHORIZATION_FAILED",
      );
      assert.equal(
        await errorType(bob.alterConfigs({
          validateOnly: true,
          resources: [{
            ...topic("secret"),
            configEntries: [{ name: "retention.ms", value: "1" }],
          }],
        })),
        "TOPIC_AUTHORIZATION_FAILED",
      );
      assert.equal(
        await errorType(bob.createPartitions({ topicPartitions: [{ topic: "secret", count: 2 }] })),
        "TOPIC_AUTHORIZATION_FAILED",
      );
      // kafkajs finds each group's coordinator first (Describe on the group, the very check
      // DescribeGroups makes), so DescribeGroups' own refusal is covered by the unit test.
      const groups = await bob.describeGroups(["g-open"]);
      assert.equal(groups.groups[0]!.groupId, "g-open");
      // g-secret may be described (so its coordinator is found) but not deleted.
      const deleted = await bob.deleteGroups(["g-open", "g-secret"]).then(
        () => [],
        (err: { groups?: { groupId: string; errorCode: number }[] }) => err.groups ?? [],
      );
      const codeOf = (g: string) => deleted.find((d) => d.groupId === g)?.errorCode;
      assert.equal(codeOf("g-secret"), 30, JSON.stringify(deleted));
      assert.notEqual(codeOf("g-open"), 30, JSON.stringify(deleted));
      // The ACL admin APIs need the Cluster: refused in the answer, not by a close.
      const filter = {
        resourceType: AclResourceTypes.ANY,
        resourcePatternType: ResourcePatternTypes.ANY,
        operation: AclOperationTypes.ANY,
        permissionType: AclPermissionTypes.ANY,
      };
      assert.equal(await errorType(bob.describeAcls(filter)), "CLUSTER_AUTHORIZATION_FAILED");
      assert.equal(
        await errorType(bob.createAcls({
          acl: [allow(AclResourceTypes.TOPIC, "secret", AclOperationTypes.READ)],
        })),
        "CLUSTER_AUTHORIZATION_FAILED",
      );
      assert.equal(
        await errorType(bob.deleteAcls({ filters: [filter] })),
        "CLUSTER_AUTHORIZATION_FAILED",
      );
      // Nothing was deleted by bob's attempt.
      assert.equal((await admin.describeAcls(filter)).resources.length, 3);
      // Every refusal above was an answer: the one connection bob opened is still the one used.
      const accepted = b.broker.network.tcp.connectionsAccepted;
      await bob.describeConfigs({ resources: [topic("open")], includeSynonyms: false });
      assert.equal(b.broker.network.tcp.connectionsAccepted, accepted);
    } finally {
      await bob.disconnect();
      await admin.disconnect();
    }
  },
});
