import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import kafkajsMurmur2 from "kafkajs/src/producer/partitioners/default/murmur2.js";
import { murmur2, toPositive } from "./murmur2.ts";

const enc = new TextEncoder();

Deno.test("murmur2 matches the Java client's test vectors", () => {
  // Apache Kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java testMurmur2.
  const cases: [Uint8Array, number][] = [
    [enc.encode("21"), -973932308],
    [enc.encode("foobar"), -790332482],
    [enc.encode("a-little-bit-long-string"), -985981536],
    [enc.encode("a-little-bit-longer-string"), -1486304829],
    [enc.encode("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971],
    [new Uint8Array([0x61, 0x62, 0x63]), 479470107],
  ];
  for (const [bytes, expected] of cases) assert.equal(murmur2(bytes), expected);
});

Deno.test("murmur2 agrees with kafkajs's Java-compatible partitioner hash", () => {
  // kafkajs's default partitioner ports Utils.murmur2; it takes a Buffer or a string.
  for (let n = 0; n < 200; n++) {
    const key = enc.encode(`key-${n}-${"x".repeat(n % 7)}`);
    assert.equal(murmur2(key), kafkajsMurmur2(Buffer.from(key)), `key-${n}`);
  }
});

Deno.test("toPositive clears the sign bit like Java's Utils.toPositive", () => {
  assert.equal(toPositive(-973932308), -973932308 & 0x7fffffff);
  assert.equal(toPositive(-2147483648), 0);
  assert.equal(toPositive(5), 5);
});
