/**
 * ETL stage throughput: batches of 1 KiB and 100 B records through `transformBatch` with chains
 * of 0, 1 and 3 identity modules, printed as records/s and as a ratio to the chain of 0. This
 * measures the stage alone (decode, Worker round trip, modules, re-encode), not a whole produce:
 * chains do not run on the produce path yet. Chain 0 is the stage's pass-through (a decode), so
 * the ratio is to that floor, not to a plain topic's produce throughput.
 *
 * Measured on the shared 2-core dev machine (500-record batches), with records packed into one
 * transferred ArrayBuffer each way: 1 KiB records 180k/s with one module, 126k/s with three;
 * 100 B records 450k/s and 283k/s. Structured-cloning every key and value instead gave 160k/s
 * and 269k/s with one module. At 1 KiB the remaining cost is copying bytes (into the packed
 * buffer, into and out of wasm memory, into the reply) and re-encoding (about 0.7 ms a batch).
 *
 * `deno run -A bench/etl_bench.ts [seconds_per_case]`
 *
 * @module
 */

import { buildBatch } from "../protocol/record/record_batch.ts";
import { transformBatch } from "../broker/produce/transform_stage.ts";
import { type EtlModule, EtlPool } from "../etl/worker_pool.ts";
import { sha256Hex } from "../etl/module_validation.ts";
import { abiModuleWat, watToWasm } from "../etl/testing/wat.ts";

const SECONDS = Number(Deno.args[0] ?? "1.5");
const RECORDS_PER_BATCH = 500;

async function identity(name: string): Promise<EtlModule> {
  const bytes = await watToWasm(abiModuleWat(
    "(call $emit (local.get $kp) (local.get $kl) (local.get $vp) (local.get $vl)) (i32.const 0)",
  ));
  return { name, sha256: await sha256Hex(bytes), bytes };
}

async function measure(batch: Uint8Array, chain: EtlModule[], pool: EtlPool): Promise<number> {
  // One warm-up batch compiles the modules in the Worker.
  await transformBatch(batch, chain, { pool });
  let records = 0;
  const started = performance.now();
  while (performance.now() - started < SECONDS * 1000) {
    const r = await transformBatch(batch, chain, { pool });
    records += r.recordsIn;
  }
  return records / ((performance.now() - started) / 1000);
}

if (import.meta.main) {
  const pool = new EtlPool({
    maxConcurrentExecutions: 1,
    executionTimeoutMs: 5000,
    memoryLimitBytes: 64 * 1024 * 1024,
    batchSize: 1000,
  });
  const mods = await Promise.all(["a", "b", "c"].map(identity));
  console.log("| record | chain | records/s | vs chain 0 |\n|---|---|---|---|");
  try {
    for (const size of [1024, 100]) {
      const value = new Uint8Array(size).fill(120);
      const batch = await buildBatch(
        Array.from({ length: RECORDS_PER_BATCH }, (_, i) => ({ value, timestamp: i })),
        { producerId: 1, producerEpoch: 0, baseSequence: 0 },
      );
      let base = 0;
      for (const n of [0, 1, 3]) {
        const rate = await measure(batch, mods.slice(0, n), pool);
        if (n === 0) base = rate;
        console.log(
          `| ${size} B | ${n} | ${Math.round(rate)} | ${(rate / base * 100).toFixed(0)}% |`,
        );
      }
    }
  } finally {
    pool.close();
  }
}
