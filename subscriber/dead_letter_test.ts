import assert from "node:assert/strict";
import type { ConsumerRecord, ProducerMessage } from "../client/mod.ts";
import { createLogger, silentLogger } from "../ops/logger.ts";
import { tempDir } from "../tests/support/temp_dir.ts";
import { createDeadLetter } from "./dead_letter.ts";

const _enc = new TextEncoder();
const _dec = new TextDecoder();
const _rec: ConsumerRecord = {
  topic: "ev",
  partition: 3,
  offset: 42,
  key: _enc.encode("key-1"),
  value: _enc.encode("not json"),
  headers: [{ key: "trace", value: _enc.encode("abc") }],
  timestamp: 1_700_000_000_000,
};

Deno.test("dead letter queue: original key, value and headers, plus headers naming the error", async () => {
  const sent: ProducerMessage[] = [];
  const dl = createDeadLetter({
    action: "dead_letter_queue",
    topic: "ev-dlq",
    file: "",
    logger: silentLogger,
    producer: { send: (m) => (sent.push(m), Promise.resolve()) },
  });
  await dl.send(_rec, "the value is not JSON");
  assert.equal(sent.length, 1);
  const m = sent[0]!;
  assert.equal(m.topic, "ev-dlq");
  assert.deepEqual(m.key, _rec.key);
  assert.deepEqual(m.value, _rec.value);
  const headers = (m.headers as { key: string; value: Uint8Array }[]).map((
    h,
  ) => [h.key, _dec.decode(h.value)]);
  assert.deepEqual(headers, [
    ["trace", "abc"],
    ["rustmq.dlq.reason", "the value is not JSON"],
    ["rustmq.dlq.topic", "ev"],
    ["rustmq.dlq.partition", "3"],
    ["rustmq.dlq.offset", "42"],
  ]);
});

Deno.test("dead letter file: one JSON line per record", async () => {
  await using dir = await tempDir("rustmq-dlq-");
  const file = `${dir.path}/dead.jsonl`;
  const dl = createDeadLetter({ action: "file", topic: "", file, logger: silentLogger });
  await dl.send(_rec, "r1");
  await dl.send({ ..._rec, offset: 43, key: null }, "r2");
  const lines = (await Deno.readTextFile(file)).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  assert.equal(lines[0].reason, "r1");
  assert.equal(atob(lines[0].value_base64), "not json");
  assert.equal(lines[1].offset, 43);
  assert.equal(lines[1].key_base64, null);
});

Deno.test("dead letter log and drop", async () => {
  const lines: string[] = [];
  const log = createDeadLetter({
    action: "log",
    topic: "",
    file: "",
    logger: createLogger("sub", { sink: (l) => lines.push(l) }),
  });
  await log.send(_rec, "why");
  assert.equal(lines.length, 1);
  const l = JSON.parse(lines[0]!);
  assert.equal(l.reason, "why");
  assert.equal(l.offset, 42);
  const drop = createDeadLetter({ action: "drop", topic: "", file: "", logger: silentLogger });
  await drop.send(_rec, "why");
});
