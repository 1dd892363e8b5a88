/**
 * `cleanup.policy=compact` end to end: keyed updates go to object storage, the maintenance pass
 * keeps each key's last record (and fresh tombstones), and kcat (librdkafka), kafkajs and our
 * SDK all read the compacted log from the start to its end at the original offsets.
 */

import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { startTestBroker } from "./support/in_process_broker.ts";
import { RustMqClient } from "../client/client.ts";
import { tempDir } from "./support/temp_dir.ts";

const CONFIG = [
  "[wal]",
  "upload_interval_ms = 100",
  "[object_storage]",
  "upload_bytes_target = 65536",
  // Small uploads are split into per-partition objects, which key compaction rewrites.
  "compaction_threshold_bytes = 1048576",
].join("\n");

interface Rec {
  offset: number;
  key: string | null;
  value: string | null;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function kcat(args: string[]): Promise<string> {
  const out = await new Deno.Command("kcat", { args, stdout: "piped", stderr: "piped" }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test({
  name: "a compacted topic keeps each key's last value, read by kcat, kafkajs and the SDK",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using tb = await startTestBroker(CONFIG);
    const bootstrap = `127.0.0.1:${tb.port}`;
    const kafka = new Kafka({
      brokers: [bootstrap],
      clientId: "compaction",
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    const producer = kafka.producer();
    await admin.connect();
    await producer.connect();
    const sent: Rec[] = [];
    try {
      await admin.createTopics({
        topics: [{
          topic: "table",
          numPartitions: 1,
          configEntries: [{ name: "cleanup.policy", value: "compact" }],
        }],
      });
      // 600 updates of 20 keys in batches of 6, a keyless record now and then, and key-7
      // deleted at the end (its tombstone is fresh, so it stays).
      for (let i = 0; i < 100; i++) {
        const messages = Array.from({ length: 6 }, (_, j) => {
          const n = i * 6 + j;
          const key = n % 50 === 13 ? null : `key-${n % 20}`;
          const value = key === "key-7" && i === 99 ? null : `value-${n}`;
          return { key, value };
        });
        const [meta] = await producer.send({ topic: "table", messages });
        const base = Number(meta!.baseOffset);
        messages.forEach((m, j) => sent.push({ offset: base + j, ...m }));
      }
      const end = sent.length;
      await waitFor("everything to be uploaded", () => tb.broker.tier.allUploaded());
      await tb.broker.tier.maintainNow(); // splits mixed uploads into per-partition objects
      await tb.broker.tier.maintainNow(); // compacts the partition by key
      assert.ok(tb.broker.tier.maintenance.stats.recordsCleaned > 0, "records were cleaned");

      const last = new Map<string, number>();
      for (const s of sent) if (s.key !== null) last.set(s.key, s.offset);
      const expected = sent.filter((s) => s.key === null || last.get(s.key) === s.offset);
      assert.equal(expected.length, 20 + sent.filter((s) => s.key === null).length);

      // kcat (librdkafka) reads to the end and exits.
      const kc = await kcat([
        "-C",
        "-b",
        bootstrap,
        "-t",
        "table",
        "-o",
        "beginning",
        "-e",
        "-Z",
        "-f",
        "%o|%k|%s\\n",
      ]);
      assert.deepEqual(
        kc.trim().split("\n").map((l) => {
          const [o, k, v] = l.split("|");
          return {
            offset: Number(o),
            key: k === "NULL" ? null : k!,
            value: v === "NULL" ? null : v!,
          };
        }),
        expected,
      );

      // kafkajs, in a consumer group from the beginning.
      const consumer = kafka.consumer({ groupId: "compaction-reader", maxWaitTimeInMs: 100 });
      const got: Rec[] = [];
      await consumer.connect();
      await consumer.subscribe({ topic: "table", fromBeginning: true });
      await consumer.run({
        eachMessage: ({ message }) => {
          got.push({
            offset: Number(message.offset),
            key: message.key?.toString() ?? null,
            value: message.value?.toString() ?? null,
          });
          return Promise.resolve();
        },
      });
      await waitFor("kafkajs to read the compacted log", () => got.length >= expected.length);
      await consumer.disconnect();
      assert.deepEqual(got, expected);

      // Our SDK, positioned at the start, polls up to the end.
      const client = await RustMqClient.connect({ brokers: [`tcp://${bootstrap}`] });
      try {
        const c = client.consumer({ autoOffsetReset: "earliest", maxWaitMs: 100 });
        c.assign([{ topic: "table", partition: 0 }]);
        const mine: Rec[] = [];
        const deadline = Date.now() + 20_000;
        while ((c.position({ topic: "table", partition: 0 }) ?? 0) < end && Date.now() < deadline) {
          for (const r of await c.poll({ timeoutMs: 200 })) {
            const text = (b: Uint8Array | null) => b === null ? null : new TextDecoder().decode(b);
            mine.push({ offset: r.offset, key: text(r.key), value: text(r.value) });
          }
        }
        assert.deepEqual(mine, expected);
        await c.close();
      } finally {
        await client.close();
      }
    } finally {
      await producer.disconnect();
      await admin.disconnect();
    }
  },
});

Deno.test({
  name: "__consumer_offsets is compacted and committed offsets survive it and a restart",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using dir = await tempDir("rustmq-offsets-compaction-");
    const committed = async (port: number) => {
      const admin = new Kafka({
        brokers: [`127.0.0.1:${port}`],
        clientId: "offsets",
        logLevel: logLevel.NOTHING,
      }).admin();
      await admin.connect();
      try {
        const offsets = await admin.fetchOffsets({ groupId: "g1", topics: ["src"] });
        return offsets[0]!.partitions.map((p) => [p.partition, p.offset]).sort();
      } finally {
        await admin.disconnect();
      }
    };
    {
      await using tb = await startTestBroker(CONFIG, dir.path);
      const client = await RustMqClient.connect({ brokers: [`tcp://127.0.0.1:${tb.port}`] });
      try {
        const admin = client.admin();
        await admin.createTopic("src", 1);
        const producer = client.producer();
        for (let i = 0; i < 40; i++) await producer.send({ topic: "src", value: `v${i}` });
        await producer.close();
        // Many commits of the same key: what compaction is for.
        for (let i = 1; i <= 40; i++) {
          await admin.resetOffsets("g1", { topic: "src", to: i, execute: true });
        }
        await waitFor("everything to be uploaded", () => tb.broker.tier.allUploaded());
        await tb.broker.tier.maintainNow(); // splits mixed uploads into per-partition objects
        await tb.broker.tier.maintainNow(); // compacts them by key
        assert.ok(
          tb.broker.tier.maintenance.stats.recordsCleaned >= 39,
          "old commits were cleaned",
        );
      } finally {
        await client.close();
      }
      assert.deepEqual(await committed(tb.port), [[0, "40"]]);
    }
    // The coordinator reloads the group from the compacted offsets partition.
    await using tb = await startTestBroker(CONFIG, dir.path);
    assert.deepEqual(await committed(tb.port), [[0, "40"]]);
  },
});
