/**
 * `deno task bench security`: what TLS and SASL/SCRAM cost. One `rustmq standalone` per
 * listener protocol (PLAINTEXT, SSL, SASL_SSL with SCRAM-SHA-512), each measured in the same run:
 * - produce throughput of 1 KiB records from kcat (librdkafka, linger 5 ms, 1 MB batches),
 *   acks=1, as a ratio of PLAINTEXT;
 * - produce latency at one record outstanding from the SDK (p50 and p99 of acks=1 sends);
 * - the time to open an SDK connection (TLS handshake, SCRAM's PBKDF2 and two round trips).
 *
 * Usage: deno run -A --unstable-net bench/security_bench.ts [--records 200000] [--latency 2000]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ensureDevCertificates } from "../broker/net/dev_certs.ts";
import { RustMqClient } from "../client/client.ts";
import type { SaslOptions } from "../client/sasl.ts";
import { startStandalone } from "../tests/support/standalone_process.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const args = parseArgs({
  args: Deno.args,
  options: {
    records: { type: "string", default: "200000" },
    latency: { type: "string", default: "2000" },
  },
});
const RECORDS = Number(args.values.records);
const LATENCY_SENDS = Number(args.values.latency);
const PASSWORD = "bench-secret";

type Mode = "PLAINTEXT" | "SSL" | "SASL_SSL";

async function run(cmd: string, argv: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(cmd, {
    args: argv,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  if (out.code !== 0) throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function measure(mode: Mode, dir: string, recordsFile: string) {
  const data = `${dir}/${mode}`;
  await Deno.mkdir(data, { recursive: true });
  const tls = await ensureDevCertificates(`${data}/tls`);
  if (mode === "SASL_SSL") {
    await run(Deno.execPath(), [
      "run",
      "-A",
      MAIN,
      "users",
      "add",
      "bench",
      "--data",
      data,
      "--mechanism",
      "SCRAM-SHA-512",
    ], `${PASSWORD}\n`);
  }
  const config = mode === "PLAINTEXT" ? "" : [
    `tls_cert_path = "${tls.certPath}"`,
    `tls_key_path = "${tls.keyPath}"`,
    "[security]",
    `kafka_listener_protocol = "${mode}"`,
  ].join("\n");
  await using sa = await startStandalone({ dataDir: data, config });
  const kcatAuth = [
    ...(mode === "PLAINTEXT"
      ? []
      : ["-X", `security.protocol=${mode}`, "-X", `ssl.ca.location=${tls.caPath}`]),
    ...(mode === "SASL_SSL"
      ? [
        "-X",
        "sasl.mechanisms=SCRAM-SHA-512",
        "-X",
        "sasl.username=bench",
        "-X",
        `sasl.password=${PASSWORD}`,
      ]
      : []),
  ];
  const topic = "bench-security";
  const started = performance.now();
  await run("kcat", [
    "-P",
    "-b",
    sa.bootstrap,
    "-t",
    topic,
    "-p",
    "0",
    "-l",
    recordsFile,
    "-X",
    "linger.ms=5",
    "-X",
    "batch.size=1000000",
    "-X",
    "acks=1",
    ...kcatAuth,
  ]);
  const produceS = (performance.now() - started) / 1000;

  const sasl: SaslOptions | undefined = mode === "SASL_SSL"
    ? { mechanism: "SCRAM-SHA-512", username: "bench", password: PASSWORD }
    : undefined;
  const url = mode === "PLAINTEXT" ? `tcp://${sa.bootstrap}` : `tls://${sa.bootstrap}`;
  const connect = () =>
    RustMqClient.connect({
      brokers: [url],
      tls: { caCerts: [tls.caPem], serverName: "localhost" },
      ...(sasl === undefined ? {} : { sasl }),
    });
  const connectMs: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    const c = await connect();
    connectMs.push(performance.now() - t);
    await c.close();
  }
  const client = await connect();
  const producer = client.producer({ ackLevel: "Leader" });
  const value = new Uint8Array(1024).fill(120);
  const lat: number[] = [];
  for (let i = 0; i < LATENCY_SENDS; i++) {
    const t = performance.now();
    await producer.send({ topic, partition: 0, value });
    lat.push(performance.now() - t);
  }
  await client.close();
  lat.sort((a, b) => a - b);
  connectMs.sort((a, b) => a - b);
  return {
    mode,
    mibPerSec: RECORDS * 1024 / (1 << 20) / produceS,
    p50: percentile(lat, 0.5),
    p99: percentile(lat, 0.99),
    connectMs: percentile(connectMs, 0.5),
  };
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir({ prefix: "rustmq-bench-security-" });
  try {
    const recordsFile = `${dir}/records.txt`;
    const line = "x".repeat(1023) + "\n";
    await Deno.writeTextFile(recordsFile, line.repeat(RECORDS));
    const results = [];
    for (const mode of ["PLAINTEXT", "SSL", "SASL_SSL"] as const) {
      results.push(await measure(mode, dir, recordsFile));
    }
    const base = results[0]!;
    console.log(
      `\n1 KiB records, acks=1; kcat produced ${RECORDS} records; SDK latency over ${LATENCY_SENDS} sends\n`,
    );
    console.log(
      "| listener | kcat MiB/s | x PLAINTEXT | SDK p50 ms | SDK p99 ms | SDK connect ms (median of 10) |",
    );
    console.log("|---|---:|---:|---:|---:|---:|");
    for (const r of results) {
      console.log(
        `| ${r.mode} | ${r.mibPerSec.toFixed(1)} | ${(r.mibPerSec / base.mibPerSec).toFixed(2)} | ${
          r.p50.toFixed(2)
        } | ${r.p99.toFixed(2)} | ${r.connectMs.toFixed(1)} |`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
