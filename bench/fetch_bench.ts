/**
 * Fetch throughput of 1 KiB records to a real librdkafka consumer (`kcat`), against an
 * in-process standalone broker: the SDK produces the records once, then kcat reads them from
 * the start several times. It reports MiB/s and the broker's CPU seconds per GiB served (kcat
 * runs in its own process, so the broker process's CPU is the serving cost alone). The data
 * sits in the log cache or in the object store, as the standalone defaults place it.
 *
 * `deno task bench fetch [records] [rounds]`
 *
 * @module
 */

import process from "node:process";
import { RustMqClient } from "../client/client.ts";
import { ensureTopic, newProgress, runProduce } from "../client/cli/bench_runner.ts";
import type { BenchSettings } from "../client/cli/bench_runner.ts";
import { startTestBroker } from "../tests/sdk_broker.ts";

const MIB = 1024 * 1024;

async function _consumeOnce(port: number, topic: string, records: number): Promise<number> {
  const started = performance.now();
  const out = await new Deno.Command("kcat", {
    args: [
      "-C",
      "-b",
      `127.0.0.1:${port}`,
      "-t",
      topic,
      "-o",
      "beginning",
      "-c",
      String(records),
      "-e",
      "-q",
      "-f",
      "%o\n",
      "-X",
      "fetch.max.bytes=52428800",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n").length;
  if (!out.success || lines !== records) {
    throw new Error(
      `kcat read ${lines} of ${records} records: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return seconds;
}

/** Runs the fetch benchmark and prints a Markdown table. */
export async function main(): Promise<void> {
  const records = Number(Deno.args[0] ?? 100_000);
  const rounds = Number(Deno.args[1] ?? 3);
  const broker = await startTestBroker();
  try {
    const topic = "fetch-1k";
    const settings: BenchSettings = {
      topic,
      records,
      recordSize: 1024,
      throughput: -1,
      ackLevel: "Leader",
      producers: 1,
      partitions: 1,
      inflight: 10_000,
      compression: "none",
      lingerMs: 0,
    };
    const open = () =>
      RustMqClient.connect({ brokers: [broker.tcpUrl], tls: { caCerts: [broker.caPem] } });
    const admin = await open();
    await ensureTopic(admin, settings);
    await admin.close();
    await runProduce(open, settings, newProgress(records));
    const port = Number(new URL(broker.tcpUrl.replace("tcp:", "http:")).port);
    console.log(
      "| round | records | MiB/s | broker CPU s per GiB |\n|---:|---:|---:|---:|",
    );
    for (let i = 1; i <= rounds; i++) {
      const cpu = process.cpuUsage();
      const seconds = await _consumeOnce(port, topic, records);
      const used = process.cpuUsage(cpu);
      const gib = (records * 1024) / (1024 * MIB);
      console.log(
        `| ${i} | ${records} | ${((records * 1024) / MIB / seconds).toFixed(1)} | ${
          ((used.user + used.system) / 1e6 / gib).toFixed(2)
        } |`,
      );
    }
  } finally {
    await broker.close();
  }
}

if (import.meta.main) await main();
