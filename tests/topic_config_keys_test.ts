/**
 * Every Kafka topic config key through kafkajs (CreateTopics, AlterConfigs, DescribeConfigs),
 * the keys with no effect here described as inert, unknown keys named with the nearest known
 * one, and `compression.type` recompressing what a producer sends.
 */

import assert from "node:assert/strict";
import { CompressionTypes, ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import { startTestBroker } from "./support/in_process_broker.ts";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { ApiKey } from "../protocol/kafka/api_keys.ts";
import * as m from "../protocol/kafka/messages/mod.ts";
import {
  batchCompression,
  readBatchHeader,
  splitBatches,
} from "../protocol/record/record_batch.ts";

const TOPIC = ConfigResourceTypes.TOPIC;

/** Kafka 3.9's topic configs (TopicConfig and LogConfig), with values a user might set. */
const KAFKA_TOPIC_CONFIGS: Record<string, string> = {
  "cleanup.policy": "compact,delete",
  "compression.type": "lz4",
  "compression.gzip.level": "6",
  "compression.lz4.level": "9",
  "compression.zstd.level": "3",
  "delete.retention.ms": "86400000",
  "file.delete.delay.ms": "60000",
  "flush.messages": "9223372036854775807",
  "flush.ms": "9223372036854775807",
  "follower.replication.throttled.replicas": "0:1,1:2",
  "index.interval.bytes": "4096",
  "leader.replication.throttled.replicas": "*",
  "local.retention.bytes": "-2",
  "local.retention.ms": "-2",
  "max.compaction.lag.ms": "604800000",
  "max.message.bytes": "1048588",
  "message.downconversion.enable": "true",
  "message.format.version": "3.0-IV1",
  "message.timestamp.after.max.ms": "3600000",
  "message.timestamp.before.max.ms": "9223372036854775807",
  "message.timestamp.difference.max.ms": "9223372036854775807",
  "message.timestamp.type": "CreateTime",
  "min.cleanable.dirty.ratio": "0.25",
  "min.compaction.lag.ms": "1000",
  "min.insync.replicas": "1",
  "preallocate": "false",
  "remote.log.copy.disable": "false",
  "remote.log.delete.on.disable": "false",
  "remote.storage.enable": "false",
  "retention.bytes": "-1",
  "retention.ms": "604800000",
  "segment.bytes": "52428800",
  "segment.index.bytes": "10485760",
  "segment.jitter.ms": "0",
  "segment.ms": "3600000",
  "unclean.leader.election.enable": "false",
};

Deno.test({
  name: "every Kafka topic config key is accepted by CreateTopics and AlterConfigs",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using tb = await startTestBroker();
    const kafka = new Kafka({
      brokers: [`127.0.0.1:${tb.port}`],
      clientId: "config-keys-test",
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    const describe = async (topic: string) => {
      const r = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: TOPIC, name: topic }],
      });
      const entries = r.resources[0]!.configEntries;
      // RustMQ's own keys (the ETL chain, rustmq.etl.*) are described beside Kafka's, at their
      // defaults here; the comparison is over Kafka's.
      const own = entries.filter((e) => e.configName.startsWith("rustmq."));
      assert.deepEqual(
        Object.fromEntries(own.map((e) => [e.configName, e.configValue])),
        {
          "rustmq.etl.dead.letter.topic": "",
          "rustmq.etl.modules": "",
          "rustmq.etl.on.failure": "reject",
        },
      );
      return Object.fromEntries(
        entries.filter((e) => !e.configName.startsWith("rustmq."))
          .map((e) => [e.configName, e.configValue]),
      );
    };
    try {
      await t.step("CreateTopics takes every key and DescribeConfigs gives each back", async () => {
        await admin.createTopics({
          topics: [{
            topic: "all-keys",
            numPartitions: 1,
            configEntries: Object.entries(KAFKA_TOPIC_CONFIGS).map(([name, value]) => ({
              name,
              value,
            })),
          }],
        });
        assert.deepEqual(await describe("all-keys"), KAFKA_TOPIC_CONFIGS);
      });

      await t.step("AlterConfigs takes every key too", async () => {
        const altered = {
          ...KAFKA_TOPIC_CONFIGS,
          "cleanup.policy": "delete",
          "segment.bytes": "1073741824",
          "compression.type": "producer",
        };
        await admin.alterConfigs({
          validateOnly: false,
          resources: [{
            type: TOPIC,
            name: "all-keys",
            configEntries: Object.entries(altered).map(([name, value]) => ({ name, value })),
          }],
        });
        assert.deepEqual(await describe("all-keys"), altered);
      });

      await t.step("an unknown key is refused, naming the nearest known one", async () => {
        await assert.rejects(
          admin.createTopics({
            topics: [{ topic: "typo", configEntries: [{ name: "segment.byte", value: "1" }] }],
          }),
          // kafkajs reports the code per topic; the raw frame below checks the message.
          (e: Error & { errors?: { type?: string }[] }) => e.errors?.[0]?.type === "INVALID_CONFIG",
        );
        assert.equal((await admin.listTopics()).includes("typo"), false);
        // The broker's own words, as kafka-topics.sh would print them.
        await using raw = await RawKafkaClient.connect(tb.port);
        const res = await raw.request(
          ApiKey.CreateTopics,
          7,
          (w) =>
            m.encodeCreateTopicsRequest(w, {
              ...m.createCreateTopicsRequest(),
              timeoutMs: 5000,
              topics: [{
                ...m.createCreateTopicsRequestCreatableTopic(),
                name: "typo",
                numPartitions: 1,
                replicationFactor: 1,
                configs: [{ name: "retention.msec", value: "1" }],
              }],
            }, 7),
          m.decodeCreateTopicsResponse,
        );
        assert.match(
          res.topics[0]!.errorMessage!,
          /unknown topic config key; the nearest known key is 'retention\.ms'/,
        );
      });

      await t.step("DescribeConfigs v4 says which keys are inert and why", async () => {
        await using raw = await RawKafkaClient.connect(tb.port);
        const res = await raw.request(
          ApiKey.DescribeConfigs,
          4,
          (w) =>
            m.encodeDescribeConfigsRequest(w, {
              ...m.createDescribeConfigsRequest(),
              resources: [{
                resourceType: TOPIC,
                resourceName: "all-keys",
                configurationKeys: null,
              }],
            }, 4),
          m.decodeDescribeConfigsResponse,
        );
        const docs = new Map(res.results[0]!.configs.map((c) => [c.name, c.documentation]));
        for (const key of ["segment.bytes", "segment.ms", "flush.messages"]) {
          assert.match(docs.get(key) ?? "", /^inert: /, key);
        }
        for (const key of ["compression.type", "cleanup.policy", "min.compaction.lag.ms"]) {
          assert.equal(docs.get(key), null, `${key} is applied`);
        }
      });

      await t.step("compression.type recompresses a producer's batches", async () => {
        await admin.createTopics({
          topics: [{
            topic: "gz",
            numPartitions: 1,
            configEntries: [{ name: "compression.type", value: "gzip" }],
          }],
        });
        const producer = kafka.producer();
        await producer.connect();
        await producer.send({
          topic: "gz",
          compression: CompressionTypes.None,
          messages: [{ value: "a".repeat(500) }, { value: "b" }],
        });
        await producer.disconnect();
        const [stored] = (await tb.broker.partitions.read("gz", 0, 0, 1 << 20)).batches;
        const batches = [...splitBatches(stored!)];
        assert.equal(batchCompression(readBatchHeader(batches[0]!)), "gzip");
        // A consumer still reads the records as sent.
        const consumer = kafka.consumer({ groupId: "gz-reader" });
        await consumer.connect();
        await consumer.subscribe({ topic: "gz", fromBeginning: true });
        const seen: string[] = [];
        await new Promise<void>((resolve) => {
          consumer.run({
            eachMessage: ({ message }) => {
              seen.push(message.value!.toString());
              if (seen.length === 2) resolve();
              return Promise.resolve();
            },
          });
        });
        await consumer.disconnect();
        assert.deepEqual(seen, ["a".repeat(500), "b"]);
      });
    } finally {
      await admin.disconnect();
    }
  },
});

Deno.test({
  name: "cleanup.policy=compact,delete compacts and deletes by time; compact alone keeps old keys",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using tb = await startTestBroker(
      "[wal]\nupload_interval_ms = 100\n[object_storage]\ncompaction_threshold_bytes = 1048576",
    );
    const kafka = new Kafka({
      brokers: [`127.0.0.1:${tb.port}`],
      clientId: "policy-test",
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    const producer = kafka.producer();
    await admin.connect();
    await producer.connect();
    try {
      const configs = (policy: string) => [
        { name: "cleanup.policy", value: policy },
        { name: "retention.ms", value: "3600000" },
      ];
      await admin.createTopics({
        topics: [
          { topic: "both", numPartitions: 1, configEntries: configs("delete,compact") },
          { topic: "compact-only", numPartitions: 1, configEntries: configs("compact") },
        ],
      });
      // Two hours old: past retention.ms, so only a topic with `delete` drops them.
      const old = String(Date.now() - 2 * 3_600_000);
      for (const topic of ["both", "compact-only"]) {
        for (let i = 0; i < 10; i++) {
          await producer.send({
            topic,
            messages: [0, 1, 2].map((j) => ({ key: `k${j}`, value: `v${i}`, timestamp: old })),
          });
        }
      }
      const deadline = Date.now() + 20_000;
      while (!tb.broker.tier.allUploaded()) {
        assert.ok(Date.now() < deadline, "uploads finished");
        await new Promise((r) => setTimeout(r, 25));
      }
      await tb.broker.tier.maintainNow();
      await tb.broker.tier.maintainNow();
      const start = (t: string) => tb.broker.partitions.get(t, 0)!.log.logStartOffset;
      assert.ok(start("both") > 0, "delete: retention moved the log start");
      assert.equal(start("compact-only"), 0, "compact alone: no time retention");
      assert.ok(tb.broker.tier.maintenance.stats.recordsCleaned > 0, "compact: keys were cleaned");
    } finally {
      await producer.disconnect();
      await admin.disconnect();
    }
  },
});
