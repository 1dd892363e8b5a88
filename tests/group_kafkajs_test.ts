/**
 * kafkajs consumer groups against an in-process broker: three consumers share a 6-partition
 * topic (every message consumed, no partition owned twice in one generation), and committed
 * offsets survive a broker restart.
 */

import assert from "node:assert/strict";
import { type Consumer, Kafka, logLevel } from "kafkajs";
import { createTestTopic, startGroupTestBroker, waitFor } from "./group_support.ts";
import { tempDir } from "./support/temp_dir.ts";

const TEST_OPTS = { sanitizeOps: false, sanitizeResources: false };

function _kafka(bootstrap: string, clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 50, retries: 8 },
  });
}

async function _produce(kafka: Kafka, topic: string, count: number, partitions: number, from = 0) {
  const producer = kafka.producer();
  await producer.connect();
  const messages = Array.from({ length: count }, (_, i) => ({
    partition: (from + i) % partitions,
    value: `m${from + i}`,
  }));
  await producer.send({ topic, messages });
  await producer.disconnect();
}

interface _Join {
  consumer: number;
  generation: number;
  memberId: string;
  partitions: number[];
}

/** Groups the joins by generation, asserting no partition has two owners in one generation. */
function _assertNoSharedPartition(joins: readonly _Join[]): Map<number, _Join[]> {
  const byGeneration = new Map<number, _Join[]>();
  for (const j of joins) {
    byGeneration.set(j.generation, [...byGeneration.get(j.generation) ?? [], j]);
  }
  for (const [generation, list] of byGeneration) {
    const owners = new Map<number, string>();
    for (const j of list) {
      for (const p of j.partitions) {
        const other = owners.get(p);
        assert.ok(
          other === undefined || other === j.memberId,
          `partition ${p} owned by ${other} and ${j.memberId} in generation ${generation}`,
        );
        owners.set(p, j.memberId);
      }
    }
  }
  return byGeneration;
}

Deno.test({
  name: "kafkajs: three consumers in one group share a 6-partition topic without overlap",
  ...TEST_OPTS,
  async fn() {
    await using b = await startGroupTestBroker();
    const topic = "shared";
    const total = 600;
    await createTestTopic(b.broker, topic, 6);
    const kafka = _kafka(b.bootstrap, "t1");
    await _produce(kafka, topic, total, 6);

    const seen = new Set<string>();
    /** Second-phase messages: which consumer got which partition. */
    const late: { consumer: number; partition: number }[] = [];
    const joins: _Join[] = [];
    const consumers: Consumer[] = [];
    const start = async (i: number) => {
      const c = kafka.consumer({
        groupId: "g-shared",
        sessionTimeout: 10_000,
        rebalanceTimeout: 10_000,
        heartbeatInterval: 300,
        maxWaitTimeInMs: 200,
      });
      c.on(c.events.GROUP_JOIN, (e) => {
        // The coordinator's generation cannot move past this member's until it rejoins, so
        // reading it now names the generation this assignment belongs to.
        const generation = b.broker.groups.coordinator.describe("g-shared").generationId;
        const assigned = (e.payload.memberAssignment as Record<string, number[]>)[topic] ?? [];
        joins.push({ consumer: i, generation, memberId: e.payload.memberId, partitions: assigned });
      });
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({
        eachMessage: ({ partition, message }) => {
          seen.add(`${partition}:${message.offset}`);
          if (Number(message.value!.toString().slice(1)) >= total) {
            late.push({ consumer: i, partition });
          }
          return Promise.resolve();
        },
      });
      consumers.push(c);
    };
    await Promise.all([start(0), start(1)]);
    await waitFor(() => seen.size === total, 30_000, `all ${total} messages`);
    // A third member joining a Stable group forces a rebalance into a new generation.
    await start(2);
    // Let the group settle with all three members, then check the final generation too.
    await waitFor(
      () =>
        b.broker.groups.coordinator.describe("g-shared").members.length === 3 &&
        b.broker.groups.coordinator.describe("g-shared").state === "Stable",
      15_000,
      "a Stable group of three",
    );
    const finalGen = b.broker.groups.coordinator.describe("g-shared").generationId;
    await waitFor(
      () => joins.filter((j) => j.generation === finalGen).length === 3,
      15_000,
      "every member's GROUP_JOIN of the final generation",
    );
    // With the group settled, more messages go to the owners of the final generation only.
    await _produce(kafka, topic, total, 6, total);
    await waitFor(() => seen.size === 2 * total, 30_000, `all ${2 * total} messages`);
    await Promise.all(consumers.map((c) => c.disconnect()));

    const byGeneration = _assertNoSharedPartition(joins);
    assert.ok(byGeneration.size >= 2, `generations seen: ${[...byGeneration.keys()]}`);
    const last = byGeneration.get(finalGen)!;
    assert.deepEqual(last.flatMap((j) => j.partitions).sort(), [0, 1, 2, 3, 4, 5]);
    assert.ok(last.every((j) => j.partitions.length === 2), "6 partitions over 3 members");
    assert.equal(seen.size, 2 * total);
    for (const m of late) {
      const owner = last.find((j) => j.consumer === m.consumer)!;
      assert.ok(
        owner.partitions.includes(m.partition),
        `consumer ${m.consumer} read partition ${m.partition}`,
      );
    }
    assert.deepEqual(new Set(late.map((m) => m.consumer)), new Set([0, 1, 2]));
    // Each consumer committed what it consumed when it left.
    const admin = kafka.admin();
    await admin.connect();
    const committed = await admin.fetchOffsets({ groupId: "g-shared", topics: [topic] });
    await admin.disconnect();
    assert.deepEqual(
      committed[0]?.partitions.map((p) => p.offset),
      Array(6).fill(String(2 * total / 6)),
    );
    assert.equal(b.broker.groups.coordinator.describe("g-shared").state, "Empty");
  },
});

Deno.test({
  name: "kafkajs: committed offsets survive a broker restart and a new consumer resumes after them",
  ...TEST_OPTS,
  async fn() {
    const topic = "resume";
    const groupId = "g-resume";
    await using tmp = await tempDir("rustmq-group-");
    const dataDir = tmp.path;
    {
      await using b = await startGroupTestBroker(dataDir);
      await createTestTopic(b.broker, topic, 2);
      const kafka = _kafka(b.bootstrap, "t3a");
      await _produce(kafka, topic, 20, 2);
      const seen: string[] = [];
      const c = kafka.consumer({
        groupId,
        sessionTimeout: 10_000,
        heartbeatInterval: 300,
        maxWaitTimeInMs: 200,
      });
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({
        eachMessage: ({ message }) => {
          seen.push(message.value!.toString());
          return Promise.resolve();
        },
      });
      await waitFor(() => seen.length === 20, 20_000, "the first 20 messages");
      // kafkajs commits what it consumed when it leaves the group.
      await c.disconnect();
      const admin = kafka.admin();
      await admin.connect();
      const before = await admin.fetchOffsets({ groupId, topics: [topic] });
      await admin.disconnect();
      assert.deepEqual(before[0]?.partitions.map((p) => p.offset).sort(), ["10", "10"]);
    }
    {
      await using b = await startGroupTestBroker(dataDir);
      const kafka = _kafka(b.bootstrap, "t3b");
      const admin = kafka.admin();
      await admin.connect();
      const after = await admin.fetchOffsets({ groupId, topics: [topic] });
      const groups = await admin.listGroups();
      await admin.disconnect();
      assert.deepEqual(after[0]?.partitions.map((p) => p.offset).sort(), ["10", "10"]);
      assert.ok(groups.groups.some((g) => g.groupId === groupId), "the group is known again");

      await _produce(kafka, topic, 6, 2, 20);
      const seen: string[] = [];
      const c = kafka.consumer({
        groupId,
        sessionTimeout: 10_000,
        heartbeatInterval: 300,
        maxWaitTimeInMs: 200,
      });
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({
        eachMessage: ({ message }) => {
          seen.push(message.value!.toString());
          return Promise.resolve();
        },
      });
      await waitFor(() => seen.length >= 6, 20_000, "the 6 new messages");
      await new Promise((r) => setTimeout(r, 300));
      await c.disconnect();
      assert.deepEqual(seen.sort(), ["m20", "m21", "m22", "m23", "m24", "m25"]);
    }
  },
});
