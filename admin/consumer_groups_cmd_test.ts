import assert from "node:assert/strict";
import { RustMqClient } from "../client/mod.ts";
import { createTestTopic, startGroupTestBroker } from "../tests/group_support.ts";
import { runConsumerGroups } from "./consumer_groups_cmd.ts";

const TEST_OPTS = { sanitizeOps: false, sanitizeResources: false };

function _io() {
  const io = {
    stdout: "",
    stderr: "",
    out: (t: string) => (io.stdout += t),
    err: (t: string) => (io.stderr += t),
    stopSignal: new Promise<void>(() => {}),
  };
  return io;
}

async function _run(args: string[]) {
  const io = _io();
  const code = await runConsumerGroups(args, io);
  return { code, out: io.stdout, err: io.stderr };
}

Deno.test("runConsumerGroups rejects bad usage with exit status 2", async () => {
  assert.equal((await _run([])).code, 2);
  assert.equal((await _run(["describe"])).code, 2);
  assert.equal((await _run(["reset-offsets", "g", "--to-earliest"])).code, 2);
  assert.equal((await _run(["reset-offsets", "g", "--topic", "t"])).code, 2);
  const both = await _run(["reset-offsets", "g", "--topic", "t", "--to-earliest", "--to-latest"]);
  assert.equal(both.code, 2);
  assert.equal((await _run(["reset-offsets", "g", "--topic", "t", "--to-offset", "-3"])).code, 2);
  assert.equal((await _run(["list", "--nope"])).code, 2);
});

Deno.test({
  name: "runConsumerGroups lists, describes with lag, and resets an inactive group",
  ...TEST_OPTS,
  async fn() {
    await using b = await startGroupTestBroker();
    const url = `tcp://${b.bootstrap}`;
    const bs = ["--bootstrap", url];
    await createTestTopic(b.broker, "t", 3);
    const client = await RustMqClient.connect({ brokers: [url], clientId: "lag-app" });
    const producer = client.producer();
    await producer.sendBatch(
      Array.from({ length: 30 }, (_, i) => ({ topic: "t", partition: i % 3, value: `v${i}` })),
    );
    const consumer = client.consumer({
      groupId: "ga",
      autoCommit: false,
      autoOffsetReset: "earliest",
      sessionTimeoutMs: 6000,
      heartbeatIntervalMs: 500,
    });
    consumer.subscribe(["t"]);
    let consumed = 0;
    const deadline = Date.now() + 10_000;
    while (consumed < 30 && Date.now() < deadline) consumed += (await consumer.poll()).length;
    assert.equal(consumed, 30);
    await consumer.commitOffsets();
    await producer.sendBatch(
      Array.from({ length: 5 }, (_, i) => ({ topic: "t", partition: 0, value: `late${i}` })),
    );

    const list = await _run(["list", ...bs, "--json"]);
    assert.equal(list.code, 0, list.err);
    assert.deepEqual(JSON.parse(list.out), [{
      groupId: "ga",
      protocolType: "consumer",
      state: "Stable",
    }]);
    const listText = await _run(["list", ...bs]);
    assert.match(listText.out, /^GROUP\s+STATE\s+PROTOCOL TYPE\nga\s+Stable\s+consumer\n$/);

    const described = await _run(["describe", "ga", ...bs, "--json"]);
    assert.equal(described.code, 0, described.err);
    const d = JSON.parse(described.out);
    assert.equal(d.state, "Stable");
    assert.equal(d.protocol, "range");
    assert.equal(d.members.length, 1);
    assert.equal(d.members[0].clientId, "lag-app");
    assert.match(d.members[0].clientHost, /127\.0\.0\.1/);
    assert.deepEqual(d.members[0].assignment.map((tp: { partition: number }) => tp.partition), [
      0,
      1,
      2,
    ]);
    assert.deepEqual(
      d.partitions.map((x: Record<string, unknown>) => [x.partition, x.committed, x.logEnd, x.lag]),
      [[0, 10, 15, 5], [1, 10, 10, 0], [2, 10, 10, 0]],
    );
    const text = await _run(["describe", "ga", ...bs]);
    assert.match(text.out, /Group ga: state Stable, assignor range, 1 member/);
    assert.match(text.out, /t\s+0\s+10\s+15\s+5\s+lag-app/);

    // A group with members must not be reset: they would overwrite it at their next commit.
    const busy = await _run(["reset-offsets", "ga", "--topic", "t", "--to-earliest", ...bs]);
    assert.equal(busy.code, 1);
    assert.match(busy.err, /NON_EMPTY_GROUP/);
    assert.match(busy.err, /current state is Stable/);

    await consumer.close();
    const dry = await _run([
      "reset-offsets",
      "ga",
      "--topic",
      "t",
      "--to-earliest",
      ...bs,
      "--json",
    ]);
    assert.equal(dry.code, 0, dry.err);
    assert.deepEqual(JSON.parse(dry.out).offsets.map((o: { offset: number }) => o.offset), [
      0,
      0,
      0,
    ]);
    const admin = client.admin();
    assert.deepEqual((await admin.fetchOffsets("ga")).map((o) => o.offset), [10, 10, 10]);

    const run = await _run([
      "reset-offsets",
      "ga",
      "--topic",
      "t",
      "--to-offset",
      "7",
      "--execute",
      ...bs,
    ]);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /Offsets committed/);
    assert.deepEqual((await admin.fetchOffsets("ga")).map((o) => o.offset), [7, 7, 7]);
    await _run(["reset-offsets", "ga", "--topic", "t", "--to-latest", "--execute", ...bs]);
    assert.deepEqual((await admin.fetchOffsets("ga")).map((o) => o.offset), [15, 10, 10]);
    // Out-of-range targets are clamped into the log.
    await _run(["reset-offsets", "ga", "--topic", "t", "--to-offset", "12", "--execute", ...bs]);
    assert.deepEqual((await admin.fetchOffsets("ga")).map((o) => o.offset), [12, 10, 10]);

    const unknown = await _run(["describe", "nobody", ...bs, "--json"]);
    assert.equal(unknown.code, 0, unknown.err);
    assert.equal(JSON.parse(unknown.out).state, "Dead");
    await client.close();
  },
});

Deno.test("runConsumerGroups fails with exit status 1 when no broker answers", async () => {
  const r = await _run(["list", "--bootstrap", "tcp://127.0.0.1:1", "--timeout-ms", "2000"]);
  assert.equal(r.code, 1);
  assert.match(r.err, /rustmq admin consumer-groups: /);
});
