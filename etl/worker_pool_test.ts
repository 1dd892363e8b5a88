import assert from "node:assert/strict";
import { type EtlModule, EtlPool, EtlPoolBusyError, type EtlPoolOptions } from "./worker_pool.ts";
import { EtlExecutionError } from "./etl_error.ts";
import { sha256Hex } from "./module_validation.ts";
import type { EtlOutcome } from "./chain_runner.ts";
import { abiModuleWat, watToWasm } from "./testing/wat.ts";
import { createLogger } from "../ops/logger.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const MIB = 1024 * 1024;
const EMIT_ALL = "(call $emit (local.get $kp) (local.get $kl) (local.get $vp) (local.get $vl))";

async function mod(name: string, body: string, options: { memory?: string; extra?: string } = {}) {
  const bytes = await watToWasm(abiModuleWat(body, options));
  return { name, sha256: await sha256Hex(bytes), bytes } satisfies EtlModule;
}

function pool(options: Partial<EtlPoolOptions> = {}): EtlPool {
  return new EtlPool({
    maxConcurrentExecutions: 2,
    executionTimeoutMs: 2000,
    memoryLimitBytes: 2 * MIB,
    batchSize: 100,
    ...options,
  });
}

interface Rec {
  key: Uint8Array | null;
  value: Uint8Array | null;
  timestampMs: number;
  headers: [string, string][];
}
const rec = (key: string | null, value: string | null, timestampMs = 7): Rec => ({
  key: key === null ? null : enc.encode(key),
  value: value === null ? null : enc.encode(value),
  timestampMs,
  headers: [["h", "v"]],
});
const text = (o: EtlOutcome<Rec>) => {
  if ("failure" in o) return `failed:${o.failure.kind}:${o.failure.module}`;
  return o.records.map((r) =>
    `${r.key === null ? "<null>" : dec.decode(r.key)}=${
      r.value === null ? "<null>" : dec.decode(r.value)
    }`
  ).join("|");
};

// Upper-cases ASCII a-z of the value in place, then emits the record.
const UPPER = `(local $i i32) (local $c i32)
  (block $done (loop $next
    (br_if $done (i32.ge_s (local.get $i) (local.get $vl)))
    (local.set $c (i32.load8_u (i32.add (local.get $vp) (local.get $i))))
    (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
      (then (i32.store8 (i32.add (local.get $vp) (local.get $i)) (i32.sub (local.get $c) (i32.const 32)))))
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br $next)))
  ${EMIT_ALL} (i32.const 0)`;
// Drops records whose value starts with 'x'.
const FILTER = `(if (i32.and (i32.gt_s (local.get $vl) (i32.const 0))
      (i32.eq (i32.load8_u (local.get $vp)) (i32.const 120)))
    (then (return (i32.const 0))))
  ${EMIT_ALL} (i32.const 0)`;
// Splits the value into its two halves, the second with a null key.
const SPLIT = `(local $h i32) (local.set $h (i32.div_u (local.get $vl) (i32.const 2)))
  (call $emit (local.get $kp) (local.get $kl) (local.get $vp) (local.get $h))
  (call $emit (i32.const 0) (i32.const -1) (i32.add (local.get $vp) (local.get $h))
    (i32.sub (local.get $vl) (local.get $h)))
  (i32.const 0)`;
// Appends one byte to the value (alloc's area has room after it).
const append = (ch: string) =>
  `(i32.store8 (i32.add (local.get $vp) (local.get $vl)) (i32.const ${ch.charCodeAt(0)}))
  (call $emit (local.get $kp) (local.get $kl) (local.get $vp) (i32.add (local.get $vl) (i32.const 1)))
  (i32.const 0)`;

Deno.test("EtlPool maps, filters and splits records, keeping timestamp and headers", async () => {
  const p = pool();
  try {
    const [upper, filter, split] = await Promise.all([
      mod("upper", UPPER),
      mod("filter", FILTER),
      mod("split", SPLIT),
    ]);
    const input = [rec("k1", "hello", 11), rec("k2", "xdrop", 12), rec("k3", "abcd", 13)];
    assert.deepEqual((await p.run([upper], input)).map(text), ["k1=HELLO", "k2=XDROP", "k3=ABCD"]);
    assert.deepEqual((await p.run([filter], input)).map(text), ["k1=hello", "", "k3=abcd"]);
    const splitOut = await p.run([split], input);
    assert.deepEqual(splitOut.map(text), [
      "k1=he|<null>=llo",
      "k2=xd|<null>=rop",
      "k3=ab|<null>=cd",
    ]);
    const first = splitOut[2]!;
    assert.ok("records" in first);
    assert.deepEqual(first.records.map((r) => [r.timestampMs, r.headers]), [
      [13, [["h", "v"]]],
      [13, [["h", "v"]]],
    ]);
  } finally {
    p.close();
  }
});

Deno.test("EtlPool passes a null key and a tombstone as length -1, and a module can emit them", async () => {
  const p = pool();
  try {
    const identity = await mod("identity", `${EMIT_ALL} (i32.const 0)`);
    assert.deepEqual(
      (await p.run([identity], [rec(null, "v"), rec("k", null), rec("", "")])).map(text),
      [
        "<null>=v",
        "k=<null>",
        "=",
      ],
    );
    // A module that turns every record into a tombstone of the same key.
    const tomb = await mod(
      "tomb",
      "(call $emit (local.get $kp) (local.get $kl) (i32.const 0) (i32.const -1)) (i32.const 0)",
    );
    assert.deepEqual((await p.run([tomb], [rec("k", "v")])).map(text), ["k=<null>"]);
    // The module sees -1, not 0: it emits its value length as the key's first byte.
    const lens = await mod(
      "lens",
      `(i32.store (i32.const 0) (local.get $kl)) (i32.store (i32.const 4) (local.get $vl))
       (call $emit (i32.const 0) (i32.const 4) (i32.const 4) (i32.const 4)) (i32.const 0)`,
    );
    const out = await p.run([lens], [rec(null, null)]);
    const o = out[0]!;
    assert.ok("records" in o);
    const view = (b: Uint8Array | null) => new DataView(b!.buffer, b!.byteOffset).getInt32(0, true);
    assert.deepEqual([view(o.records[0]!.key), view(o.records[0]!.value)], [-1, -1]);
  } finally {
    p.close();
  }
});

Deno.test("EtlPool runs a chain [a, b] in order and across batch_size slices", async () => {
  const p = pool({ batchSize: 2 });
  try {
    const [a, b, split] = await Promise.all([
      mod("a", append("A")),
      mod("b", append("B")),
      mod("s", SPLIT),
    ]);
    const input = ["1", "2", "3", "4", "5"].map((v) => rec("k", `v${v}`));
    assert.deepEqual((await p.run([a, b], input)).map(text), [
      "k=v1AB",
      "k=v2AB",
      "k=v3AB",
      "k=v4AB",
      "k=v5AB",
    ]);
    assert.deepEqual((await p.run([b, a], [rec("k", "x")])).map(text), ["k=xBA"]);
    // Every record a emits feeds b.
    assert.deepEqual((await p.run([split, a], [rec("k", "wxyz")])).map(text), ["k=wxA|<null>=yzA"]);
    // One module twice, and a split between stages, over several records: what a stage hands
    // the next is its own copy, not overwritten by the same module's next call or record.
    assert.deepEqual(
      (await p.run([a, a, split, a], [rec("k", "v1"), rec("k", "w2")])).map(text),
      ["k=v1A|<null>=AAA", "k=w2A|<null>=AAA"],
    );
  } finally {
    p.close();
  }
});

Deno.test("EtlPool reuses one instance per module across batches", async () => {
  const p = pool({ maxConcurrentExecutions: 1 });
  try {
    // Counts records in a global and emits the count as the value.
    const counter = await mod(
      "counter",
      `(global.set $n (i32.add (global.get $n) (i32.const 1)))
       (i32.store8 (i32.const 0) (i32.add (i32.const 48) (global.get $n)))
       (call $emit (local.get $kp) (local.get $kl) (i32.const 0) (i32.const 1)) (i32.const 0)`,
      { extra: "(global $n (mut i32) (i32.const 0))" },
    );
    assert.deepEqual((await p.run([counter], [rec("k", ""), rec("k", "")])).map(text), [
      "k=1",
      "k=2",
    ]);
    assert.deepEqual((await p.run([counter], [rec("k", "")])).map(text), ["k=3"]);
    assert.equal(p.workerCount, 1);
  } finally {
    p.close();
  }
});

Deno.test("EtlPool fails a record on a trap or a non-zero return and keeps the others", async () => {
  const p = pool();
  try {
    // Traps when the value starts with 't', returns 5 when it starts with 'r'.
    const picky = await mod(
      "picky",
      `(if (i32.eq (i32.load8_u (local.get $vp)) (i32.const 116)) (then unreachable))
       (if (i32.eq (i32.load8_u (local.get $vp)) (i32.const 114)) (then (return (i32.const 5))))
       ${EMIT_ALL} (i32.const 0)`,
    );
    const out = await p.run([picky], [
      rec("k", "ok"),
      rec("k", "trap"),
      rec("k", "ret"),
      rec("k", "ok2"),
    ]);
    assert.deepEqual(out.map(text), [
      "k=ok",
      "failed:trap:picky",
      "failed:non_zero_return:picky",
      "k=ok2",
    ]);
    const ret = out[2]!;
    assert.ok("failure" in ret);
    assert.match(ret.failure.message, /transform returned 5/);
  } finally {
    p.close();
  }
});

Deno.test("EtlPool stops a module that loops forever within the timeout and keeps serving", async () => {
  const timeoutMs = 300;
  const p = pool({ executionTimeoutMs: timeoutMs, maxConcurrentExecutions: 1 });
  try {
    const [spin, identity] = await Promise.all([
      mod("spin", "(loop $l (br $l)) (i32.const 0)"),
      mod("identity", `${EMIT_ALL} (i32.const 0)`),
    ]);
    const started = performance.now();
    await assert.rejects(p.run([spin], [rec("k", "v")]), (e: unknown) => {
      assert.ok(e instanceof EtlExecutionError);
      assert.equal(e.kind, "timeout");
      assert.match(e.message, /module 'spin'.*execution_timeout_ms \(300\)/);
      return true;
    });
    assert.ok(performance.now() - started < timeoutMs + 1000);
    // The Worker was replaced: another module runs at once on the single slot.
    assert.deepEqual((await p.run([identity], [rec("k", "v")])).map(text), ["k=v"]);
  } finally {
    p.close();
  }
});

Deno.test("EtlPool fails a batch whose module grows memory past the limit", async () => {
  const p = pool({ memoryLimitBytes: 2 * MIB, maxConcurrentExecutions: 1 });
  try {
    // Grows by 64 pages (4 MiB) on each record.
    const hog = await mod("hog", `(drop (memory.grow (i32.const 64))) ${EMIT_ALL} (i32.const 0)`);
    await assert.rejects(p.run([hog], [rec("k", "v")]), (e: unknown) => {
      assert.ok(e instanceof EtlExecutionError);
      assert.equal(e.kind, "memory");
      assert.match(e.message, /module 'hog'.*above etl.memory_limit_bytes \(2097152\)/);
      return true;
    });
    assert.equal(p.workerCount, 0, "the Worker holding the memory is terminated");
    const identity = await mod("identity", `${EMIT_ALL} (i32.const 0)`);
    assert.deepEqual((await p.run([identity], [rec("k", "v")])).map(text), ["k=v"]);
  } finally {
    p.close();
  }
});

Deno.test("EtlPool runs at most max_concurrent_executions batches at once", async () => {
  const p = pool({ maxConcurrentExecutions: 2 });
  try {
    const identity = await mod("identity", `${EMIT_ALL} (i32.const 0)`);
    const runs = Array.from({ length: 6 }, (_, i) => p.run([identity], [rec("k", `${i}`)]));
    assert.ok(p.workerCount <= 2);
    const out = await Promise.all(runs);
    assert.deepEqual(out.map((o) => text(o[0]!)), ["k=0", "k=1", "k=2", "k=3", "k=4", "k=5"]);
    assert.equal(p.workerCount, 2);
  } finally {
    p.close();
  }
});

Deno.test("EtlPool forwards rustmq.log lines to the logger, rate-limited", async () => {
  const lines: string[] = [];
  const logger = createLogger("etl", { sink: (l) => lines.push(l), now: () => 0 });
  const p = pool({ logger, logLinesPerSecondMax: 2, now: () => 0 });
  try {
    const talker = await mod(
      "talker",
      `(call $log (i32.const 16) (i32.const 5)) ${EMIT_ALL} (i32.const 0)`,
      { extra: `(data (i32.const 16) "hello")` },
    );
    await p.run([talker], [rec("k", "1"), rec("k", "2"), rec("k", "3")]);
    // Log lines arrive before the batch's answer on the same channel.
    const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "hello");
    assert.equal(logged.length, 2);
    assert.equal(logged[0].module, "talker");
  } finally {
    p.close();
  }
});

Deno.test("EtlPool refuses batches past its wait queue with a retriable error", async () => {
  const p = pool({ maxConcurrentExecutions: 1, queuedBatchesMax: 1 });
  try {
    const identity = await mod("identity", `${EMIT_ALL} (i32.const 0)`);
    const running = p.run([identity], [rec("k", "1")]);
    const queued = p.run([identity], [rec("k", "2")]);
    await assert.rejects(p.run([identity], [rec("k", "3")]), (e: unknown) => {
      assert.ok(e instanceof EtlPoolBusyError);
      assert.equal(e.retriable, true);
      return true;
    });
    assert.deepEqual([(await running).map(text), (await queued).map(text)], [["k=1"], ["k=2"]]);
  } finally {
    p.close();
  }
});

Deno.test("EtlPool fails a batch whose module cannot be instantiated, and keeps serving", async () => {
  const p = pool({ maxConcurrentExecutions: 1 });
  try {
    // A start function runs at instantiation, before any record: here it traps.
    const bytes = await watToWasm(
      abiModuleWat("(i32.const 0)", { extra: "(func $start unreachable) (start $start)" }),
    );
    const broken = { name: "broken", sha256: await sha256Hex(bytes), bytes };
    await assert.rejects(p.run([broken], [rec("k", "v")]), (e: unknown) => {
      assert.ok(e instanceof EtlExecutionError);
      assert.equal(e.kind, "abi");
      assert.match(e.message, /module 'broken'.*instantiation failed/);
      return true;
    });
    const identity = await mod("identity", `${EMIT_ALL} (i32.const 0)`);
    assert.deepEqual((await p.run([identity], [rec("k", "v")])).map(text), ["k=v"]);
  } finally {
    p.close();
  }
});

Deno.test("EtlPool.close fails running and waiting batches instead of leaving them pending", async () => {
  const p = pool({ maxConcurrentExecutions: 1, executionTimeoutMs: 5000 });
  const spin = await mod("spin", "(loop $l (br $l)) (i32.const 0)");
  const running = p.run([spin], [rec("k", "1")]);
  const waiting = p.run([spin], [rec("k", "2")]);
  await new Promise((r) => setTimeout(r, 50));
  p.close();
  await assert.rejects(running, /closed/);
  await assert.rejects(waiting, /closed/);
  assert.equal(p.workerCount, 0);
});
