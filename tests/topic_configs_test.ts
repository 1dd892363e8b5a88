/**
 * Topic configs over the Kafka protocol: DescribeConfigs, AlterConfigs (kafkajs, which replaces
 * the whole set) and IncrementalAlterConfigs (our SDK, and raw frames for what it does not send),
 * with per-resource errors and changes that take effect on the next produce.
 */

import assert from "node:assert/strict";
import { ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import { startTestBroker } from "./support/in_process_broker.ts";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { RustMqClient } from "../client/client.ts";
import { BrokerError, MessageTooLargeError } from "../client/errors.ts";
import { ApiKey } from "../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../protocol/kafka/errors.ts";
import {
  decodeIncrementalAlterConfigsResponse,
  encodeIncrementalAlterConfigsRequest,
  type IncrementalAlterConfigsResponse,
} from "../protocol/kafka/messages/mod.ts";

const TOPIC = ConfigResourceTypes.TOPIC;

Deno.test({
  name: "topic configs can be described and altered over the Kafka protocol",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using tb = await startTestBroker();
    const kafka = new Kafka({
      brokers: [`127.0.0.1:${tb.port}`],
      clientId: "configs-test",
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    const client = await RustMqClient.connect({
      brokers: [`tcp://127.0.0.1:${tb.port}`],
      allowAutoTopicCreation: false,
      retryBackoffMs: 20,
    });
    await using raw = await RawKafkaClient.connect(tb.port);
    const describe = async (topic: string) => {
      const r = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: TOPIC, name: topic }],
      });
      const entries = r.resources[0]!.configEntries;
      return Object.fromEntries(entries.map((e) => [e.configName, e.configValue]));
    };
    try {
      await admin.createTopics({
        topics: [{
          topic: "tuned",
          numPartitions: 1,
          configEntries: [{ name: "max.message.bytes", value: "500000" }],
        }],
      });

      await t.step("DescribeConfigs lists every topic config", async () => {
        const c = await describe("tuned");
        assert.equal(c["max.message.bytes"], "500000");
        assert.equal(c["retention.ms"], "604800000");
        assert.equal(c["cleanup.policy"], "delete");
      });

      await t.step("AlterConfigs (kafkajs) replaces the whole set", async () => {
        await admin.alterConfigs({
          validateOnly: false,
          resources: [{
            type: TOPIC,
            name: "tuned",
            configEntries: [{ name: "retention.ms", value: "3600000" }],
          }],
        });
        const c = await describe("tuned");
        assert.equal(c["retention.ms"], "3600000");
        assert.equal(c["max.message.bytes"], "1048588", "a key not named goes back to its default");
      });

      await t.step("validateOnly checks without changing", async () => {
        await admin.alterConfigs({
          validateOnly: true,
          resources: [{
            type: TOPIC,
            name: "tuned",
            configEntries: [{ name: "retention.ms", value: "1000" }],
          }],
        });
        assert.equal((await describe("tuned"))["retention.ms"], "3600000");
      });

      await t.step("a bad value or an unknown topic fails that resource only", async () => {
        await assert.rejects(
          admin.alterConfigs({
            validateOnly: false,
            resources: [{
              type: TOPIC,
              name: "tuned",
              configEntries: [{ name: "retention.ms", value: "soon" }],
            }],
          }),
          // kafkajs reports the code's name; our SDK test below checks the broker's message.
          (e: Error & { type?: string }) => e.type === "INVALID_CONFIG",
        );
        assert.equal((await describe("tuned"))["retention.ms"], "3600000", "nothing changed");
        await assert.rejects(
          admin.alterConfigs({
            validateOnly: false,
            resources: [{
              type: TOPIC,
              name: "missing",
              configEntries: [{ name: "retention.ms", value: "1" }],
            }],
          }),
          (e: Error & { type?: string }) => e.type === "UNKNOWN_TOPIC_OR_PARTITION",
        );
      });

      await t.step("IncrementalAlterConfigs (SDK) sets and deletes keys", async () => {
        const sdk = client.admin();
        await sdk.alterTopicConfigs("tuned", { "max.message.bytes": "2000" });
        let c = await describe("tuned");
        assert.equal(c["max.message.bytes"], "2000");
        assert.equal(c["retention.ms"], "3600000", "keys not named keep their values");
        // The new limit holds for the next produce.
        const producer = client.producer({ maxInFlight: 1 });
        await assert.rejects(
          producer.send({ topic: "tuned", value: new Uint8Array(5000) }),
          (e: unknown) => e instanceof MessageTooLargeError,
        );
        await sdk.alterTopicConfigs("tuned", { "max.message.bytes": null });
        c = await describe("tuned");
        assert.equal(c["max.message.bytes"], "1048588", "null puts the default back");
        const sent = await producer.send({ topic: "tuned", value: new Uint8Array(5000) });
        assert.equal(sent.partition, 0);
        await producer.close();
        await assert.rejects(
          sdk.alterTopicConfigs("tuned", { "retention.mss": "1" }),
          (e: unknown) =>
            e instanceof BrokerError && e.code === "INVALID_CONFIG" &&
            /retention\.mss/.test(e.message),
        );
      });

      await t.step(
        "APPEND, broker resources and unknown types are refused per resource",
        async () => {
          const res = await raw.request<IncrementalAlterConfigsResponse>(
            ApiKey.IncrementalAlterConfigs,
            1,
            (w) =>
              encodeIncrementalAlterConfigsRequest(w, {
                validateOnly: false,
                resources: [
                  {
                    resourceType: TOPIC,
                    resourceName: "tuned",
                    // retention.ms is not a list, so APPEND has no meaning for it.
                    configs: [{ name: "retention.ms", configOperation: 2, value: "1" }],
                  },
                  {
                    resourceType: 4,
                    resourceName: "0",
                    configs: [{ name: "log.retention.ms", configOperation: 0, value: "1" }],
                  },
                  { resourceType: 99, resourceName: "x", configs: [] },
                  {
                    resourceType: TOPIC,
                    resourceName: "tuned",
                    configs: [{ name: "cleanup.policy", configOperation: 0, value: "compact" }],
                  },
                ],
              }, 1),
            decodeIncrementalAlterConfigsResponse,
          );
          assert.deepEqual(
            res.responses.map((r) => r.errorCode),
            [
              ErrorCode.INVALID_CONFIG,
              ErrorCode.INVALID_REQUEST,
              ErrorCode.INVALID_REQUEST,
              ErrorCode.NONE,
            ],
          );
          assert.match(res.responses[0]!.errorMessage!, /APPEND/);
          // Broker resources are dynamic broker configs (tests/dynamic_config_test.ts); this
          // broker is 1, so broker 0's are not its to change.
          assert.match(res.responses[1]!.errorMessage!, /is not this broker/);
          assert.equal((await describe("tuned"))["cleanup.policy"], "compact");
        },
      );
    } finally {
      await client.close();
      await admin.disconnect();
    }
  },
});
