/**
 * TransactionalId ACLs with a real client (kafkajs over SASL, authorizer on), as Kafka checks them:
 * - a transactional producer needs Write on its TransactionalId (FindCoordinator needs Describe,
 *   which Write implies), and is refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED until it has it;
 * - sending consumer offsets in a transaction also needs Read on the group;
 * - an idempotent producer without a transactional id needs Write on some topic (KIP-679) or
 *   IdempotentWrite on the cluster, else CLUSTER_AUTHORIZATION_FAILED.
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
import { createCredential, type ScramMechanism } from "../broker/security/scram.ts";
import { SecurityStore } from "../broker/security/security_store.ts";
import { fileMetadataPersistence } from "../broker/metadata/local_metadata.ts";
import { createTxnTopic, startTxnTestBroker } from "./txn_support.ts";
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
    const m: ScramMechanism = "SCRAM-SHA-256";
    const salt = crypto.getRandomValues(new Uint8Array(16));
    await store.upsertCredential(user, m, await createCredential(m, `${user}-pw`, salt, 4096));
  }
}

function kafka(bootstrap: string, user: string): Kafka {
  return new Kafka({
    clientId: user,
    brokers: [bootstrap],
    sasl: { mechanism: "scram-sha-256", username: user, password: `${user}-pw` },
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 50, retries: 1 },
  });
}

/** The broker error type inside a kafkajs error, which wraps it. */
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

const allow = (
  principal: string,
  resourceType: AclResourceTypes,
  resourceName: string,
  operation: AclOperationTypes,
) => ({
  resourceType,
  resourceName,
  resourcePatternType: ResourcePatternTypes.LITERAL,
  principal,
  host: "*",
  operation,
  permissionType: AclPermissionTypes.ALLOW,
});

Deno.test({
  name: "kafkajs TransactionalId ACLs: Write on the id, Read on the group, idempotence rights",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using dir = await tempDir("rustmq-txn-acl-");
    await addUsers(dir.path, ["admin", "bob", "carol", "dave"]);
    await using b = await startTxnTestBroker({ dataDir: dir.path, config: CONFIG });
    await createTxnTopic(b.broker, "pay", 1);
    const admin = kafka(b.bootstrap, "admin").admin();
    await admin.connect();
    const opened: { disconnect(): Promise<void> }[] = [admin];
    try {
      await admin.createAcls({
        acl: [
          allow("User:bob", AclResourceTypes.TOPIC, "pay", AclOperationTypes.WRITE),
          allow("User:carol", AclResourceTypes.TOPIC, "pay", AclOperationTypes.WRITE),
        ],
      });
      const txProducer = (user: string, transactionalId: string) => {
        const p = kafka(b.bootstrap, user).producer({
          transactionalId,
          idempotent: true,
          maxInFlightRequests: 1,
        });
        opened.push(p);
        return p;
      };

      // kafkajs asks for the producer id at the first transaction, not at connect.
      const begin = async (q: ReturnType<typeof txProducer>) => {
        await q.connect();
        return await q.transaction();
      };
      // Write on the topic is not enough for a transactional id. FindCoordinator needs Describe
      // on it first; kafkajs reports that refusal as a coordinator it cannot find.
      assert.match(
        await errorType(begin(txProducer("bob", "tx-bob"))),
        /KafkaJSGroupCoordinatorNotFound/,
      );
      await admin.createAcls({
        acl: [
          allow(
            "User:bob",
            AclResourceTypes.TRANSACTIONAL_ID,
            "tx-bob",
            AclOperationTypes.DESCRIBE,
          ),
        ],
      });
      // Describe finds the coordinator; InitProducerId needs Write.
      assert.equal(
        await errorType(begin(txProducer("bob", "tx-bob"))),
        "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
      );
      await admin.createAcls({
        acl: [
          allow("User:bob", AclResourceTypes.TRANSACTIONAL_ID, "tx-bob", AclOperationTypes.WRITE),
        ],
      });
      const p = txProducer("bob", "tx-bob");
      await p.connect();
      const t1 = await p.transaction();
      await t1.send({ topic: "pay", messages: [{ value: "p1" }] });
      await t1.commit();
      assert.equal(b.broker.txns!.coordinator.get("tx-bob")?.state, "CompleteCommit");
      // The ACLs name tx-bob only.
      assert.match(
        await errorType(begin(txProducer("bob", "tx-other"))),
        /KafkaJSGroupCoordinatorNotFound/,
      );

      // Offsets in a transaction: Read on the group too.
      const offsets = { consumerGroupId: "g-bob", topics: [{ topic: "pay", partitions: [] }] };
      offsets.topics[0]!.partitions.push({ partition: 0, offset: "1" } as never);
      const t2 = await p.transaction();
      assert.equal(await errorType(t2.sendOffsets(offsets)), "GROUP_AUTHORIZATION_FAILED");
      await t2.abort();
      await admin.createAcls({
        acl: [
          allow("User:bob", AclResourceTypes.GROUP, "g-bob", AclOperationTypes.READ),
          // TxnOffsetCommit also needs Read on each topic whose offsets it commits.
          allow("User:bob", AclResourceTypes.TOPIC, "pay", AclOperationTypes.READ),
        ],
      });
      const t3 = await p.transaction();
      await t3.send({ topic: "pay", messages: [{ value: "p2" }] });
      await t3.sendOffsets(offsets);
      await t3.commit();
      assert.equal(b.broker.txns!.coordinator.get("tx-bob")?.state, "CompleteCommit");

      // Idempotent, no transactional id: Write on some topic (carol) is enough; none (dave) is not.
      const idem = (user: string) => {
        const q = kafka(b.bootstrap, user).producer({ idempotent: true, maxInFlightRequests: 1 });
        opened.push(q);
        return q;
      };
      const carol = idem("carol");
      await carol.connect();
      await carol.send({ topic: "pay", messages: [{ value: "c1" }] });
      // An idempotent kafkajs producer asks for its producer id at connect.
      assert.equal(await errorType(idem("dave").connect()), "CLUSTER_AUTHORIZATION_FAILED");
      const log = b.broker.partitions.get("pay", 0)!.log;
      // p1 and its commit marker, the aborted t2 had nothing, p2 and offsets' marker, c1.
      assert.ok(log.highWatermark >= 5n, `high watermark ${log.highWatermark}`);
    } finally {
      for (const c of opened.reverse()) await c.disconnect().catch(() => {});
    }
  },
});
