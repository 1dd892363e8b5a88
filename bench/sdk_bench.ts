/**
 * SDK throughput and latency against an in-process standalone broker (fsync on), over TCP and
 * QUIC: produce 100 B and 1 KiB records unlimited, produce with one record in flight, and
 * consume everything back. `deno task bench sdk` runs it; `bench/peer_nats.sh` compares the
 * same workloads with NATS JetStream.
 *
 * @module
 */

import { RustMqClient } from "../client/client.ts";
import {
  type BenchResult,
  type BenchSettings,
  ensureTopic,
  newProgress,
  runConsume,
  runProduce,
} from "../client/cli/bench_runner.ts";
import { startTestBroker } from "../tests/sdk_broker.ts";

const MIB = 1024 * 1024;

interface _Row {
  workload: string;
  transport: string;
  result: BenchResult;
}

function _settings(
  topic: string,
  records: number,
  recordSize: number,
  inflight: number,
): BenchSettings {
  return {
    topic,
    records,
    recordSize,
    throughput: -1,
    ackLevel: "Leader",
    producers: 1,
    partitions: 1,
    inflight,
    compression: "none",
    lingerMs: 0,
  };
}

function _print(rows: _Row[]): void {
  console.log(
    "| workload | transport | records/s | MiB/s | p50 ms | p99 ms | p99.9 ms | max ms |\n" +
      "|---|---|---:|---:|---:|---:|---:|---:|",
  );
  for (const { workload, transport, result: r } of rows) {
    const s = r.elapsedMs / 1000;
    const l = r.latency;
    console.log(
      `| ${workload} | ${transport} | ${(r.records / s).toFixed(0)} | ${
        (r.bytes / MIB / s).toFixed(2)
      } | ${l.p50.toFixed(2)} | ${l.p99.toFixed(2)} | ${l.p999.toFixed(2)} | ${l.max.toFixed(2)} |`,
    );
  }
}

/** Runs the SDK benchmark and prints a Markdown table. */
export async function main(): Promise<void> {
  const broker = await startTestBroker();
  const rows: _Row[] = [];
  try {
    for (const [transport, url] of [["tcp", broker.tcpUrl], ["quic", broker.quicUrl]] as const) {
      const open = () => RustMqClient.connect({ brokers: [url], tls: { caCerts: [broker.caPem] } });
      const workloads: [string, BenchSettings][] = [
        ["produce 100 B", _settings(`sdk-100-${transport}`, 100_000, 100, 10_000)],
        ["produce 1 KiB", _settings(`sdk-1k-${transport}`, 50_000, 1024, 10_000)],
        ["produce 100 B, 1 in flight", _settings(`sdk-lat-${transport}`, 1000, 100, 1)],
      ];
      for (const [workload, settings] of workloads) {
        const admin = await open();
        await ensureTopic(admin, settings);
        await admin.close();
        const result = await runProduce(open, settings, newProgress(settings.records));
        rows.push({ workload, transport, result });
      }
      const consume = _settings(`sdk-100-${transport}`, 100_001, 100, 1);
      rows.push({
        workload: "consume 100 B",
        transport,
        result: await runConsume(open, consume, newProgress(consume.records)),
      });
    }
  } finally {
    await broker.close();
  }
  _print(rows);
}

if (import.meta.main) await main();
