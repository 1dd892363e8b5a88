/**
 * The SDK producer against kafkajs, in one run on one standalone broker (WAL fsync on), over
 * TCP: N records of S bytes at acks=1 to a 1-partition topic, each side three times in turn,
 * records/s of the median run, and the ratio. `deno task bench producer` runs it.
 *
 * The SDK side is `rustmq bench produce` (one `send()` per record, at most 10,000 in flight).
 * kafkajs is given its fastest path: `send()` of 1,000 messages at a time, up to 10 sends (so
 * 10,000 records) outstanding, idempotence off, no compression.
 *
 * Usage: deno run -A --unstable-net bench/producer_peer.ts [--records 2000000] [--size 100]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Kafka, logLevel } from "kafkajs";

const ROOT = new URL("..", import.meta.url).pathname;
const MAIN = `${ROOT}main.ts`;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** kafkajs at its fastest: chunks of `chunk` messages, `window` chunks outstanding. */
async function kafkajsProduce(
  broker: string,
  topic: string,
  records: number,
  size: number,
): Promise<number> {
  const kafka = new Kafka({ clientId: "peer", brokers: [broker], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const value = Buffer.alloc(size, 0x61);
  const chunk = 1000;
  const window = 10;
  const messages = Array.from({ length: chunk }, () => ({ value }));
  await producer.send({ topic, acks: 1, messages: [{ value }] });
  const start = performance.now();
  let sent = 0;
  const inFlight = new Set<Promise<unknown>>();
  while (sent < records) {
    const n = Math.min(chunk, records - sent);
    const p: Promise<unknown> = producer.send({
      topic,
      acks: 1,
      messages: n === chunk ? messages : messages.slice(0, n),
    }).finally(() => inFlight.delete(p));
    inFlight.add(p);
    sent += n;
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - start) / 1000;
  await producer.disconnect();
  return records / elapsed;
}

async function sdkProduce(url: string, topic: string, records: number, size: number) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-net",
      MAIN,
      "bench",
      "produce",
      "-b",
      url,
      "-t",
      topic,
      "--records",
      String(records),
      "--record-size",
      String(size),
      "--acks",
      "1",
      "--json",
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  return (JSON.parse(line) as { records_per_sec: number }).records_per_sec;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      records: { type: "string", default: "2000000" },
      size: { type: "string", default: "100" },
      repeats: { type: "string", default: "3" },
    },
  });
  const records = Number(values.records);
  const size = Number(values.size);
  const repeats = Number(values.repeats);
  const dir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "rustmq-producer-peer-" });
  const port = freePort();
  const http = freePort();
  await Deno.writeTextFile(
    `${dir}/rustmq.toml`,
    `[network]\nkafka_listen = "127.0.0.1:${port}"\nquic_listen = "127.0.0.1:${port}"\n` +
      `http_listen = "127.0.0.1:${http}"\n[wal]\nfsync_on_write = true\n`,
  );
  const broker = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-net",
      MAIN,
      "standalone",
      "--data",
      `${dir}/data`,
      "--config",
      `${dir}/rustmq.toml`,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = broker.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("is ready")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the broker exited before it was ready");
      seen += value;
    }
    void (async () => {
      while (!(await reader.read()).done) { /* drain */ }
    })();
    const sdk: number[] = [];
    const kjs: number[] = [];
    for (let i = 0; i < repeats; i++) {
      sdk.push(await sdkProduce(`tcp://127.0.0.1:${port}`, `sdk${i}`, records, size));
      const admin = new Kafka({ brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING })
        .admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: `kjs${i}`, numPartitions: 1 }] });
      await admin.disconnect();
      kjs.push(await kafkajsProduce(`127.0.0.1:${port}`, `kjs${i}`, records, size));
      console.error(
        `run ${i + 1}: sdk ${sdk[i]!.toFixed(0)}, kafkajs ${kjs[i]!.toFixed(0)} records/s`,
      );
    }
    const s = median(sdk);
    const k = median(kjs);
    console.log(`\nproduce ${size} B, acks=1, TCP, ${records} records, median of ${repeats}`);
    console.log(`${"".padEnd(10)} ${"records/s".padStart(12)}`);
    console.log(`${"RustMQ SDK".padEnd(10)} ${s.toFixed(0).padStart(12)}`);
    console.log(`${"kafkajs".padEnd(10)} ${k.toFixed(0).padStart(12)}`);
    console.log(`SDK/kafkajs ${(s / k).toFixed(2)}`);
    console.log(
      JSON.stringify({ sdk_records_per_sec: s, kafkajs_records_per_sec: k, ratio: s / k }),
    );
  } finally {
    broker.kill("SIGTERM");
    await broker.status;
    await Deno.remove(dir, { recursive: true });
  }
}
