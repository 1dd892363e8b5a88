/**
 * DeleteRecords end to end: kafkajs `admin.deleteTopicRecords` moves a partition's log start,
 * consumers (kafkajs, kcat) start there, bad offsets fail per partition, and the new start
 * survives a restart even though the records were still in the WAL when they were deleted.
 */

import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { startTestBroker } from "./support/in_process_broker.ts";
import { tempDir } from "./support/temp_dir.ts";

async function kcat(args: string[]): Promise<string> {
  const out = await new Deno.Command("kcat", { args, stdout: "piped", stderr: "piped" }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test({
  name: "DeleteRecords moves the log start, consumers begin there, and it survives a restart",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using dir = await tempDir("rustmq-delrec-");
    {
      // The default upload interval (10 minutes): the deleted records are only in the WAL.
      await using tb = await startTestBroker("", dir.path);
      const bootstrap = `127.0.0.1:${tb.port}`;
      const kafka = new Kafka({
        brokers: [bootstrap],
        clientId: "delrec",
        logLevel: logLevel.NOTHING,
      });
      const admin = kafka.admin();
      const producer = kafka.producer();
      await admin.connect();
      await producer.connect();
      try {
        await admin.createTopics({ topics: [{ topic: "trim", numPartitions: 2 }] });
        await producer.send({
          topic: "trim",
          messages: Array.from({ length: 10 }, (_, i) => ({ value: `a${i}`, partition: 0 })),
        });
        await producer.send({
          topic: "trim",
          messages: Array.from({ length: 4 }, (_, i) => ({ value: `b${i}`, partition: 1 })),
        });

        // kafkajs looks the leaders up in its cached metadata only.
        await admin.fetchTopicMetadata({ topics: ["trim"] });
        await admin.deleteTopicRecords({
          topic: "trim",
          partitions: [{ partition: 0, offset: "6" }],
        });
        // -1 deletes everything below the high watermark.
        await admin.deleteTopicRecords({
          topic: "trim",
          partitions: [{ partition: 1, offset: "-1" }],
        });
        const offsets = await admin.fetchTopicOffsets("trim");
        assert.deepEqual(
          offsets.map((o) => [o.partition, o.low, o.high]).sort(),
          [[0, "6", "10"], [1, "4", "4"]],
        );
        // Past the high watermark: refused, nothing changes.
        await assert.rejects(
          admin.deleteTopicRecords({ topic: "trim", partitions: [{ partition: 0, offset: "50" }] }),
        );
        assert.equal(
          (await admin.fetchTopicOffsets("trim")).find((o) => o.partition === 0)?.low,
          "6",
        );

        const kc = await kcat([
          "-C",
          "-b",
          bootstrap,
          "-t",
          "trim",
          "-p",
          "0",
          "-o",
          "beginning",
          "-e",
          "-f",
          "%o:%s\\n",
        ]);
        assert.equal(kc, "6:a6\n7:a7\n8:a8\n9:a9\n");

        await producer.send({ topic: "trim", messages: [{ value: "b4", partition: 1 }] });
        const consumer = kafka.consumer({ groupId: "delrec", maxWaitTimeInMs: 100 });
        const got: string[] = [];
        await consumer.connect();
        await consumer.subscribe({ topic: "trim", fromBeginning: true });
        await consumer.run({
          eachMessage: ({ partition, message }) => {
            got.push(`${partition}/${message.offset}:${message.value}`);
            return Promise.resolve();
          },
        });
        const deadline = Date.now() + 20_000;
        while (got.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        await consumer.disconnect();
        assert.deepEqual(got.sort(), ["0/6:a6", "0/7:a7", "0/8:a8", "0/9:a9", "1/4:b4"]);
      } finally {
        await producer.disconnect();
        await admin.disconnect();
      }
    }
    {
      await using tb = await startTestBroker("", dir.path);
      const kafka = new Kafka({
        brokers: [`127.0.0.1:${tb.port}`],
        clientId: "delrec-2",
        logLevel: logLevel.NOTHING,
      });
      const admin = kafka.admin();
      await admin.connect();
      try {
        const offsets = await admin.fetchTopicOffsets("trim");
        assert.deepEqual(
          offsets.map((o) => [o.partition, o.low, o.high]).sort(),
          [[0, "6", "10"], [1, "4", "5"]],
          "the log starts survive the restart; the deleted records do not come back",
        );
      } finally {
        await admin.disconnect();
      }
    }
  },
});
