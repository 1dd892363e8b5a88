import assert from "node:assert/strict";
import { TopicExistsError, UnknownTopicError } from "../../model/cluster_metadata.ts";
import { LocalMetadata, type MetadataPersistence } from "./local_metadata.ts";
import type { InvalidTopicError } from "../../model/topic_config.ts";

function memoryStore(): MetadataPersistence & { text: string | null; saves: number } {
  const s = {
    text: null as string | null,
    saves: 0,
    load: () => Promise.resolve(s.text),
    save: (t: string) => {
      s.text = t;
      s.saves++;
      return Promise.resolve();
    },
  };
  return s;
}

const self = { nodeId: 1, host: "127.0.0.1", port: 9092, rack: null };
let n = 0;
const randomId = () => (n++).toString(16).padStart(32, "0");

Deno.test("LocalMetadata creates, persists and reloads topics", async () => {
  const store = memoryStore();
  const m = await LocalMetadata.open(self, store, { randomId });
  const changes: string[][] = [];
  m.onChange((t) => changes.push([...t]));
  const t = await m.createTopic("orders", 3, 1, { "retention.ms": "1000" });
  assert.equal(t.partitions.length, 3);
  assert.equal(t.config["retention.ms"], 1000);
  assert.deepEqual(t.partitions[2], {
    partition: 2,
    leader: 1,
    leaderEpoch: 0,
    replicas: [1],
    isr: [1],
  });
  await m.createPartitions("orders", 5);
  assert.deepEqual(changes, [["orders"], ["orders"]]);

  const reopened = await LocalMetadata.open(self, store, { randomId });
  assert.equal(reopened.topic("orders")?.partitions.length, 5);
  assert.equal(reopened.topic("orders")?.topicId, t.topicId);
});

Deno.test("LocalMetadata rejects bad names, duplicates, RF > 1, shrinking and unknown configs", async () => {
  const m = await LocalMetadata.open(self, memoryStore(), { randomId });
  await m.createTopic("a", 1, 1);
  await assert.rejects(() => m.createTopic("a", 1, 1), TopicExistsError);
  await assert.rejects(
    () => m.createTopic("a b", 1, 1),
    (e: InvalidTopicError) => e.code === "INVALID_TOPIC_EXCEPTION",
  );
  await assert.rejects(
    () => m.createTopic("b", 1, 3),
    (e: InvalidTopicError) => e.code === "INVALID_REPLICATION_FACTOR",
  );
  await assert.rejects(
    () => m.createTopic("c", 0, 1),
    (e: InvalidTopicError) => e.code === "INVALID_PARTITIONS",
  );
  await assert.rejects(
    () => m.createTopic("d", 1, 1, { "retention.mss": "1" }),
    (e: InvalidTopicError) => e.code === "INVALID_CONFIG",
  );
  await assert.rejects(
    () => m.createPartitions("a", 1),
    (e: InvalidTopicError) => e.code === "INVALID_PARTITIONS",
  );
  await assert.rejects(() => m.deleteTopic("zzz"), UnknownTopicError);
  await m.deleteTopic("a");
  assert.equal(m.topic("a"), undefined);
});

Deno.test("LocalMetadata allocates unique producer ids across restarts, persisting once per block", async () => {
  const store = memoryStore();
  const m = await LocalMetadata.open(self, store, { randomId });
  const ids = new Set<bigint>();
  for (let i = 0; i < 1500; i++) ids.add(await m.allocateProducerId());
  assert.equal(store.saves, 3, "one save for the new cluster id, then one per block of 1000 ids");
  const m2 = await LocalMetadata.open(self, store, { randomId });
  for (let i = 0; i < 10; i++) ids.add(await m2.allocateProducerId());
  assert.equal(ids.size, 1510);
});
