/**
 * `deno task bench`: runs every benchmark in `bench/`, one after another so they never compete
 * for the machine's two cores, and lets each print its own table. `deno task bench NAME` runs
 * one of them.
 *
 * @module
 */

const BENCHES: readonly { name: string; cmd: string[] }[] = [
  {
    name: "wal",
    cmd: [Deno.execPath(), "run", "--allow-all", "--unstable-net", "bench/wal_bench.ts"],
  },
  {
    name: "tiering",
    cmd: [Deno.execPath(), "run", "--allow-all", "--unstable-net", "bench/tiering_bench.ts"],
  },
  {
    // Sustained ingest from a C librdkafka producer, as ratios of dd on the same disk.
    name: "ingest",
    cmd: ["bash", "bench/ingest.sh"],
  },
  {
    // The SDK producer at 100 B against kafkajs on the same broker, in the same run.
    name: "producer",
    cmd: [Deno.execPath(), "run", "--allow-all", "--unstable-net", "bench/producer_peer.ts"],
  },
  {
    // acks=all on RF=3 against acks=1 on RF=1, on three local brokers, in the same run.
    name: "replication",
    cmd: [Deno.execPath(), "run", "--allow-all", "--unstable-net", "bench/replication_bench.ts"],
  },
  {
    // Fetch of 1 KiB records to kcat: MiB/s and the broker's CPU seconds per GiB served.
    name: "fetch",
    cmd: [Deno.execPath(), "run", "--allow-all", "--unstable-net", "bench/fetch_bench.ts"],
  },
  {
    // Rows/s of 1 KiB JSON through the BigQuery sink into the fake insertAll server.
    name: "subscriber",
    cmd: [Deno.execPath(), "run", "--allow-all", "bench/subscriber_bench.ts"],
  },
  {
    // TLS and SASL/SCRAM against PLAINTEXT: kcat throughput, SDK latency and connect time.
    name: "security",
    cmd: [Deno.execPath(), "run", "--allow-all", "--unstable-net", "bench/security_bench.ts"],
  },
  {
    name: "etl",
    cmd: [Deno.execPath(), "run", "--allow-all", "bench/etl_bench.ts"],
  },
  {
    name: "txn",
    cmd: [Deno.execPath(), "run", "--allow-all", "bench/txn_bench.ts", "--records", "30000"],
  },
];

if (import.meta.main) {
  const only = Deno.args[0];
  let failed = 0;
  for (const b of BENCHES) {
    if (only !== undefined && b.name !== only) continue;
    console.log(`\n## ${b.name}\n`);
    const { code } = await new Deno.Command(b.cmd[0]!, {
      args: [...b.cmd.slice(1), ...Deno.args.slice(1)],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (code !== 0) {
      console.log(`benchmark ${b.name} failed with exit code ${code}`);
      failed++;
    }
  }
  Deno.exit(failed === 0 ? 0 : 1);
}
