/**
 * Replication benchmark: produce throughput and latency with acks=all on RF=3 (min ISR 2)
 * beside acks=1 on RF=1, on the same three-broker cluster (real processes on loopback), in the
 * same run, through `rustmq bench produce`.
 *
 * Run: `deno run -A bench/replication_bench.ts [--records 50000] [--record-size 1024]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Cluster } from "../tests/support/cluster_harness.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

interface BenchJson {
  records: number;
  records_per_sec: number;
  mib_per_sec: number;
  latency_ms: { p50: number; p99: number; p999: number; max: number };
}

async function benchProduce(
  bootstrap: string,
  topic: string,
  acks: string,
  records: number,
  size: number,
  inflight: number,
) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-net",
      MAIN,
      "bench",
      "produce",
      "--bootstrap",
      bootstrap,
      "--topic",
      topic,
      "--records",
      String(records),
      "--record-size",
      String(size),
      "--acks",
      acks,
      "--partitions",
      "6",
      "--inflight",
      String(inflight),
      "--json",
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  return JSON.parse(text) as BenchJson;
}

/** Runs the benchmark and prints its table. */
export async function main(args: string[] = []): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      records: { type: "string", default: "50000" },
      "record-size": { type: "string", default: "1024" },
    },
  });
  const records = Number(values.records);
  const size = Number(values["record-size"]);
  await using cluster = await Cluster.start({ brokers: 3 });
  await cluster.createTopic("bench-rf3", 6, 3, { "min.insync.replicas": "2" });
  await cluster.createTopic("bench-rf1", 6, 1);
  await new Promise((r) => setTimeout(r, 2000));
  const bootstrap = `tcp://${cluster.bootstrap()[0]}`;
  const rows: Record<string, string | number>[] = [];
  for (
    const [label, topic, acks, inflight] of [
      ["acks=1, RF=1, unlimited", "bench-rf1", "1", 10000],
      ["acks=all, RF=3, unlimited", "bench-rf3", "all", 10000],
      ["acks=1, RF=1, one outstanding", "bench-rf1", "1", 1],
      ["acks=all, RF=3, one outstanding", "bench-rf3", "all", 1],
    ] as const
  ) {
    const r = await benchProduce(
      bootstrap,
      topic,
      acks,
      label.includes("one outstanding") ? Math.min(records, 5000) : records,
      size,
      inflight,
    );
    rows.push({
      workload: label,
      "records/s": Math.round(r.records_per_sec),
      "MiB/s": r.mib_per_sec.toFixed(1),
      "p50 ms": r.latency_ms.p50.toFixed(2),
      "p99 ms": r.latency_ms.p99.toFixed(2),
    });
  }
  console.table(rows);
  const rate = (i: number) => Number(rows[i]!["records/s"]);
  console.log(`acks=all RF=3 / acks=1 RF=1 throughput: ${(rate(1) / rate(0)).toFixed(2)}`);
}

if (import.meta.main) await main(Deno.args);
