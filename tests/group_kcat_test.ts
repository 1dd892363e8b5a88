/**
 * kcat's balanced consumer (`-G`, librdkafka's consumer group) against an in-process broker:
 * it finds the coordinator, joins, gets every partition assigned, consumes everything and
 * commits, and the group's committed offsets reach the end of every partition.
 */

import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { createTestTopic, startGroupTestBroker } from "./group_support.ts";

const kcatMissing =
  new Deno.Command("sh", { args: ["-c", "command -v kcat"] }).outputSync().code !== 0;

async function _kcat(args: string[], timeoutMs: number) {
  const child = new Deno.Command("kcat", { args, stdout: "piped", stderr: "piped" }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

Deno.test({
  name: "kcat -G consumes every message of a topic as a balanced consumer and commits",
  ignore: kcatMissing, // CI installs kcat; a machine without it skips this visibly.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using b = await startGroupTestBroker();
    const topic = "kcat-group";
    const total = 300;
    await createTestTopic(b.broker, topic, 3);
    const kafka = new Kafka({ clientId: "t2", brokers: [b.bootstrap], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: Array.from({ length: total }, (_, i) => ({ partition: i % 3, value: `k${i}` })),
    });
    await producer.disconnect();

    const r = await _kcat([
      "-b",
      b.bootstrap,
      "-G",
      "kcat-group-1",
      "-o",
      "beginning",
      "-e",
      "-q",
      "-f",
      "%p:%o:%s\\n",
      "-X",
      "enable.auto.commit=true",
      "-X",
      "auto.commit.interval.ms=100",
      "-X",
      "session.timeout.ms=10000",
      topic,
    ], 45_000);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.split("\n").filter((l) => l !== "");
    const values = new Set(lines.map((l) => l.split(":")[2]));
    assert.equal(values.size, total, `kcat consumed ${values.size} distinct messages: ${r.err}`);

    // librdkafka commits the final offsets when the consumer closes.
    const admin = kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchOffsets({ groupId: "kcat-group-1", topics: [topic] });
    const described = await admin.describeGroups(["kcat-group-1"]);
    await admin.disconnect();
    assert.deepEqual(
      offsets[0]?.partitions.sort((x, y) => x.partition - y.partition).map((p) => p.offset),
      ["100", "100", "100"],
    );
    assert.equal(described.groups[0]?.state, "Empty", "kcat left the group on exit");
    assert.equal(described.groups[0]?.protocolType, "consumer");
  },
});

Deno.test({
  name: "kcat -G with group.instance.id rejoins as the same static member without a rebalance",
  ignore: kcatMissing, // CI installs kcat; a machine without it skips this visibly.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using b = await startGroupTestBroker();
    const topic = "kcat-static";
    await createTestTopic(b.broker, topic, 1);
    const kafka = new Kafka({
      clientId: "t2s",
      brokers: [b.bootstrap],
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer();
    await producer.connect();
    const send = (from: number, n: number) =>
      producer.send({
        topic,
        messages: Array.from({ length: n }, (_, i) => ({ value: `s${from + i}` })),
      });
    const run = () =>
      _kcat([
        "-b",
        b.bootstrap,
        "-G",
        "static-g",
        "-X",
        "auto.offset.reset=earliest",
        "-e",
        "-q",
        "-f",
        "%s\\n",
        "-X",
        "group.instance.id=inst-a",
        "-X",
        "session.timeout.ms=30000",
        "-X",
        "auto.commit.interval.ms=100",
        topic,
      ], 45_000);
    const coordinator = b.broker.groups.coordinator;

    await send(0, 30);
    const first = await run();
    assert.equal(first.code, 0, first.err);
    assert.equal(first.out.trim().split("\n").length, 30);
    const before = coordinator.describe("static-g");
    // A static member does not leave when it shuts down; its session keeps its place.
    assert.equal(before.state, "Stable");
    assert.equal(before.members[0]?.groupInstanceId, "inst-a");
    const committed = b.broker.groups.offsets.fetch("static-g", [{ name: topic, partitions: [0] }]);
    assert.equal(committed[0]?.offset, 30n);

    await send(30, 10);
    const second = await run();
    assert.equal(second.code, 0, second.err);
    assert.deepEqual(
      second.out.trim().split("\n"),
      Array.from({ length: 10 }, (_, i) => `s${30 + i}`),
      "the restarted member resumed after its committed offset",
    );
    const after = coordinator.describe("static-g");
    assert.equal(after.generationId, before.generationId, "no rebalance happened");
    assert.notEqual(after.members[0]?.memberId, before.members[0]?.memberId);
    assert.equal(after.members.length, 1);
    await producer.disconnect();
  },
});
