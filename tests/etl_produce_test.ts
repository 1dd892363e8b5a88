/**
 * WebAssembly ETL on the produce path of a standalone-like broker: chains set through the REST
 * API run on the leader before offsets are assigned; chain order; idempotent retries on a
 * filtering topic; the three failure policies; a runaway module stopped while another topic
 * keeps producing; `etl.enabled = false`; modules and chains surviving a restart; metrics.
 */

import assert from "node:assert/strict";
import { abiModuleWat, watToWasm } from "../etl/testing/wat.ts";
import { readBatchHeader } from "../protocol/record/record_batch.ts";
import { ProducerStateTable } from "../broker/produce/producer_state.ts";
import {
  type EtlTestBroker,
  startEtlBroker,
  storedRecords,
  valuesBatch,
  waitLeader,
} from "./support/etl_broker.ts";

const EMIT = (vl: string) => `(call $emit (local.get $kp) (local.get $kl) (local.get $vp) ${vl})`;
/** Appends `ch` to the value. */
const appendChar = (ch: string) =>
  abiModuleWat(
    `(i32.store8 (i32.add (local.get $vp) (local.get $vl)) (i32.const ${ch.charCodeAt(0)}))
    ${EMIT("(i32.add (local.get $vl) (i32.const 1))")} (i32.const 0)`,
  );
/** Drops values starting with 'x'; traps on values starting with 't'. */
const FILTER = abiModuleWat(
  `(if (i32.eq (i32.load8_u (local.get $vp)) (i32.const 120)) (then (return (i32.const 0))))
  (if (i32.eq (i32.load8_u (local.get $vp)) (i32.const 116)) (then unreachable))
  ${EMIT("(local.get $vl)")} (i32.const 0)`,
);
const LOOP = abiModuleWat("(loop $l (br $l)) (i32.const 0)");

async function createTopic(
  b: EtlTestBroker,
  name: string,
  etl: string[],
  configs: Record<string, string> = {},
) {
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

const values = (rs: { value: string | null }[]) => rs.map((r) => r.value);

Deno.test("ETL chain runs in order on produce; reordering the chain changes the output", async () => {
  await using b = await startEtlBroker();
  await b.deploy("a", await watToWasm(appendChar("A")));
  await b.deploy("b", await watToWasm(appendChar("B")));
  await createTopic(b, "ordered", ["a", "b"]);
  await b.broker.partitions.produce("ordered", 0, await valuesBatch(["x", "y"]), -1);
  const put = await b.rest("PUT", "/api/v1/topics/ordered", { etl_modules: ["b", "a"] });
  assert.equal(put.status, 200);
  await b.broker.partitions.produce("ordered", 0, await valuesBatch(["z"]), -1);
  assert.deepEqual(values(await storedRecords(b.broker, "ordered")), ["xAB", "yAB", "zBA"]);
  const d = await b.rest("GET", "/api/v1/topics/ordered");
  assert.deepEqual(d.json.etl_modules, [
    { name: "b", version: 1, sha256: (d.json.etl_modules as { sha256: string }[])[0]!.sha256 },
    { name: "a", version: 1, sha256: (d.json.etl_modules as { sha256: string }[])[1]!.sha256 },
  ]);
  const metrics = await (await fetch(`${b.http}/metrics`)).text();
  assert.match(metrics, /rustmq_etl_module_calls_total\{module="a"\} 2/);
  assert.match(metrics, /rustmq_etl_module_records_in_total\{module="b"\} 3/);
  assert.match(metrics, /rustmq_etl_module_execution_seconds_count\{module="a"\} 2/);
  assert.equal((await b.rest("DELETE", "/api/v1/wasm/modules/a")).status, 409);
});

Deno.test("ETL idempotent retries on a filtering topic: no duplicate, no gap, across a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rustmq-etl-restart-" });
  try {
    let pid = 0;
    {
      await using b = await startEtlBroker("", dir);
      await b.deploy("filter", await watToWasm(FILTER));
      await b.deploy("a", await watToWasm(appendChar("A")));
      await createTopic(b, "idem", ["filter", "a"]);
      pid = Number(await b.broker.metadata.allocateProducerId());
      const p = (base: number) => ({ producerId: pid, producerEpoch: 0, baseSequence: base });
      const produce = async (vs: string[], base: number) =>
        b.broker.partitions.produce("idem", 0, await valuesBatch(vs, p(base)), -1);
      const first = await produce(["a", "xdrop", "b"], 0);
      const retry = await produce(["a", "xdrop", "b"], 0);
      assert.equal(retry.duplicate, true);
      assert.equal(retry.baseOffset, first.baseOffset);
      // A batch the chain drops entirely still takes its sequence numbers 3..4.
      const dropped = await produce(["x1", "x2"], 3);
      assert.equal((await produce(["x1", "x2"], 3)).duplicate, true);
      assert.equal(dropped.duplicate, false);
      await produce(["c"], 5);
      await assert.rejects(produce(["d"], 9), /sequence 9 does not follow/);
      const stored = await storedRecords(b.broker, "idem");
      assert.deepEqual(values(stored), ["aA", "bA", "cA"]);
      // The dropped batch is stored as an empty batch at offset 2 (no record, one offset), so
      // a follower or a restarted broker knows sequences 3..4 were taken.
      assert.deepEqual(stored.map((r) => r.offset), [0, 1, 3]);
      const p0 = b.broker.partitions.get("idem", 0)!;
      const headers = [...b.broker.partitions.cachedBatches(p0)].map(readBatchHeader);
      const empty = headers.find((h) => h.baseOffset === 2)!;
      assert.deepEqual(
        [empty.recordCount, empty.lastOffsetDelta, empty.baseSequence, empty.producerId],
        [0, 0, 4, pid],
      );
      // A follower rebuilds producer state from these stored headers: with the empty batch it
      // accepts the producer's next sequence after 4; without it, it would refuse sequence 5.
      const follower = (hs: typeof headers) => {
        const t = new ProducerStateTable();
        for (const h of hs) {
          t.record({ ...p(h.baseSequence), lastOffsetDelta: h.lastOffsetDelta }, h.baseOffset);
        }
        return t.check({ ...p(5), lastOffsetDelta: 0 }).kind;
      };
      assert.equal(follower(headers.filter((h) => h.baseOffset < 3)), "append");
      assert.equal(follower(headers.filter((h) => h.baseOffset < 2)), "error");
    }
    // After a restart the chain and modules come back from the controller's log, and the
    // producer's next sequence is accepted.
    await using b = await startEtlBroker("", dir);
    await waitLeader(b, "idem");
    const p = (base: number) => ({ producerId: pid, producerEpoch: 0, baseSequence: base });
    await b.broker.partitions.produce("idem", 0, await valuesBatch(["e", "xno"], p(6)), -1);
    assert.deepEqual(values(await storedRecords(b.broker, "idem")), ["aA", "bA", "cA", "eA"]);
    const d = await b.rest("GET", "/api/v1/topics/idem");
    assert.deepEqual((d.json.etl_modules as { name: string }[]).map((m) => m.name), [
      "filter",
      "a",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ETL failure policies: reject names the module, skip drops, dead-letter keeps the input", async () => {
  await using b = await startEtlBroker();
  await b.deploy("filter", await watToWasm(FILTER));
  await createTopic(b, "rej", ["filter"]);
  await createTopic(b, "skp", ["filter"], { "rustmq.etl.on.failure": "skip" });
  await createTopic(b, "dlq", []);
  await createTopic(b, "dl", ["filter"], {
    "rustmq.etl.on.failure": "dead-letter",
    "rustmq.etl.dead.letter.topic": "dlq",
  });
  const produce = async (t: string, vs: string[]) =>
    b.broker.partitions.produce(t, 0, await valuesBatch(vs), -1);
  await assert.rejects(
    produce("rej", ["a", "trap"]),
    /Cannot transform with module 'filter' as it failed \(trap\)/,
  );
  assert.deepEqual(await storedRecords(b.broker, "rej"), []);
  await produce("skp", ["a", "trap", "b"]);
  assert.deepEqual(values(await storedRecords(b.broker, "skp")), ["a", "b"]);
  await produce("dl", ["a", "tfail", "b"]);
  assert.deepEqual(values(await storedRecords(b.broker, "dl")), ["a", "b"]);
  const letters = await storedRecords(b.broker, "dlq");
  assert.deepEqual(values(letters), ["tfail"]);
  assert.equal(letters[0]!.headers["rustmq.etl.module"], "filter");
  assert.equal(letters[0]!.headers["rustmq.etl.failure"], "trap");
  assert.equal(letters[0]!.headers["rustmq.etl.source"], "dl-0");
  const metrics = await (await fetch(`${b.http}/metrics`)).text();
  assert.match(metrics, /rustmq_etl_module_failures_total\{module="filter",kind="trap"\} 3/);
  assert.match(metrics, /rustmq_etl_failed_records_total\{topic="skp",policy="skip"\} 1/);
});

Deno.test("ETL runaway module is stopped within timeout + 1 s while another topic keeps producing", async () => {
  await using b = await startEtlBroker("[etl]\nexecution_timeout_ms = 500\n");
  await b.deploy("loop", await watToWasm(LOOP));
  await createTopic(b, "spin", ["loop"]);
  await createTopic(b, "plain", []);
  const started = performance.now();
  const spinning = b.broker.partitions.produce("spin", 0, await valuesBatch(["v"]), -1).then(
    () => null,
    (e: Error) => ({ e, ms: performance.now() - started }),
  );
  let plainDone = 0;
  for (let i = 0; i < 20; i++) {
    await b.broker.partitions.produce("plain", 0, await valuesBatch([`p${i}`]), -1);
    plainDone++;
  }
  const plainMs = performance.now() - started;
  const failed = await spinning;
  assert.ok(failed !== null, "the runaway produce must fail");
  assert.match(failed.e.message, /module 'loop' as it failed \(timeout\)/);
  assert.ok(failed.ms < 1500, `stopped after ${failed.ms} ms`);
  assert.equal(plainDone, 20);
  assert.ok(plainMs < failed.ms, "the plain topic finished while the module still spun");
  // The pool replaced the Worker: the topic works again once the chain is changed.
  await b.deploy("ok", await watToWasm(appendChar("!")));
  await b.rest("PUT", "/api/v1/topics/spin", { etl_modules: ["ok"] });
  await b.broker.partitions.produce("spin", 0, await valuesBatch(["v"]), -1);
  assert.deepEqual(values(await storedRecords(b.broker, "spin")), ["v!"]);
});

Deno.test("ETL with etl.enabled = false refuses a topic's chain with a clear error", async () => {
  await using b = await startEtlBroker("[etl]\nenabled = false\n");
  await b.deploy("a", await watToWasm(appendChar("A")));
  await createTopic(b, "off", ["a"]);
  await assert.rejects(
    b.broker.partitions.produce("off", 0, await valuesBatch(["v"]), -1),
    /Cannot run a WebAssembly ETL chain as etl.enabled is false on this broker: topic 'off'/,
  );
  await createTopic(b, "fine", []);
  await b.broker.partitions.produce("fine", 0, await valuesBatch(["v"]), -1);
});

Deno.test("ETL module growing memory past etl.memory_limit_bytes fails its batches; the broker's RSS stays bounded", async () => {
  await using b = await startEtlBroker("[etl]\nmemory_limit_bytes = 8388608\n");
  // Grows by 4 MiB on every record, writes all of it (so it is resident) and keeps it.
  const grow =
    "(memory.fill (i32.mul (memory.grow (i32.const 64)) (i32.const 65536)) (i32.const 7) (i32.const 4194304))";
  await b.deploy(
    "hog",
    await watToWasm(abiModuleWat(`${grow} ${EMIT("(local.get $vl)")} (i32.const 0)`)),
  );
  await createTopic(b, "hog", ["hog"]);
  await createTopic(b, "calm", []);
  const before = Deno.memoryUsage().rss;
  let failures = 0;
  for (let i = 0; i < 30; i++) {
    try {
      await b.broker.partitions.produce("hog", 0, await valuesBatch(["a", "b", "c"]), -1);
    } catch (e) {
      assert.match((e as Error).message, /module 'hog' as it failed \(memory\)/);
      failures++;
    }
    await b.broker.partitions.produce("calm", 0, await valuesBatch([`c${i}`]), -1);
  }
  const grownMiB = (Deno.memoryUsage().rss - before) / 1024 / 1024;
  assert.equal(failures, 30, "every batch of 3 records needs 13 MiB, past the 8 MiB limit");
  // 30 batches would have taken 390 MiB had the instances been kept.
  assert.ok(grownMiB < 150, `RSS grew by ${grownMiB.toFixed(0)} MiB`);
  assert.equal((await storedRecords(b.broker, "calm")).length, 30);
  assert.deepEqual(await storedRecords(b.broker, "hog"), []);
});
