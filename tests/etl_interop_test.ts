/**
 * The AssemblyScript example modules, built from source with asc, deployed through the REST API
 * and run on the produce path of a standalone-like broker, end to end through real clients:
 * kafkajs (an idempotent producer and a consumer group) and kcat (librdkafka).
 */

import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { buildAssemblyScript } from "../etl/testing/asc.ts";
import { type EtlTestBroker, startEtlBroker, waitLeader } from "./support/etl_broker.ts";

async function deployExamples(b: EtlTestBroker, names: string[]): Promise<void> {
  for (const name of names) await b.deploy(name, await buildAssemblyScript(`examples/${name}.ts`));
}

async function createTopic(b: EtlTestBroker, name: string, etl: string[], configs = {}) {
  const r = await b.rest("POST", "/api/v1/topics", {
    name,
    partitions: 1,
    replication_factor: 1,
    etl_modules: etl,
    configs,
  });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  await waitLeader(b, name);
}

Deno.test({
  name: "ETL AssemblyScript chain filter -> pii_scrubber -> json_enricher through kafkajs",
  // kafkajs keeps timers of its own after disconnect; they are not ours to sanitize.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using b = await startEtlBroker();
    await deployExamples(b, ["filter", "pii_scrubber", "json_enricher"]);
    await createTopic(b, "events", ["filter", "pii_scrubber", "json_enricher"]);
    const kafka = new Kafka({
      clientId: "etl",
      brokers: [`127.0.0.1:${b.port}`],
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const COUNT = 200;
    const sent = Array.from({ length: COUNT }, (_, i) => ({
      key: `k${i}`,
      value: `{"level":"${i % 4 === 0 ? "debug" : "info"}","user":"u${i}@example.com","n":${i}}`,
      headers: { seq: String(i) },
    }));
    for (let i = 0; i < COUNT; i += 50) {
      await producer.send({ topic: "events", messages: sent.slice(i, i + 50) });
    }
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: "etl-reader", sessionTimeout: 6000 });
    await consumer.connect();
    await consumer.subscribe({ topic: "events", fromBeginning: true });
    const expected = sent.filter((_, i) => i % 4 !== 0);
    const got: { key: string; value: string; seq: string; offset: number }[] = [];
    const done = new Promise<void>((resolve) => {
      consumer.run({
        eachMessage: ({ message }) => {
          got.push({
            key: message.key!.toString(),
            value: message.value!.toString(),
            seq: message.headers!.seq!.toString(),
            offset: Number(message.offset),
          });
          if (got.length === expected.length) resolve();
          return Promise.resolve();
        },
      });
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        done,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`consumed ${got.length}`)), 20_000);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      await consumer.disconnect();
    }
    assert.equal(got.length, expected.length);
    got.forEach((m, i) => {
      const n = Number(expected[i]!.headers.seq);
      // The scrubbed value is what the enricher measured: the input with the e-mail masked.
      const scrubbed = `{"level":"info","user":"[email]","n":${n}}`;
      assert.deepEqual(m, {
        key: `k${n}`,
        value:
          `{"level":"info","user":"[email]","n":${n},"etl":"rustmq","bytes":${scrubbed.length}}`,
        seq: String(n),
        offset: i,
      });
    });
  },
});

async function kcat(
  args: string[],
  stdin?: string,
): Promise<{ code: number; out: string; err: string }> {
  const child = new Deno.Command("kcat", {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

const kcatMissing =
  new Deno.Command("sh", { args: ["-c", "command -v kcat"] }).outputSync().code !== 0;

Deno.test({
  name: "ETL AssemblyScript pii_scrubber through kcat; a rejected batch's error reaches kcat",
  ignore: kcatMissing, // .ci/run installs kcat; a developer machine without it skips this, visibly.
  async fn() {
    await using b = await startEtlBroker();
    await deployExamples(b, ["pii_scrubber", "json_enricher"]);
    await createTopic(b, "scrubbed", ["pii_scrubber"]);
    const bootstrap = `127.0.0.1:${b.port}`;
    const lines = ["a:mail ann@example.com now", "b:card 4111111111111111", "c:plain"];
    const produced = await kcat(
      ["-b", bootstrap, "-P", "-t", "scrubbed", "-K:", "-X", "enable.idempotence=true"],
      lines.join("\n") + "\n",
    );
    assert.equal(produced.code, 0, produced.err);
    const consumed = await kcat([
      "-b",
      bootstrap,
      "-C",
      "-t",
      "scrubbed",
      "-o",
      "beginning",
      "-e",
      "-f",
      "%k=%s\\n",
    ]);
    assert.equal(consumed.code, 0, consumed.err);
    assert.deepEqual(consumed.out.trim().split("\n"), [
      "a=mail [email] now",
      "b=card [number]",
      "c=plain",
    ]);
    // json_enricher fails a value that is not JSON: under reject kcat reports the module.
    await createTopic(b, "json-only", ["json_enricher"]);
    const refused = await kcat(["-b", bootstrap, "-P", "-t", "json-only", "-K:"], "k:not json\n");
    assert.notEqual(refused.code, 0);
    assert.match(refused.err, /Broker failed to validate record/);
  },
});
