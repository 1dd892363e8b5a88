/**
 * An idempotent librdkafka producer (Debian's python3-confluent-kafka) on a filtering ETL topic
 * in a 3-broker cluster, RF 3: its most recent batches are dropped entirely by the chain, then
 * the leader is SIGKILLed. The new leader rebuilt producer state from replicated headers; the
 * producer's next batch must still be in order (before the fix it was refused with
 * OUT_OF_ORDER_SEQUENCE_NUMBER, a fatal error for an idempotent librdkafka producer), and a
 * librdkafka consumer reads exactly the kept records across the empty batches.
 */

import assert from "node:assert/strict";
import { Cluster, waitFor } from "./support/cluster_harness.ts";
import { abiModuleWat, watToWasm } from "../etl/testing/wat.ts";

const PYTHON = "/usr/bin/python3";
const TOPIC = "filtered-failover";

/** Keeps a record unless its value starts with 'x'. */
const FILTER = abiModuleWat(
  `(if (i32.eq (i32.load8_u (local.get $vp)) (i32.const 120)) (then (return (i32.const 0))))
  (call $emit (local.get $kp) (local.get $kl) (local.get $vp) (local.get $vl)) (i32.const 0)`,
);

// One producer for the whole test, driven line by line: "send V" produces V and flushes (one
// batch per line), "read N" consumes from the start until N records or 20 s.
const _PY = `
import json, sys
from confluent_kafka import Consumer, Producer, TopicPartition
bs, topic = sys.argv[1], sys.argv[2]
errors = []
p = Producer({"bootstrap.servers": bs, "enable.idempotence": True, "acks": "all",
              "linger.ms": 0, "message.timeout.ms": 30000,
              "error_cb": lambda e: errors.append(("fatal " if e.fatal() else "") + str(e))})
for line in sys.stdin:
    cmd, arg = line.split()
    if cmd == "send":
        res = {}
        def done(err, msg):
            res["err"] = None if err is None else str(err)
            res["offset"] = None if err is not None else msg.offset()
        p.produce(topic, arg.encode(), partition=0, on_delivery=done)
        p.flush(40)
        fatal = [e for e in errors if e.startswith("fatal")]
        print(json.dumps({"err": res.get("err", "not delivered"), "offset": res.get("offset"),
                          "fatal": fatal}), flush=True)
    else:
        c = Consumer({"bootstrap.servers": bs, "group.id": "failover-check",
                      "enable.auto.commit": False})
        c.assign([TopicPartition(topic, 0, 0)])
        got = []
        for _ in range(200):
            m = c.poll(0.1)
            if m is not None and not m.error():
                got.append([m.offset(), m.value().decode()])
            if len(got) >= int(arg):
                break
        c.close()
        print(json.dumps({"got": got}), flush=True)
`;

class PythonProducer {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;
  #stderr = "";

  constructor(bootstrap: string) {
    this.#child = new Deno.Command(PYTHON, {
      args: ["-c", _PY, bootstrap, TOPIC],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
      new _LineSplitter(),
    )[Symbol.asyncIterator]();
    void this.#child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (t) => void (this.#stderr = (this.#stderr + t).slice(-4000)) }),
    );
  }

  async ask(line: string): Promise<Record<string, unknown>> {
    await this.#writer.write(new TextEncoder().encode(`${line}\n`));
    const next = await this.#lines.next();
    assert.ok(!next.done, `the producer exited: ${this.#stderr}`);
    return JSON.parse(next.value);
  }

  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 15_000);
    await this.#child.status;
    clearTimeout(timer);
  }
}

class _LineSplitter extends TransformStream<string, string> {
  constructor() {
    let buf = "";
    super({
      transform(chunk, ctl) {
        buf += chunk;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          ctl.enqueue(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      },
    });
  }
}

Deno.test({
  name:
    "ETL: an idempotent producer whose latest batches were dropped keeps producing after a leader kill",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using cluster = await Cluster.start({ brokers: 3, controllers: 1 });
    const admin = await cluster.adminUrl();
    const up = await fetch(`${admin}/api/v1/wasm/modules`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream", "x-module-name": "filter" },
      body: await watToWasm(FILTER) as Uint8Array<ArrayBuffer>,
    });
    assert.equal(up.status, 201, await up.text());
    const created = await fetch(`${admin}/api/v1/topics`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        name: TOPIC,
        partitions: 1,
        replication_factor: 3,
        etl_modules: ["filter"],
        configs: { "min.insync.replicas": "2" },
      }),
    });
    assert.equal(created.status, 201, await created.text());
    const partition = async () =>
      ((await cluster.topic(TOPIC)).partition_details as { leader: number; isr: number[] }[])[0]!;
    const leader = await waitFor("a full ISR", 30_000, async () => {
      const p = await partition();
      return p.isr.length === 3 && p.leader >= 0 ? p.leader : undefined;
    });
    const producer = new PythonProducer(cluster.bootstrap().join(","));
    try {
      const kept1 = await producer.ask("send keep1");
      assert.equal(kept1.err, null, JSON.stringify(kept1));
      // Two batches the chain drops entirely: the latest sequences are in no stored record.
      for (const v of ["xdrop1", "xdrop2"]) {
        const r = await producer.ask(`send ${v}`);
        assert.equal(r.err, null, JSON.stringify(r));
      }
      // acks=all: every follower in the ISR has the batches before the leader is killed.
      await cluster.brokers.find((b) => b.id === leader)!.kill();
      await waitFor("a new leader", 30_000, async () => {
        const p = await partition();
        return p.leader >= 0 && p.leader !== leader ? true : undefined;
      });
      const kept2 = await producer.ask("send keep2");
      assert.equal(kept2.err, null, JSON.stringify(kept2));
      assert.deepEqual(kept2.fatal, [], "no fatal idempotence error");
      const read = await producer.ask("read 2");
      const got = read.got as [number, string][];
      assert.deepEqual(got.map(([, v]) => v), ["keep1", "keep2"]);
      // Each dropped batch kept one offset as an empty batch.
      assert.deepEqual(got.map(([o]) => o), [0, 3]);
    } finally {
      await producer.close();
    }
  },
});
