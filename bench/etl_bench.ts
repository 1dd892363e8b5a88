/**
 * ETL on the produce path: batches of 1 KiB and 100 B records produced to topics with chains
 * of 0, 1 and 3 identity modules on a standalone-like broker (embedded controller, real WAL on
 * disk), through `PartitionManager.produce` with acks=1 and 4 batches in flight. Printed as
 * records/s and as a ratio to the chain of 0, which is the plain topic's produce path. The
 * network and client are left out, so the figures are the broker's own.
 *
 * Every case is warmed up, then measured in interleaved rounds (the order rotated each round);
 * each round's figure is a ratio to that round's plain run, and the medians are printed, with
 * the process's CPU time per record (all threads) as a ratio to plain's, which the machine's
 * other load disturbs much less than records/s.
 *
 * Measured on the shared 2-core dev machine (load average 4-17 from other work), 500-record
 * batches, 5 rounds of 1.5 s, the code before and after alternating: one module at 1 KiB went
 * from 40-82% of plain (median of 9 runs 50%) to 59-87% (median of 10 runs 70%), its CPU per
 * record from 2.2-3.1x plain's to 1.6-2.1x. Three modules at 1 KiB: 31-47% before, 47-60%
 * after (2.2-2.5x CPU); 100 B records, one module 25-47% before, 44-51% after (3.5-3.7x CPU),
 * three 17-26% before, 29-33% after (5.5-6.2x CPU).
 *
 * What limits it, from `--v8-flags=--prof` profiles of the 1 KiB one-module case: a chain's
 * batch is decoded, run through the modules and re-encoded in a Worker, and the stored output
 * is new memory: in the Worker, 45% of its time is the first write of each emitted record into
 * the fresh output buffer (a page fault per 4 KiB, about 0.3 ms per 512 KiB batch); the rest is
 * the decode, a JS-to-wasm call pair and a copy into wasm memory per record, and the CRC. The
 * main thread copies the batch once into a buffer a Worker handed back (no page faults) and
 * posts it. With 100 B records and with three modules, the per-record costs dominate: each
 * record crosses into wasm and back once per module (alloc, transform, emit) and is copied
 * into each module's memory and, between modules, into an arena.
 *
 * `deno run -A bench/etl_bench.ts [seconds_per_case] [rounds]`
 *
 * @module
 */

import process from "node:process";
import { buildBatch } from "../protocol/record/record_batch.ts";
import { type EtlTestBroker, startEtlBroker, waitLeader } from "../tests/support/etl_broker.ts";
import { abiModuleWat, watToWasm } from "../etl/testing/wat.ts";

const SECONDS = Number(Deno.args[0] ?? "1.5");
const ROUNDS = Number(Deno.args[1] ?? "5");
const RECORDS_PER_BATCH = 500;
const IN_FLIGHT = 4;
const SIZES = [1024, 100] as const;
const CHAINS = [0, 1, 3] as const;

function identity(): Promise<Uint8Array> {
  return watToWasm(abiModuleWat(
    "(call $emit (local.get $kp) (local.get $kl) (local.get $vp) (local.get $vl)) (i32.const 0)",
  ));
}

/**
 * Records/s of `batch` produced to partition 0 of `topic` for `seconds`, 4 batches in flight,
 * and the process's CPU microseconds per record (every thread: main, Workers, I/O).
 */
async function measure(
  b: EtlTestBroker,
  topic: string,
  batch: Uint8Array,
  seconds: number,
): Promise<{ rate: number; cpuPerRecord: number }> {
  let records = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const lane = async () => {
    while (performance.now() - started < seconds * 1000) {
      await b.broker.partitions.produce(topic, 0, batch, 1);
      records += RECORDS_PER_BATCH;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  const rate = records / ((performance.now() - started) / 1000);
  const used = process.cpuUsage(cpu);
  return { rate, cpuPerRecord: (used.user + used.system) / records };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  await using b = await startEtlBroker("[etl]\nmax_concurrent_executions = 2\n");
  for (const name of ["a", "b", "c"]) await b.deploy(name, await identity());
  const cases: { size: number; chain: number; topic: string; batch: Uint8Array }[] = [];
  for (const size of SIZES) {
    const value = new Uint8Array(size).fill(120);
    const batch = await buildBatch(
      Array.from({ length: RECORDS_PER_BATCH }, (_, i) => ({ value, timestamp: i })),
    );
    for (const chain of CHAINS) {
      const topic = `bench-${size}-${chain}`;
      const r = await b.rest("POST", "/api/v1/topics", {
        name: topic,
        partitions: 1,
        replication_factor: 1,
        etl_modules: ["a", "b", "c"].slice(0, chain),
      });
      if (r.status !== 201) throw new Error(JSON.stringify(r.json));
      await waitLeader(b, topic);
      cases.push({ size, chain, topic, batch });
    }
  }
  // Warm-up: every case runs briefly first (Worker modules compiled, JIT warm, WAL files open).
  for (const c of cases) await measure(b, c.topic, c.batch, Math.min(0.3, SECONDS));
  const rates = new Map<typeof cases[number], number[]>(cases.map((c) => [c, []]));
  const ratios = new Map<typeof cases[number], number[]>(cases.map((c) => [c, []]));
  const cpuRatios = new Map<typeof cases[number], number[]>(cases.map((c) => [c, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const size of SIZES) {
      const group = cases.filter((c) => c.size === size);
      // Rotated each round, so no case always runs first, last, or after the same neighbour.
      const order = group.map((_, i) => group[(i + round) % group.length]!);
      const got = new Map<typeof cases[number], { rate: number; cpuPerRecord: number }>();
      for (const c of order) got.set(c, await measure(b, c.topic, c.batch, SECONDS));
      const base = got.get(group[0]!)!;
      for (const c of group) {
        const m = got.get(c)!;
        rates.get(c)!.push(m.rate);
        ratios.get(c)!.push(m.rate / base.rate);
        cpuRatios.get(c)!.push(m.cpuPerRecord / base.cpuPerRecord);
      }
    }
  }
  console.log(
    `${ROUNDS} rounds of ${SECONDS} s a case; medians, and each round's ratio to chain 0 in that round\n`,
  );
  console.log(
    "| record | chain | records/s | vs chain 0 | per round | CPU per record vs chain 0 |\n|---|---|---|---|---|---|",
  );
  for (const c of cases) {
    const per = ratios.get(c)!.map((r) => (r * 100).toFixed(0)).join(" ");
    console.log(
      `| ${c.size} B | ${c.chain} | ${Math.round(median(rates.get(c)!))} | ${
        (median(ratios.get(c)!) * 100).toFixed(0)
      }% | ${per} | ${median(cpuRatios.get(c)!).toFixed(2)}x |`,
    );
  }
}

if (import.meta.main) {
  await main();
  // A broker that created a topic and took a produce leaves something alive after close (the
  // bench before this one hung there too); the figures are printed, so end here.
  Deno.exit(0);
}
