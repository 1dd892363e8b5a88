/**
 * An object-store outage longer than the WAL can hold: the store goes down, ingest fills the
 * WAL, and then producers get a retriable KAFKA_STORAGE_ERROR whose message names the object
 * store, `/health` says degraded with "object store unreachable since T", and the log has one
 * line for the outage. When the store comes back, uploads resume by themselves, `/health` is ok
 * again, appends are accepted, and every acknowledged record is there.
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

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function health(port: number): Promise<{ status: string; reason?: string }> {
  return await (await fetch(`http://127.0.0.1:${port}/health`)).json();
}

const value = (i: number) => `value-${i}-${"p".repeat(200 + (i % 300))}`;

Deno.test("a store outage that fills the WAL gives a clear error and degraded health, then heals", async () => {
  await using tmp = await tempDir("rustmq-outage-");
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
  const config = [
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
  await using tb = await startTestBroker(config, dir, { objectStore: store });
  const httpPort = tb.broker.addrs.http!.port;
  await using c = await RawKafkaClient.connect(tb.port);
  assert.equal((await health(httpPort)).status, "ok");
  faulty.setDown(true);
  const acked: string[] = [];
  let refusal: { errorCode: number; errorMessage: string | null } | null = null;
  for (let i = 0; i < 4000 && refusal === null; i++) {
    const batch = Array.from({ length: 4 }, (_, j) => value(i * 4 + j));
    const r = await produceValues(c, "outage", 0, batch);
    if (r.errorCode === 0) acked.push(...batch);
    else refusal = r;
  }
  assert.ok(refusal !== null, "the WAL never filled");
  assert.equal(refusal.errorCode, ErrorCode.KAFKA_STORAGE_ERROR);
  assert.match(refusal.errorMessage ?? "", /WAL is nearly full/);
  assert.match(
    refusal.errorMessage ?? "",
    /uploads to object store unreachable since \d{4}-\d\d-\d\dT[^ ]+ \(Local /,
    refusal.errorMessage ?? "",
  );
  const degraded = await health(httpPort);
  assert.equal(degraded.status, "degraded");
  assert.match(degraded.reason ?? "", /^object store unreachable since \d{4}-/);
  // Fetches keep working during the outage.
  assert.deepEqual((await fetchValues(c, "outage", 0)).values, acked);

  faulty.setDown(false);
  await waitFor("uploads to resume", () => tb.broker.tier.allUploaded());
  await waitFor("health to be ok", async () => (await health(httpPort)).status === "ok");
  let accepted = false;
  for (let i = 0; i < 100 && !accepted; i++) {
    const r = await produceValues(c, "outage", 0, ["after-recovery"]);
    if (r.errorCode === 0) {
      acked.push("after-recovery");
      accepted = true;
    } else await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(accepted, "appends resume once the store is back");
  assert.deepEqual((await fetchValues(c, "outage", 0)).values, acked);
});
