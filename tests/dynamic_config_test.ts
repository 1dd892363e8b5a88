/**
 * Dynamic broker configuration on a real standalone process: kafkajs describeConfigs and
 * alterConfigs on the BROKER resource, `PUT /api/v1/brokers/:id/config`, SIGHUP re-reading the
 * file, overrides surviving a restart, and `operations.allow_runtime_config_updates = false`.
 */

import assert from "node:assert/strict";
import { ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import { startStandalone } from "./support/standalone_process.ts";
import { tempDir } from "./support/temp_dir.ts";
import { BROKER_SCHEMA } from "../config/schema.ts";

const BROKER = ConfigResourceTypes.BROKER;

async function _admin(bootstrap: string) {
  const kafka = new Kafka({ brokers: [bootstrap], clientId: "dyn", logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const describe = async (names?: string[]) => {
    const r = await admin.describeConfigs({
      includeSynonyms: true,
      resources: [{ type: BROKER, name: "1", ...(names ? { configNames: names } : {}) }],
    });
    return new Map(r.resources[0]!.configEntries.map((e) => [e.configName, e]));
  };
  return { kafka, admin, describe };
}

async function _waitFor(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test({
  name: "dynamic broker config: kafkajs, REST, SIGHUP, restart, and the off switch",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using dir = await tempDir("rustmq-dyn-");
    const dataDir = `${dir.path}/data`;
    let sa = await startStandalone({ dataDir });
    const http = () => `http://127.0.0.1:${sa.httpPort}/api/v1/brokers/1/config`;
    let { admin, describe } = await _admin(sa.bootstrap);
    try {
      await t.step("DescribeConfigs lists every broker.toml key with its source", async () => {
        const all = await describe();
        const keys = Object.values(BROKER_SCHEMA).reduce((n, s) => n + Object.keys(s).length, 0);
        assert.equal(all.size, keys);
        assert.equal(all.get("num.partitions")!.configValue, "1");
        assert.equal(all.get("num.partitions")!.configSource, 5, "DEFAULT_CONFIG");
        assert.equal(all.get("num.partitions")!.readOnly, false);
        // standalone's embedded defaults set min ISR 1 over the schema's 2.
        const isr = all.get("min.insync.replicas")!;
        assert.equal(isr.configValue, "1");
        assert.equal(isr.configSource, 4, "STATIC_BROKER_CONFIG");
        assert.deepEqual(isr.configSynonyms.map((s) => [s.configValue, s.configSource]), [
          ["1", 4],
          ["2", 5],
        ]);
        assert.equal(all.get("wal.segment_size_bytes")!.readOnly, true);
        assert.equal(all.get("object_storage.secret_key")!.configValue, null, "sensitive");
        for (const [section, keys] of Object.entries(BROKER_SCHEMA)) {
          for (const [key, spec] of Object.entries(keys)) {
            if (!(spec as { dynamic?: boolean }).dynamic) continue;
            const e = [...all.values()].find((x) =>
              x.configName === `${section}.${key}` ||
              _kafkaKey(x.configName) === `${section}.${key}`
            );
            assert.ok(e, `${section}.${key} is described`);
            assert.equal(e.readOnly, false, `${section}.${key} is dynamic and applied`);
          }
        }
      });

      await t.step(
        "alterConfigs changes num.partitions, and auto-created topics follow",
        async () => {
          await admin.alterConfigs({
            validateOnly: false,
            resources: [{
              type: BROKER,
              name: "1",
              configEntries: [{ name: "num.partitions", value: "3" }],
            }],
          });
          const e = (await describe(["num.partitions"])).get("num.partitions")!;
          assert.equal(e.configValue, "3");
          assert.equal(e.configSource, 2, "DYNAMIC_BROKER_CONFIG");
          // A metadata request for an unknown topic auto-creates it with the broker's default.
          const kafka = new Kafka({
            brokers: [sa.bootstrap],
            clientId: "p",
            logLevel: logLevel.NOTHING,
          });
          const producer = kafka.producer({ allowAutoTopicCreation: true });
          await producer.connect();
          await producer.send({ topic: "after-alter", messages: [{ value: "x" }] });
          await producer.disconnect();
          const md = await admin.fetchTopicMetadata({ topics: ["after-alter"] });
          assert.equal(md.topics[0]!.partitions.length, 3);
        },
      );

      await t.step("a static key is refused over Kafka and REST, naming the key", async () => {
        await assert.rejects(
          admin.alterConfigs({
            validateOnly: false,
            resources: [{
              type: BROKER,
              name: "1",
              configEntries: [{ name: "log.dirs", value: "/x" }],
            }],
          }),
          (e: Error & { type?: string }) => e.type === "INVALID_CONFIG",
        );
        const res = await fetch(http(), {
          method: "PUT",
          body: JSON.stringify({ configs: { "wal.segment_size_bytes": 1048576 } }),
        });
        assert.equal(res.status, 400);
        const body = await res.json();
        assert.match(body.error.message, /'wal\.segment_size_bytes' at runtime as it is static/);
      });

      await t.step("PUT /api/v1/brokers/1/config sets, checks and removes overrides", async () => {
        let res = await fetch(http(), {
          method: "PUT",
          body: JSON.stringify({ configs: { "cache.read_cache_size_bytes": 1048576 } }),
        });
        assert.equal(res.status, 200, await res.clone().text());
        const put = await res.json();
        assert.deepEqual(put.changed, ["cache.read_cache_size_bytes"]);
        assert.equal(put.configs[0].source, "DYNAMIC_BROKER_CONFIG");
        // min ISR above the default replication factor (1 here) is a contradiction.
        res = await fetch(http(), {
          method: "PUT",
          body: JSON.stringify({ configs: { "min.insync.replicas": "2" } }),
        });
        assert.equal(res.status, 400);
        assert.match((await res.json()).error.message, /min_in_sync_replicas/);
        res = await fetch(http(), {
          method: "PUT",
          body: JSON.stringify({ configs: { "cache.read_cache_size_bytes": null } }),
        });
        assert.equal(res.status, 200);
        const get = await (await fetch(http())).json();
        const c = get.configs.find((x: { key: string }) => x.key === "cache.read_cache_size_bytes");
        assert.equal(c.source, "STATIC_BROKER_CONFIG");
        const other = await fetch(http().replace("/brokers/1/", "/brokers/7/"));
        assert.equal(other.status, 404);
        await other.body?.cancel();
      });

      await t.step(
        "SIGHUP re-reads the file: dynamic keys change, static ones are named",
        async () => {
          const text = await Deno.readTextFile(sa.configPath);
          await Deno.writeTextFile(
            sa.configPath,
            text + "[broker]\nlog_retention_ms = 1000\n[wal]\nflush_interval_ms = 7\n",
          );
          sa.signal("SIGHUP");
          await _waitFor("the re-read", async () => {
            const e = (await describe(["log.retention.ms"])).get("log.retention.ms")!;
            return e.configValue === "1000" && e.configSource === 4;
          });
          await _waitFor(
            "the static-key warning",
            () =>
              /Cannot apply wal\.flush_interval_ms from the re-read file as it is static/.test(
                sa.stderr(),
              ),
          );
          assert.equal(
            (await describe(["wal.flush_interval_ms"])).get("wal.flush_interval_ms")!.configValue,
            "1000",
            "the static key keeps its running value",
          );
          // The new default reaches topics created through the broker.
          await admin.createTopics({ topics: [{ topic: "after-hup", numPartitions: 1 }] });
          const r = await admin.describeConfigs({
            includeSynonyms: false,
            resources: [{ type: ConfigResourceTypes.TOPIC, name: "after-hup" }],
          });
          const ret = r.resources[0]!.configEntries.find((e) => e.configName === "retention.ms");
          assert.equal(ret!.configValue, "1000");
        },
      );

      await t.step("overrides survive a restart; the off switch refuses changes", async () => {
        await admin.disconnect();
        await sa.stop();
        sa = await startStandalone({ dataDir, config: "" });
        ({ admin, describe } = await _admin(sa.bootstrap));
        assert.equal((await describe(["num.partitions"])).get("num.partitions")!.configValue, "3");
        await admin.disconnect();
        await sa.stop();
        sa = await startStandalone({
          dataDir,
          config: "[operations]\nallow_runtime_config_updates = false\n",
        });
        ({ admin, describe } = await _admin(sa.bootstrap));
        assert.equal(
          (await describe(["num.partitions"])).get("num.partitions")!.configValue,
          "1",
          "saved overrides are ignored while runtime updates are off",
        );
        await assert.rejects(
          admin.alterConfigs({
            validateOnly: false,
            resources: [{
              type: BROKER,
              name: "1",
              configEntries: [{ name: "num.partitions", value: "4" }],
            }],
          }),
          (e: Error & { type?: string }) => e.type === "POLICY_VIOLATION",
        );
        const res = await fetch(http(), {
          method: "PUT",
          body: JSON.stringify({ configs: { "num.partitions": "4" } }),
        });
        assert.equal(res.status, 403);
        assert.match((await res.json()).error.message, /allow_runtime_config_updates is false/);
      });
    } finally {
      await admin.disconnect().catch(() => {});
      await sa.stop();
      await Deno.remove(`${dataDir}.toml`).catch(() => {});
    }
  },
});

const _KAFKA: Record<string, string> = {
  "num.partitions": "broker.num_partitions",
  "auto.create.topics.enable": "broker.auto_create_topics",
  "log.retention.ms": "broker.log_retention_ms",
  "message.max.bytes": "broker.message_max_bytes",
  "log.message.downconversion.enable": "broker.message_downconversion_enable",
  "min.insync.replicas": "replication.min_in_sync_replicas",
  "default.replication.factor": "replication.default_replication_factor",
};

function _kafkaKey(name: string): string | undefined {
  return _KAFKA[name];
}
