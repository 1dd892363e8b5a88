/**
 * The SDK's group consumer against an in-process broker: three members share a 6-partition
 * topic, commits (automatic and manual) survive a restart, static members come back without a
 * rebalance, cooperative-sticky moves only what it must, and SDK and kafkajs consumers share a
 * group.
 */

import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import {
  type ConsumerRecord,
  type GroupConsumer,
  type GroupConsumerOptions,
  RustMqClient,
} from "../client/mod.ts";
import { createTestTopic, type GroupTestBroker, startGroupTestBroker } from "./group_support.ts";
import { OwnershipLog, waitUntil } from "./support/group_member_checks.ts";
import { startTestBroker as startSdkBroker } from "./sdk_broker.ts";

const TEST_OPTS = { sanitizeOps: false, sanitizeResources: false };

async function _produce(url: string, topic: string, count: number, partitions: number, from = 0) {
  const client = await RustMqClient.connect({ brokers: [url] });
  const producer = client.producer();
  await producer.sendBatch(
    Array.from({ length: count }, (_, i) => ({
      topic,
      partition: (from + i) % partitions,
      value: `m${from + i}`,
    })),
  );
  await client.close();
}

/** A member that polls in the background and logs what it owns and consumes. */
interface _Member {
  name: string;
  client: RustMqClient;
  consumer: GroupConsumer;
  records: ConsumerRecord[];
  stop(): Promise<void>;
}

async function _member(
  url: string,
  name: string,
  topic: string,
  log: OwnershipLog,
  options: Partial<GroupConsumerOptions> & { groupId: string },
): Promise<_Member> {
  const client = await RustMqClient.connect({ brokers: [url], clientId: name });
  const consumer = client.consumer({
    autoOffsetReset: "earliest",
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 300,
    maxWaitMs: 100,
    ...options,
    onRebalance: {
      assigned: (tps, ctx) => log.assigned(name, tps, ctx.generationId, ctx.assignment),
      revoked: (tps) => log.revoked(name, tps),
    },
  });
  consumer.subscribe([topic]);
  const records: ConsumerRecord[] = [];
  let running = true;
  let failure: unknown = null;
  const loop = (async () => {
    while (running) {
      try {
        for (const r of await consumer.poll({ timeoutMs: 200 })) {
          log.consumed(name, r);
          records.push(r);
        }
      } catch (error) {
        failure = error;
        return;
      }
    }
  })();
  return {
    name,
    client,
    consumer,
    records,
    async stop() {
      running = false;
      await loop;
      await consumer.close();
      await client.close();
      if (failure !== null) throw failure;
    },
  };
}

function _keys(records: readonly ConsumerRecord[]): string[] {
  return records.map((r) => `${r.partition}:${r.offset}`);
}

async function _withBroker(fn: (b: GroupTestBroker, url: string) => Promise<void>) {
  await using b = await startGroupTestBroker();
  await fn(b, `tcp://${b.bootstrap}`);
}

Deno.test({
  name: "GroupConsumer shares a 6-partition topic among three members without double ownership",
  ...TEST_OPTS,
  async fn() {
    await _withBroker(async (b, url) => {
      await createTestTopic(b.broker, "orders", 6);
      await _produce(url, "orders", 600, 6);
      const log = new OwnershipLog();
      const members: _Member[] = [];
      for (const name of ["a", "b", "c"]) {
        members.push(
          await _member(url, name, "orders", log, { groupId: "g1", autoCommitIntervalMs: 200 }),
        );
        await new Promise((r) => setTimeout(r, 300));
      }
      const all = () => new Set(members.flatMap((m) => _keys(m.records)));
      await waitUntil(() => all().size === 600, 20_000, "600 records");
      // Wait for the final generation: every member owns two partitions.
      await waitUntil(
        () =>
          ["a", "b", "c"].every((n) =>
            [...log.owners.values()].filter((o) => o === n).length === 2
          ),
        15_000,
        "a balanced assignment",
      );
      await _produce(url, "orders", 60, 6, 600);
      await waitUntil(() => all().size === 660, 10_000, "660 records");
      for (const m of members) await m.stop();
      assert.deepEqual(log.violations, []);
      assert.deepEqual(log.generationOverlaps(), []);
      // Close committed every position: the group is Empty and all offsets are at the end.
      const client = await RustMqClient.connect({ brokers: [url] });
      const admin = client.admin();
      assert.equal((await admin.describeGroup("g1")).state, "Empty");
      const offsets = await admin.fetchOffsets("g1");
      assert.deepEqual(offsets.map((o) => o.offset), [110, 110, 110, 110, 110, 110]);
      await client.close();
    });
  },
});

Deno.test({
  name: "GroupConsumer resumes from manually committed offsets after a restart",
  ...TEST_OPTS,
  async fn() {
    await _withBroker(async (b, url) => {
      await createTestTopic(b.broker, "pay", 2);
      await _produce(url, "pay", 40, 2);
      const client = await RustMqClient.connect({ brokers: [url] });
      const first = client.consumer({
        groupId: "g2",
        autoCommit: false,
        autoOffsetReset: "earliest",
        sessionTimeoutMs: 6000,
        heartbeatIntervalMs: 500,
      });
      first.subscribe(["pay"]);
      const got: ConsumerRecord[] = [];
      while (got.length < 10) {
        got.push(...await first.poll({ timeoutMs: 500, maxRecords: 10 - got.length }));
      }
      assert.equal(got.length, 10);
      // Commit exactly what was processed: the next offset after each partition's last record.
      const next = new Map<number, number>();
      for (const r of got) next.set(r.partition, r.offset + 1);
      await first.commitOffsets(
        [...next].map(([partition, offset]) => ({ topic: "pay", partition, offset })),
      );
      // Consume more without committing: they must come again after the restart.
      await first.poll({ timeoutMs: 500 });
      await first.close();
      const committed = await client.admin().fetchOffsets("g2");
      assert.deepEqual(committed.map((o) => [o.partition, o.offset]), [...next].sort());

      const second = client.consumer({
        groupId: "g2",
        autoCommit: false,
        autoOffsetReset: "latest",
        sessionTimeoutMs: 6000,
        heartbeatIntervalMs: 500,
      });
      second.subscribe(["pay"]);
      // Committed partitions resume at their offset; the others start at the end ("latest").
      const expected = [...next.values()].reduce((n, offset) => n + 20 - offset, 0);
      const again: ConsumerRecord[] = [];
      const deadline = Date.now() + 10_000;
      while (again.length < expected && Date.now() < deadline) {
        again.push(...await second.poll({ timeoutMs: 300 }));
      }
      again.push(...await second.poll({ timeoutMs: 300 }));
      assert.equal(again.length, expected);
      for (const [partition, offset] of next) {
        const first = Math.min(
          ...again.filter((r) => r.partition === partition).map((r) => r.offset),
        );
        assert.equal(first, offset, `partition ${partition} resumes at its committed offset`);
      }
      const done = Promise.withResolvers<unknown>();
      second.commitAsync(undefined, done.resolve);
      assert.equal(await done.promise, null);
      await second.close();
      // Every owned position is committed, including the partition that reset to "latest".
      const final = await client.admin().fetchOffsets("g2");
      assert.deepEqual(final.map((o) => [o.partition, o.offset]), [[0, 20], [1, 20]]);
      await client.close();
    });
  },
});

Deno.test({
  name: "GroupConsumer with a groupInstanceId rejoins after a restart without a rebalance",
  ...TEST_OPTS,
  async fn() {
    await _withBroker(async (b, url) => {
      await createTestTopic(b.broker, "static", 4);
      const log = new OwnershipLog();
      const s1 = await _member(url, "s1", "static", log, { groupId: "g3", groupInstanceId: "i1" });
      const s2 = await _member(url, "s2", "static", log, { groupId: "g3", groupInstanceId: "i2" });
      await waitUntil(
        () => log.owners.size === 4 && new Set(log.owners.values()).size === 2,
        10_000,
        "two static members",
      );
      const before = s1.consumer.generation.generationId;
      const s1Partitions = s1.consumer.assignment().map((tp) => tp.partition).sort();
      await s1.stop(); // a static member does not leave the group on close
      const log2 = new OwnershipLog();
      const again = await _member(url, "s1b", "static", log2, {
        groupId: "g3",
        groupInstanceId: "i1",
      });
      await waitUntil(
        () => log2.owners.size === 2,
        10_000,
        "the restarted static member's partitions",
      );
      assert.equal(again.consumer.generation.generationId, before);
      assert.deepEqual(again.consumer.assignment().map((tp) => tp.partition).sort(), s1Partitions);
      assert.equal(s2.consumer.generation.generationId, before);
      await again.stop();
      await s2.stop();
      assert.deepEqual(log.violations.filter((v) => !v.includes("s1b")), []);
    });
  },
});

Deno.test({
  name: "GroupConsumer with cooperative-sticky keeps partitions in place while a member joins",
  ...TEST_OPTS,
  async fn() {
    await _withBroker(async (b, url) => {
      await createTestTopic(b.broker, "coop", 6);
      await _produce(url, "coop", 300, 6);
      const log = new OwnershipLog();
      const revokedFrom: string[] = [];
      const opts = { groupId: "g4", assignors: ["cooperative-sticky"] as const };
      const a = await _member(url, "a", "coop", log, { ...opts, autoCommitIntervalMs: 200 });
      const bm = await _member(url, "b", "coop", log, { ...opts, autoCommitIntervalMs: 200 });
      await waitUntil(
        () => [...log.owners.values()].filter((o) => o === "b").length === 3,
        10_000,
        "a and b with three each",
      );
      const aBefore = a.consumer.assignment().map((tp) => tp.partition);
      const origRevoked = log.revoked.bind(log);
      log.revoked = (member, tps) => {
        revokedFrom.push(...tps.map((tp) => `${member}:${tp.partition}`));
        origRevoked(member, tps);
      };
      const c = await _member(url, "c", "coop", log, { ...opts, autoCommitIntervalMs: 200 });
      await waitUntil(
        () =>
          ["a", "b", "c"].every((n) =>
            [...log.owners.values()].filter((o) => o === n).length === 2
          ),
        15_000,
        "two partitions each",
      );
      // Only the two partitions that moved to c were revoked; a kept two of its original three.
      assert.equal(revokedFrom.length, 2, revokedFrom.join());
      const aAfter = a.consumer.assignment().map((tp) => tp.partition);
      assert.ok(aAfter.every((p) => aBefore.includes(p)));
      const all = () => new Set([a, bm, c].flatMap((m) => _keys(m.records)));
      await waitUntil(() => all().size === 300, 10_000, "300 records");
      for (const m of [a, bm, c]) await m.stop();
      assert.deepEqual(log.violations, []);
      assert.deepEqual(log.generationOverlaps(), []);
    });
  },
});

Deno.test({
  name: "GroupConsumer and kafkajs consumers share one group through RoundRobinAssigner",
  ...TEST_OPTS,
  async fn() {
    await _withBroker(async (b, url) => {
      await createTestTopic(b.broker, "mixed", 6);
      await _produce(url, "mixed", 300, 6);
      const log = new OwnershipLog();
      // kafkajs joins first, so it leads (and assigns) while it is in the group.
      const kafka = new Kafka({
        clientId: "kjs",
        brokers: [b.bootstrap],
        logLevel: logLevel.NOTHING,
      });
      const kjs = kafka.consumer({
        groupId: "g5",
        sessionTimeout: 6000,
        heartbeatInterval: 300,
        maxWaitTimeInMs: 100,
      });
      const kjsRecords: string[] = [];
      let kjsJoin = { memberId: "", isLeader: false };
      kjs.on(kjs.events.GROUP_JOIN, (e) => {
        kjsJoin = { memberId: e.payload.memberId, isLeader: e.payload.isLeader };
      });
      await kjs.connect();
      await kjs.subscribe({ topics: ["mixed"], fromBeginning: true });
      await kjs.run({
        eachMessage: ({ partition, message }) => {
          kjsRecords.push(`${partition}:${message.offset}`);
          return Promise.resolve();
        },
      });
      await waitUntil(() => kjsJoin.memberId !== "", 10_000, "kafkajs to join");
      const opts = { groupId: "g5", autoCommitIntervalMs: 200 };
      const sdk1 = await _member(url, "sdk1", "mixed", log, opts);
      const sdk2 = await _member(url, "sdk2", "mixed", log, opts);
      const seen = () =>
        new Set(
          [...kjsRecords, ...sdk1.records, ...sdk2.records].map((r) =>
            typeof r === "string" ? r : `${r.partition}:${r.offset}`
          ),
        );
      await waitUntil(() => seen().size === 300, 20_000, "300 records");
      await waitUntil(
        () => log.owners.size === 4 && new Set(log.owners.values()).size === 2,
        15_000,
        "the SDK members to own two partitions each",
      );
      const admin = sdk1.client.admin();
      const desc = await admin.describeGroup("g5");
      assert.equal(desc.state, "Stable");
      assert.equal(desc.protocol, "RoundRobinAssigner");
      assert.equal(desc.members.length, 3);
      assert.ok(kjsJoin.isLeader, "kafkajs led the three-member generation");
      assert.ok(desc.members.some((m) => m.memberId === kjsJoin.memberId));
      // The coordinator's view of this generation: six partitions, one owner each.
      const owned = desc.members.flatMap((m) => m.assignment.map((tp) => tp.partition));
      assert.deepEqual(owned.sort(), [0, 1, 2, 3, 4, 5]);
      assert.ok(desc.members.every((m) => m.assignment.length === 2));

      // kafkajs leaves: an SDK member now leads and hands its partitions to the SDK members.
      await kjs.disconnect();
      await _produce(url, "mixed", 60, 6, 300);
      await waitUntil(() => seen().size === 360, 20_000, "360 records");
      await waitUntil(() => log.owners.size === 6, 10_000, "the SDK members to own everything");
      const after = await admin.describeGroup("g5");
      assert.equal(after.members.length, 2);
      assert.deepEqual(after.members.map((m) => m.assignment.length), [3, 3]);
      await sdk1.stop();
      await sdk2.stop();
      assert.deepEqual(log.generationOverlaps(), []);
      assert.deepEqual(log.violations, []);
    });
  },
});

Deno.test({
  name: "GroupConsumer joins, consumes and commits over QUIC",
  ...TEST_OPTS,
  async fn() {
    const broker = await startSdkBroker();
    try {
      const client = await RustMqClient.connect({
        brokers: [broker.quicUrl],
        tls: { caCerts: [broker.caPem] },
      });
      await client.admin().createTopic("q", 2);
      const producer = client.producer();
      await producer.sendBatch(
        [0, 1, 2, 3].map((i) => ({ topic: "q", partition: i % 2, value: `${i}` })),
      );
      const consumer = client.consumer({
        groupId: "gq",
        autoOffsetReset: "earliest",
        sessionTimeoutMs: 6000,
        heartbeatIntervalMs: 500,
      });
      consumer.subscribe(["q"]);
      const got: ConsumerRecord[] = [];
      const deadline = Date.now() + 15_000;
      while (got.length < 4 && Date.now() < deadline) {
        got.push(...await consumer.poll({ timeoutMs: 500 }));
      }
      assert.equal(got.length, 4);
      await consumer.close();
      assert.deepEqual((await client.admin().fetchOffsets("gq")).map((o) => o.offset), [2, 2]);
      await client.close();
    } finally {
      await broker.close();
    }
  },
});
