/**
 * Jepsen-style check of replication: three brokers (separate processes) and a topic of six
 * partitions with RF=3 and min.insync.replicas=2. Idempotent producers write unique values with
 * acks=all while a nemesis SIGKILLs and restarts a random broker every few seconds, the leader
 * of the most partitions more often than not. Afterwards everything is consumed, and:
 * - every acknowledged value is present exactly once, at the offset its acknowledgement named;
 * - within each partition, each producer's acknowledged values appear in the order it sent them
 *   (one producer keeps 16 sends outstanding, so its pipelined batches are retried in order);
 * - nothing appears that was never sent.
 *
 * `deno task soak --minutes N` runs the same scenario for longer (RUSTMQ_SOAK_SECONDS). A
 * failure names the seed; `RUSTMQ_JEPSEN_SEED=S` replays the nemesis schedule.
 *
 * `RUSTMQ_JEPSEN_PRODUCER=librdkafka` (the soak's librdkafka mode) replaces the SDK producers by
 * librdkafka ones (python3-confluent-kafka under /usr/bin/python3) with enable.idempotence and
 * acks=all; the nemesis and the check are the same.
 */

import assert from "node:assert/strict";
import { Cluster, waitFor } from "./support/cluster_harness.ts";
import { RustMqClient } from "../mod.ts";

const SEED = Number(Deno.env.get("RUSTMQ_JEPSEN_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const NEMESIS_SECONDS = Number(Deno.env.get("RUSTMQ_SOAK_SECONDS") ?? 35);
const TOPIC = "jepsen";
const PARTITIONS = 6;
const PRODUCERS = 3;

/** mulberry32: a small seeded PRNG, so the nemesis schedule replays from the seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Ack {
  value: string;
  producer: number;
  /** The producer's send number: acknowledged values must sit in the log in this order. */
  seq: number;
  partition: number;
  offset: number;
}

/**
 * Sends each producer keeps outstanding. The last producer pipelines (several batches per
 * partition in flight), so retries after a leader's death must keep its batches in order.
 * RUSTMQ_JEPSEN_WINDOW sets its depth.
 */
const PIPELINE_WINDOW = Number(Deno.env.get("RUSTMQ_JEPSEN_WINDOW") ?? 16);
const windowOf = (id: number) => id === PRODUCERS - 1 ? PIPELINE_WINDOW : 1;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes unique values until `stop`, `windowOf(id)` at a time; records every acknowledgement. */
async function produceLoop(
  bootstrap: string[],
  id: number,
  stop: () => boolean,
  acks: Ack[],
  sent: Set<string>,
): Promise<void> {
  const client = await RustMqClient.connect({
    brokers: bootstrap.map((b) => `tcp://${b}`),
    clientId: `jepsen-${id}`,
    requestTimeoutMs: 5000,
    connectTimeoutMs: 3000,
  });
  const producer = client.producer({
    ackLevel: "All",
    idempotent: true,
    deliveryTimeoutMs: 60_000,
    lingerMs: 2,
  });
  const inFlight = new Set<Promise<unknown>>();
  try {
    for (let seq = 0; !stop(); seq++) {
      const value = `p${id}-${seq}`;
      const partition = seq % PARTITIONS;
      sent.add(value);
      const sending = producer.send({ topic: TOPIC, partition, value }).then(
        (r) => {
          acks.push({ value, producer: id, seq, partition: r.partition, offset: r.offset });
        },
        // Not acknowledged: it may or may not be in the log; both are allowed.
        () => sleep(50),
      ).finally(() => inFlight.delete(sending));
      inFlight.add(sending);
      if (inFlight.size >= windowOf(id)) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  } finally {
    await client.close().catch(() => {});
  }
}

/** Which producers write: RustMQ's SDK (the default) or librdkafka (the soak's second mode). */
const PRODUCER_KIND = Deno.env.get("RUSTMQ_JEPSEN_PRODUCER") ?? "sdk";
/** Sends per second of each librdkafka producer (RUSTMQ_JEPSEN_RATE), to share the 2 cores. */
const RDKAFKA_RATE = Number(Deno.env.get("RUSTMQ_JEPSEN_RATE") ?? 4000);
/** python3-confluent-kafka imports only under the system python, not a pyenv one on PATH. */
const SYSTEM_PYTHON = "/usr/bin/python3";

/**
 * One librdkafka producer: sends `p<id>-<seq>` to partition seq % N at `rate` per second until
 * its stdin closes, then flushes. Prints `A seq partition offset` per acknowledgement, `E seq
 * error` per failed delivery, `F error` for a fatal (idempotence) error and, last, `SENT n`.
 */
const RDKAFKA_PRODUCER = `
import select, sys, time
from confluent_kafka import Producer, KafkaError
bootstrap, pid, topic, parts, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
out = sys.stdout
def error_cb(err):
    if err.fatal():
        out.write("F %s\\n" % err)
p = Producer({"bootstrap.servers": bootstrap, "client.id": "jepsen-rdkafka-%d" % pid,
              "enable.idempotence": True, "acks": "all", "linger.ms": 5,
              "message.timeout.ms": 60000, "error_cb": error_cb})
def report(seq):
    def cb(err, msg):
        if err is None:
            out.write("A %d %d %d\\n" % (seq, msg.partition(), msg.offset()))
        else:
            out.write("E %d %s\\n" % (seq, err.str()))
    return cb
seq = 0
start = time.monotonic()
while not select.select([sys.stdin], [], [], 0)[0]:
    if seq > (time.monotonic() - start) * rate:
        p.poll(0.005)
        continue
    try:
        p.produce(topic, ("p%d-%d" % (pid, seq)).encode(), partition=seq % parts, on_delivery=report(seq))
        seq += 1
    except BufferError:
        p.poll(0.05)
    p.poll(0)
p.flush(90)
out.write("SENT %d\\n" % seq)
out.flush()
`;

/** librdkafka's version of {@linkcode produceLoop}: the same values, acks and sent set. */
async function rdkafkaLoop(
  bootstrap: string[],
  id: number,
  stop: () => boolean,
  acks: Ack[],
  sent: Set<string>,
  fatal: string[],
): Promise<void> {
  const child = new Deno.Command(SYSTEM_PYTHON, {
    args: [
      "-c",
      RDKAFKA_PRODUCER,
      bootstrap.join(","),
      `${id}`,
      TOPIC,
      `${PARTITIONS}`,
      `${RDKAFKA_RATE}`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reading = (async () => {
    let rest = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const line of lines) _rdkafkaLine(line, id, acks, sent, fatal);
    }
  })();
  while (!stop()) await sleep(200);
  await child.stdin.close();
  await reading;
  const { code } = await child.status;
  // Reported with the check, not thrown: a rejection here would be unhandled until the end.
  if (code !== 0) fatal.push(`producer ${id}: python exited with ${code}`);
}

function _rdkafkaLine(line: string, id: number, acks: Ack[], sent: Set<string>, fatal: string[]) {
  const [kind, a, b, c] = line.split(" ");
  if (kind === "A") {
    const seq = Number(a);
    acks.push({
      value: `p${id}-${seq}`,
      producer: id,
      seq,
      partition: Number(b),
      offset: Number(c),
    });
  } else if (kind === "SENT") {
    for (let seq = 0; seq < Number(a); seq++) sent.add(`p${id}-${seq}`);
  } else if (kind === "F") {
    fatal.push(`producer ${id}: ${line.slice(2)}`);
  }
}

/** The broker leading the most partitions, from the controller. */
async function busiestLeader(cluster: Cluster): Promise<number | null> {
  try {
    const t = await cluster.topic(TOPIC);
    const counts = new Map<number, number>();
    for (const p of t.partition_details as { leader: number }[]) {
      if (p.leader >= 0) counts.set(p.leader, (counts.get(p.leader) ?? 0) + 1);
    }
    return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
  } catch {
    return null;
  }
}

async function nemesis(cluster: Cluster, random: () => number, stop: () => boolean, log: string[]) {
  while (!stop()) {
    await sleep(2000 + random() * 2000);
    if (stop()) break;
    const leader = await busiestLeader(cluster);
    const pickLeader = random() < 0.65 && leader !== null;
    const victim = cluster.brokers.find((b) => b.id === leader && pickLeader) ??
      cluster.brokers[Math.floor(random() * cluster.brokers.length)]!;
    log.push(
      `${new Date().toISOString()} kill broker ${victim.id}${
        victim.id === leader ? " (leader)" : ""
      }`,
    );
    await victim.kill();
    await sleep(1000 + random() * 1500);
    await victim.start(30_000);
    log.push(`${new Date().toISOString()} restarted broker ${victim.id}`);
    // Let it rejoin the ISR before the next fault, so one failure at a time is tested.
    await waitForFullIsr(cluster, 20_000).catch(() =>
      log.push("ISR did not fully recover in time")
    );
  }
}

async function waitForFullIsr(cluster: Cluster, timeoutMs: number): Promise<void> {
  let last = "";
  try {
    await waitFor("every partition to have 3 in-sync replicas", timeoutMs, async () => {
      const t = await cluster.topic(TOPIC);
      const parts = t.partition_details as { leader: number; isr: number[] }[];
      last = JSON.stringify(parts.map((p) => [p.leader, p.isr]));
      return parts.every((p) => p.leader >= 0 && p.isr.length === 3) ? true : undefined;
    }, 200);
  } catch (err) {
    const logs = cluster.brokers.map((b) =>
      `broker ${b.id}:\n` +
      b.stderr().split("\n").filter((l) => /"(warn|error)"|ISR|truncat/.test(l))
        .slice(-12).map((l) => l.slice(0, 300)).join("\n")
    ).join("\n");
    throw new Error(
      `${(err as Error).message}; last [leader, isr] per partition: ${last}\n${logs}`,
    );
  }
}

/** Reads every partition from the start to its high watermark. */
async function consumeAll(
  bootstrap: string[],
): Promise<Map<number, { offset: number; value: string }[]>> {
  const client = await RustMqClient.connect({
    brokers: bootstrap.map((b) => `tcp://${b}`),
    clientId: "jepsen-check",
  });
  const out = new Map<number, { offset: number; value: string }[]>();
  try {
    const consumer = client.consumer({ autoOffsetReset: "earliest", maxWaitMs: 200 });
    const tps = Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: TOPIC, partition }));
    consumer.assign(tps);
    for (const tp of tps) await consumer.seek(tp, "earliest");
    const ends = await consumer.endOffsets(tps);
    const dec = new TextDecoder();
    const deadline = Date.now() + 60_000;
    let remaining = tps.filter((_, i) => ends[i]! > 0).length;
    const done = new Set<number>();
    while (remaining > 0 && Date.now() < deadline) {
      for (const r of await consumer.poll({ timeoutMs: 500, maxRecords: 5000 })) {
        const list = out.get(r.partition) ?? [];
        list.push({ offset: r.offset, value: dec.decode(r.value!) });
        out.set(r.partition, list);
        if (r.offset + 1 >= ends[r.partition]! && !done.has(r.partition)) {
          done.add(r.partition);
          remaining--;
        }
      }
    }
    assert.equal(remaining, 0, `timed out consuming: ends ${ends}`);
    await consumer.close();
  } finally {
    await client.close();
  }
  return out;
}

/** Each partition's leader reports an ISR of 3 on /metrics, and nothing is under-replicated. */
async function assertReplicationMetrics(cluster: Cluster): Promise<void> {
  const isr = new Map<string, number>();
  for (const b of cluster.brokers) {
    const text = await (await fetch(`http://127.0.0.1:${b.httpPort}/metrics`)).text();
    for (
      const m of text.matchAll(
        /^rustmq_partition_isr_size\{topic="jepsen",partition="(\d+)"\} (\d+)$/gm,
      )
    ) {
      isr.set(m[1]!, Number(m[2]));
    }
    assert.match(text, /^rustmq_under_replicated_partitions 0$/m, `broker ${b.id} metrics`);
    assert.match(text, /^rustmq_offline_partitions 0$/m);
  }
  assert.equal(
    isr.size,
    PARTITIONS,
    `every partition has one leader reporting its ISR: ${[...isr]}`,
  );
  for (const [p, n] of isr) assert.equal(n, 3, `ISR of partition ${p}`);
}

function check(
  acks: readonly Ack[],
  sent: ReadonlySet<string>,
  log: Map<number, { offset: number; value: string }[]>,
) {
  const problems: string[] = [];
  const where = new Map<string, { partition: number; offset: number }>();
  for (const [partition, records] of log) {
    for (const r of records) {
      if (where.has(r.value)) problems.push(`duplicate ${r.value} at ${partition}/${r.offset}`);
      where.set(r.value, { partition, offset: r.offset });
      if (!sent.has(r.value)) problems.push(`extra value ${r.value} at ${partition}/${r.offset}`);
    }
  }
  const lastOffset = new Map<string, number>();
  const inSendOrder = [...acks].sort((x, y) => x.producer - y.producer || x.seq - y.seq);
  for (const a of inSendOrder) {
    const found = where.get(a.value);
    if (found === undefined) {
      problems.push(`missing acknowledged ${a.value} (acked at ${a.partition}/${a.offset})`);
      continue;
    }
    if (found.partition !== a.partition || found.offset !== a.offset) {
      problems.push(
        `${a.value} acked at ${a.partition}/${a.offset} but found at ${found.partition}/${found.offset}`,
      );
    }
    const k = `${a.producer}/${a.partition}`;
    if ((lastOffset.get(k) ?? -1) >= found.offset) {
      problems.push(`${a.value} is out of acknowledgement order in partition ${a.partition}`);
    }
    lastOffset.set(k, found.offset);
  }
  return problems;
}

if (!["sdk", "librdkafka"].includes(PRODUCER_KIND)) {
  throw new RangeError(
    `RUSTMQ_JEPSEN_PRODUCER must be sdk or librdkafka: current value is ${PRODUCER_KIND}`,
  );
}

Deno.test({
  name:
    "replication keeps every acknowledged write through SIGKILLed brokers (acks=all, RF=3, min ISR 2)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const random = rng(SEED);
    console.log(
      `jepsen seed ${SEED} (replay: RUSTMQ_JEPSEN_SEED=${SEED} deno task test tests/replication_jepsen_test.ts)`,
    );
    await using cluster = await Cluster.start({
      brokers: 3,
      brokerLeaseMs: 2000,
      brokerConfig: {
        replication: ["heartbeat_timeout_ms = 6000", "max_replication_lag = 100000"],
      },
    });
    await cluster.createTopic(TOPIC, PARTITIONS, 3, { "min.insync.replicas": "2" });
    await waitForFullIsr(cluster, 20_000);
    const acks: Ack[] = [];
    const sent = new Set<string>();
    const events: string[] = [];
    let stopped = false;
    const stop = () => stopped;
    const bootstrap = cluster.bootstrap();
    const fatal: string[] = [];
    const producers = Array.from(
      { length: PRODUCERS },
      (_, i) =>
        PRODUCER_KIND === "librdkafka"
          ? rdkafkaLoop(bootstrap, i, stop, acks, sent, fatal)
          : produceLoop(bootstrap, i, stop, acks, sent),
    );
    const chaos = nemesis(cluster, random, stop, events);
    await sleep(NEMESIS_SECONDS * 1000);
    stopped = true;
    await chaos;
    await Promise.all(producers);
    for (const b of cluster.brokers) if (!b.running) await b.start();
    await waitForFullIsr(cluster, 30_000);
    await assertReplicationMetrics(cluster);
    const log = await consumeAll(cluster.bootstrap());
    const problems = check(acks, sent, log);
    const kills = events.filter((e) => e.includes("kill")).length;
    console.log(
      `jepsen seed ${SEED} (${PRODUCER_KIND} producers): ${acks.length} acknowledged of ${sent.size} sent, ${kills} kills`,
    );
    // A fatal idempotence error (e.g. an out-of-order sequence) means the broker broke the
    // producer's sequence rules: a failure too.
    assert.deepEqual(fatal, [], "librdkafka producers hit fatal errors");
    assert.ok(kills >= 3, `the nemesis should have struck several times: ${events.join("; ")}`);
    assert.ok(
      acks.length > 200,
      `too few writes were acknowledged to mean anything: ${acks.length}`,
    );
    assert.deepEqual(
      problems.slice(0, 20),
      [],
      `seed ${SEED}: ${problems.length} problem(s); nemesis: ${events.join("; ")}`,
    );
  },
});

Deno.test("jepsen checker reports missing, duplicated, extra, moved and reordered values", () => {
  const acks: Ack[] = [
    { value: "a", producer: 0, seq: 0, partition: 0, offset: 0 },
    { value: "b", producer: 0, seq: 1, partition: 0, offset: 1 },
    { value: "c", producer: 0, seq: 2, partition: 0, offset: 2 },
    { value: "d", producer: 1, seq: 0, partition: 1, offset: 0 },
  ];
  const sent = new Set(["a", "b", "c", "d", "e"]);
  const log = new Map([
    [0, [{ offset: 0, value: "b" }, { offset: 1, value: "a" }, { offset: 2, value: "x" }, {
      offset: 3,
      value: "a",
    }]],
    [1, [{ offset: 0, value: "e" }]],
  ]);
  const problems = check(acks, sent, log).join("\n");
  assert.match(problems, /duplicate a/);
  assert.match(problems, /extra value x/);
  assert.match(problems, /missing acknowledged c/);
  assert.match(problems, /missing acknowledged d/);
  assert.match(problems, /b acked at 0\/1 but found at 0\/0/);
  assert.match(problems, /out of acknowledgement order/);
  assert.deepEqual(
    check(acks.slice(0, 1), new Set(["a"]), new Map([[0, [{ offset: 0, value: "a" }]]])),
    [],
  );
});
