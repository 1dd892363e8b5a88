/**
 * Object storage as the system of record, end to end through the broker: data leaves the log
 * cache for objects and is still fetched byte for byte, also after a restart; a faulty or
 * unavailable store delays uploads while the WAL absorbs writes, and nothing acknowledged is lost.
 */

import assert from "node:assert/strict";
import { startTestBroker } from "./support/in_process_broker.ts";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { fetchValues, produceValues } from "./support/raw_ops.ts";
import { LocalObjectStore } from "../broker/object_store/local_object_store.ts";
import { FaultyObjectStore } from "../broker/object_store/faulty_object_store.ts";
import { ResilientObjectStore } from "../broker/object_store/resilient_object_store.ts";
import { systemClock } from "../ops/clock.ts";
import { SeededRandom } from "../ops/random.ts";
import { ErrorCode } from "../protocol/kafka/errors.ts";
import { tempDir } from "./support/temp_dir.ts";

const TIERING = [
  "[wal]",
  "upload_interval_ms = 100",
  // Small segments, so uploaded data really leaves the WAL and a restart must use the manifest.
  "segment_size_bytes = 131072",
  "capacity_bytes = 4194304",
  "[object_storage]",
  "upload_bytes_target = 65536",
  "compaction_threshold_bytes = 0",
].join("\n");

async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

const value = (i: number) => `value-${i}-${"p".repeat(i % 300)}`;

Deno.test("broker serves fetches from object storage once data left the cache, also after a restart", async () => {
  await using tmp = await tempDir("rustmq-tiering-");
  const dir = tmp.path;
  const sent: string[] = [];
  {
    await using tb = await startTestBroker(TIERING, dir);
    await using c = await RawKafkaClient.connect(tb.port);
    for (let i = 0; i < 400; i++) {
      const batch = Array.from({ length: 10 }, (_, j) => value(i * 10 + j));
      const r = await produceValues(c, "tiered", 0, batch);
      assert.equal(r.errorCode, 0);
      sent.push(...batch);
    }
    await waitFor("every offset to be uploaded", () => tb.broker.tier.allUploaded());
    await waitFor("WAL segments to be reclaimed", () => tb.broker.walStats.segments <= 3);
    assert.ok(tb.broker.tier.manifest.objects().length > 3, "the data spans several objects");
    const got = await fetchValues(c, "tiered", 0);
    assert.equal(got.errorCode, 0);
    assert.deepEqual(got.values, sent);
    assert.ok(tb.broker.tier.blockCache.stats.misses > 0, "reads went to object storage");
  }
  {
    await using tb = await startTestBroker(TIERING, dir);
    await using c = await RawKafkaClient.connect(tb.port);
    const got = await fetchValues(c, "tiered", 0);
    assert.deepEqual(
      got.values,
      sent,
      "after a restart, objects and WAL together hold everything once",
    );
    const more = await produceValues(c, "tiered", 0, ["after-restart"]);
    assert.equal(more.baseOffset, sent.length, "offsets continue after the stored end");
  }
});

Deno.test("broker keeps every acknowledged record when the store fails or stalls 30% of requests", async () => {
  await using tmp = await tempDir("rustmq-tiering-");
  const dir = tmp.path;
  const faulty = new FaultyObjectStore(new LocalObjectStore({ rootDir: `${dir}/objects` }), {
    random: new SeededRandom(7),
    clock: systemClock,
    failureRate: 0.2,
    stallRate: 0.1,
    stallMs: 200,
  });
  const store = new ResilientObjectStore(faulty, {
    clock: systemClock,
    random: new SeededRandom(8),
    attemptTimeoutMs: 100,
    backoffBaseMs: 5,
    backoffMaxMs: 50,
  });
  await using tb = await startTestBroker(TIERING, dir, { objectStore: store });
  await using c = await RawKafkaClient.connect(tb.port);
  const sent: string[] = [];
  for (let i = 0; i < 300; i++) {
    const batch = Array.from({ length: 10 }, (_, j) => value(i * 10 + j));
    assert.equal((await produceValues(c, "flaky", 0, batch)).errorCode, 0);
    sent.push(...batch);
  }
  await waitFor("uploads to finish despite faults", () => tb.broker.tier.allUploaded());
  assert.deepEqual((await fetchValues(c, "flaky", 0)).values, sent);
  const n = faulty.counts;
  assert.ok(n.failed + n.stalled > 0, `faults were injected: ${JSON.stringify(n)}`);
});

Deno.test("broker refuses appends with a retriable KAFKA_STORAGE_ERROR while the store is down and the WAL full, then recovers", async () => {
  await using tmp = await tempDir("rustmq-tiering-");
  const dir = tmp.path;
  const faulty = new FaultyObjectStore(new LocalObjectStore({ rootDir: `${dir}/objects` }), {
    random: new SeededRandom(1),
    clock: systemClock,
  });
  const store = new ResilientObjectStore(faulty, {
    clock: systemClock,
    random: new SeededRandom(2),
    attemptTimeoutMs: 200,
    attemptsMax: 2,
    backoffBaseMs: 5,
    backoffMaxMs: 20,
  });
  const small = [
    "[wal]",
    "upload_interval_ms = 100",
    "segment_size_bytes = 262144",
    "capacity_bytes = 1048576",
    "[cache]",
    "write_cache_size_bytes = 1048576",
    "[object_storage]",
    "upload_bytes_target = 65536",
    "compaction_threshold_bytes = 0",
  ].join("\n");
  await using tb = await startTestBroker(small, dir, { objectStore: store });
  await using c = await RawKafkaClient.connect(tb.port);
  faulty.setDown(true);
  const acked: string[] = [];
  let refused = 0;
  for (let i = 0; i < 2000 && refused === 0; i++) {
    const batch = Array.from({ length: 4 }, (_, j) => value(i * 4 + j));
    const r = await produceValues(c, "down", 0, batch);
    if (r.errorCode === 0) acked.push(...batch);
    else {
      assert.equal(r.errorCode, ErrorCode.KAFKA_STORAGE_ERROR);
      refused++;
    }
  }
  assert.equal(refused, 1, "the WAL filled and the broker refused, without crashing");
  faulty.setDown(false);
  await waitFor("uploads to resume", () => tb.broker.tier.allUploaded());
  await waitFor("appends to be accepted again", () => true);
  let accepted = false;
  for (let i = 0; i < 100 && !accepted; i++) {
    const r = await produceValues(c, "down", 0, ["after-recovery"]);
    if (r.errorCode === 0) {
      acked.push("after-recovery");
      accepted = true;
    } else await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(accepted, "appends resume once the store is back");
  assert.deepEqual((await fetchValues(c, "down", 0)).values, acked);
});

Deno.test("broker answers KAFKA_STORAGE_ERROR for a stored object with one corrupt byte and serves none of it", async () => {
  await using tmp = await tempDir("rustmq-tiering-crc-");
  const store = new LocalObjectStore({ rootDir: `${tmp.path}/store` });
  const sent: string[] = [];
  {
    await using tb = await startTestBroker(TIERING, `${tmp.path}/data`, { objectStore: store });
    await using c = await RawKafkaClient.connect(tb.port);
    for (let i = 0; i < 200; i++) {
      const batch = Array.from({ length: 10 }, (_, j) => value(i * 10 + j));
      assert.equal((await produceValues(c, "crc", 0, batch)).errorCode, 0);
      sent.push(...batch);
    }
    await waitFor("every offset to be uploaded", () => tb.broker.tier.allUploaded());
    await waitFor("WAL segments to be reclaimed", () => tb.broker.walStats.segments <= 3);
  }
  // After a restart nothing is cached, so offset 0 can only come from its object.
  await using tb = await startTestBroker(TIERING, `${tmp.path}/data`, { objectStore: store });
  await using c = await RawKafkaClient.connect(tb.port);
  const first = tb.broker.tier.manifest.ranges("crc/0")[0]!;
  assert.equal(first.range.baseOffset, 0);
  const bytes = await store.get(first.objectKey);
  bytes[first.range.position + 70]! ^= 0x01; // inside the first batch's records, past its header
  await store.put(first.objectKey, bytes);

  const got = await fetchValues(c, "crc", 0);
  assert.equal(got.errorCode, ErrorCode.KAFKA_STORAGE_ERROR);
  assert.deepEqual(got.values, [], "no record of the damaged range is served");
  // Offsets in later, intact objects are still served.
  const later = tb.broker.tier.manifest.ranges("crc/0").find((r) =>
    r.objectKey !== first.objectKey
  )!;
  const rest = await fetchValues(c, "crc", 0, later.range.baseOffset);
  assert.deepEqual(rest.values, sent.slice(later.range.baseOffset));
});
