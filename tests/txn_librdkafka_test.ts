/**
 * Transactions through librdkafka clients from Debian against an in-process broker:
 * python3-confluent-kafka's init_transactions, begin, commit and abort, read back with both
 * isolation levels, and kcat with `-X isolation.level=read_committed` stopping at an open
 * transaction.
 */

import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { createTxnTopic, startTxnTestBroker } from "./txn_support.ts";

const TEST_OPTS = { sanitizeOps: false, sanitizeResources: false };
const PYTHON = "/usr/bin/python3";

// The Debian client: python3-confluent-kafka 1.7 on librdkafka 2.0.2.
const _PY_TXN = `
import json, sys
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
bs, topic = sys.argv[1], sys.argv[2]
p = Producer({"bootstrap.servers": bs, "transactional.id": "py-app",
              "transaction.timeout.ms": 20000})
p.init_transactions(15)
p.begin_transaction()
p.produce(topic, b"c1", partition=0)
p.produce(topic, b"c2", partition=1)
p.commit_transaction(15)
p.begin_transaction()
p.produce(topic, b"a1", partition=0)
p.flush(10)
p.abort_transaction(15)
p.begin_transaction()
p.produce(topic, b"c3", partition=0)
p.commit_transaction(15)
# A second instance with the same transactional.id fences the first.
p2 = Producer({"bootstrap.servers": bs, "transactional.id": "py-app"})
p2.init_transactions(15)
fenced = False
try:
    p.begin_transaction()
    p.produce(topic, b"zombie", partition=0)
    p.commit_transaction(15)
except KafkaException as e:
    fenced = True
def read(iso):
    c = Consumer({"bootstrap.servers": bs, "group.id": "py-" + iso,
                  "isolation.level": iso, "enable.partition.eof": True,
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
    got, eof = [], set()
    for _ in range(200):
        m = c.poll(0.1)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
                if len(eof) == 2:
                    break
            continue
        got.append(m.value().decode())
    c.close()
    return sorted(got)
print(json.dumps({"fenced": fenced, "committed": read("read_committed"),
                  "uncommitted": read("read_uncommitted")}))
`;

async function _run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `${cmd} failed: ${stderr}`);
  return new TextDecoder().decode(out.stdout);
}

Deno.test(
  "confluent-kafka (librdkafka) transactions: init, commit, abort, fencing, both isolation levels",
  TEST_OPTS,
  async () => {
    await using b = await startTxnTestBroker();
    await createTxnTopic(b.broker, "pytx", 2);
    const out = JSON.parse(await _run(PYTHON, ["-c", _PY_TXN, b.bootstrap, "pytx"]));
    assert.deepEqual(out.committed, ["c1", "c2", "c3"]);
    assert.deepEqual(out.uncommitted, ["a1", "c1", "c2", "c3"]);
    assert.equal(out.fenced, true, "the first instance was fenced by the second");
    assert.equal(b.broker.txns!.coordinator.get("py-app")?.state, "Empty");
  },
);

Deno.test(
  "kcat -X isolation.level=read_committed stops at an open transaction",
  TEST_OPTS,
  async () => {
    await using b = await startTxnTestBroker();
    await createTxnTopic(b.broker, "kc", 1);
    const kafka = new Kafka({ clientId: "kc", brokers: [b.bootstrap], logLevel: logLevel.NOTHING });
    const txp = kafka.producer({
      transactionalId: "kc-app",
      maxInFlightRequests: 1,
      idempotent: true,
    });
    const plain = kafka.producer();
    await txp.connect();
    await plain.connect();
    try {
      const t1 = await txp.transaction();
      await t1.send({ topic: "kc", messages: [{ value: "c1" }] });
      await t1.commit();
      const t2 = await txp.transaction();
      await t2.send({ topic: "kc", messages: [{ value: "a1" }] });
      await t2.abort();
      const t3 = await txp.transaction();
      await t3.send({ topic: "kc", messages: [{ value: "open" }] });
      await plain.send({ topic: "kc", messages: [{ value: "after" }] });
      const kcat = (iso: string) =>
        _run("kcat", [
          "-C",
          "-b",
          b.bootstrap,
          "-t",
          "kc",
          "-o",
          "beginning",
          "-e",
          "-q",
          "-f",
          "%s\\n",
          "-X",
          `isolation.level=${iso}`,
        ]);
      assert.deepEqual((await kcat("read_committed")).trim().split("\n"), ["c1"]);
      assert.deepEqual((await kcat("read_uncommitted")).trim().split("\n"), [
        "c1",
        "a1",
        "open",
        "after",
      ]);
      await t3.commit();
      assert.deepEqual((await kcat("read_committed")).trim().split("\n"), ["c1", "open", "after"]);
    } finally {
      await txp.disconnect();
      await plain.disconnect();
    }
  },
);

Deno.test(
  "confluent-kafka init_transactions fails at once, with the reason, when transactions are off",
  TEST_OPTS,
  async () => {
    await using b = await startTxnTestBroker({
      config: "[broker]\ntransactions_enabled = false\n",
    });
    const script = `
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "transactional.id": "off"})
try:
    p.init_transactions(20)
    print("initialised")
except Exception as e:
    print(e)
`;
    const started = Date.now();
    const out = await _run(PYTHON, ["-c", script, b.bootstrap]);
    assert.match(out, /TRANSACTIONAL_ID_AUTHORIZATION_FAILED.*transactions are disabled/);
    assert.ok(Date.now() - started < 10_000, "not retried until the 20 s timeout");
  },
);

// librdkafka's consume-transform-produce: send_offsets_to_transaction with the consumer's group
// metadata (TxnOffsetCommit v3 names the member and generation, which KIP-447 checks).
const _PY_CTP = `
import json, sys, time
from confluent_kafka import Consumer, Producer, TopicPartition
bs = sys.argv[1]
src = Producer({"bootstrap.servers": bs})
for i in range(5):
    src.produce("ctp-in", str(i).encode(), partition=0)
src.flush(10)
c = Consumer({"bootstrap.servers": bs, "group.id": "pyctp", "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "isolation.level": "read_committed"})
c.subscribe(["ctp-in"])
p = Producer({"bootstrap.servers": bs, "transactional.id": "pyctp-worker"})
p.init_transactions(15)
seen = []
deadline = time.time() + 15
while len(seen) < 5 and time.time() < deadline:
    msgs = c.consume(10, 0.2)
    msgs = [m for m in msgs if m.error() is None]
    if not msgs:
        continue
    p.begin_transaction()
    for m in msgs:
        p.produce("ctp-out", b"out-" + m.value(), partition=0)
        seen.append(m.value().decode())
    p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 15)
    p.commit_transaction(15)
committed = c.committed([TopicPartition("ctp-in", 0)], 10)[0].offset
c.close()
print(json.dumps({"seen": seen, "committed": committed}))
`;

Deno.test(
  "confluent-kafka consume-transform-produce: send_offsets_to_transaction with group metadata",
  TEST_OPTS,
  async () => {
    await using b = await startTxnTestBroker();
    await createTxnTopic(b.broker, "ctp-in", 1);
    await createTxnTopic(b.broker, "ctp-out", 1);
    const out = JSON.parse(await _run(PYTHON, ["-c", _PY_CTP, b.bootstrap]));
    assert.deepEqual(out.seen, ["0", "1", "2", "3", "4"]);
    assert.equal(out.committed, 5, "the input offsets were committed with the transaction");
    const offsets = b.broker.groups.offsets.fetch("pyctp", [{ name: "ctp-in", partitions: [0] }]);
    assert.equal(offsets[0]?.offset, 5n);
    assert.equal(b.broker.partitions.get("ctp-out", 0)!.log.highWatermark >= 6, true);
  },
);
