import assert from "node:assert/strict";
import { compileRecordFormat, formatRecord } from "./record_format.ts";
import type { ConsumerRecord } from "../consumer.ts";

const enc = new TextEncoder();
const record: ConsumerRecord = {
  topic: "t",
  partition: 2,
  offset: 42,
  key: enc.encode("k"),
  value: enc.encode("hello"),
  headers: [{ key: "a", value: enc.encode("1") }, { key: "b", value: null }],
  timestamp: 1700000000000,
};

Deno.test("formatRecord renders every kcat token and escape", () => {
  const format = compileRecordFormat("%t %p %o %k %s %T %h %K %S 100%%\\t|\\\\|\\n");
  assert.equal(
    formatRecord(format, record),
    "t 2 42 k hello 1700000000000 a=1,b= 1 5 100%\t|\\|\n",
  );
});

Deno.test("formatRecord prints null keys as empty and their size as -1", () => {
  const format = compileRecordFormat("[%k][%K]");
  assert.equal(formatRecord(format, { ...record, key: null }), "[][-1]");
});

Deno.test("compileRecordFormat rejects unknown tokens", () => {
  assert.throws(() => compileRecordFormat("%x"), RangeError);
  assert.throws(() => compileRecordFormat("trailing %"), RangeError);
});
