/**
 * Partition move benchmark, the "metadata-only" claim as a number: one partition (RF=1) is
 * filled with history that the broker uploads to object storage (the harness's local object
 * directory), then moved to the other broker with a reassignment. Measured from the request to
 * the new leader serving the partition's first record, beside copying the same history at disk
 * speed (`dd ... conv=fdatasync`) in the same run.
 *
 * Run: `deno run -A --unstable-net bench/partition_move_bench.ts [--mib 512]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Cluster, getJson, waitFor } from "../tests/support/cluster_harness.ts";
import { RustMqClient } from "../mod.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const RECORD = 16 * 1024;

async function duBytes(dir: string): Promise<number> {
  const out = await new Deno.Command("du", { args: ["-sb", dir] }).output();
  return Number(new TextDecoder().decode(out.stdout).split("\t")[0]);
}

async function fill(bootstrap: string, mib: number): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      ...[
        "run",
        "-A",
        "--unstable-net",
        MAIN,
        "bench",
        "produce",
        "--bootstrap",
        `tcp://${bootstrap}`,
      ],
      ...["--topic", "history", "--records", String(Math.ceil(mib * 1024 * 1024 / RECORD))],
      ...[
        "--record-size",
        String(RECORD),
        "--acks",
        "1",
        "--partitions",
        "1",
        "--inflight",
        "256",
        "--json",
      ],
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
}

/** Seconds for the new leader to answer a fetch of the partition's first record. */
async function firstRecord(bootstrap: string[]): Promise<void> {
  const client = await RustMqClient.connect({ brokers: bootstrap.map((b) => `tcp://${b}`) });
  try {
    const consumer = client.consumer({ autoOffsetReset: "earliest", maxWaitMs: 100 });
    const tp = { topic: "history", partition: 0 };
    consumer.assign([tp]);
    await consumer.seek(tp, "earliest");
    for (let i = 0; i < 100; i++) {
      if ((await consumer.poll({ timeoutMs: 500, maxRecords: 1 })).length > 0) return;
    }
    throw new Error("the new leader served nothing");
  } finally {
    await client.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { mib: { type: "string", default: "512" } } });
  const mib = Number(values.mib);
  await using cluster = await Cluster.start({
    brokers: 2,
    controllers: 1,
    brokerConfig: { wal: ["upload_interval_ms = 500"] },
  });
  await cluster.createTopic("history", 1, 1);
  const parts = async () =>
    (await cluster.topic("history")).partition_details as { leader: number; isr: number[] }[];
  const from = (await waitFor("a leader", 20_000, async () => {
    const [p] = await parts();
    return p !== undefined && p.leader > 0 ? p : undefined;
  })).leader;
  const to = cluster.brokers.find((b) => b.id !== from)!.id;
  const objects = `${cluster.root}/objects`;
  const t0 = performance.now();
  await fill(cluster.brokers.find((b) => b.id === from)!.bootstrap, mib);
  const fillS = (performance.now() - t0) / 1000;
  // Wait for the upload: the object directory holds (about) everything produced.
  await waitFor(
    "the upload",
    120_000,
    async () => (await duBytes(objects)) >= mib * 1024 * 1024 * 0.98 || undefined,
  );
  await new Promise((r) => setTimeout(r, 1500));
  const history = await duBytes(objects);

  const url = await cluster.adminUrl();
  const m0 = performance.now();
  const res = await fetch(`${url}/api/v1/topics/history/partitions/0/reassign`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ replicas: [to] }),
  });
  if (!res.ok) throw new Error(`reassign: ${res.status} ${await res.text()}`);
  await waitFor("the new leader", 120_000, async () => {
    const [p] = await parts();
    return p?.leader === to ? true : undefined;
  });
  await firstRecord([cluster.brokers.find((b) => b.id === to)!.bootstrap]);
  const moveS = (performance.now() - m0) / 1000;
  const b = (await getJson(`${url}/api/v1/brokers`)) as {
    brokers: { node_id: number; replicas: number }[];
  };

  const copy = `${cluster.root}/dd-copy`;
  const d0 = performance.now();
  const dd = await new Deno.Command("sh", {
    args: [
      "-c",
      `find '${objects}' -type f -exec cat {} + | dd of='${copy}' bs=1M conv=fdatasync 2>/dev/null`,
    ],
  }).output();
  if (dd.code !== 0) throw new Error("dd failed");
  const ddS = (performance.now() - d0) / 1000;
  const gib = history / 2 ** 30;
  console.log(
    `history in object storage: ${gib.toFixed(2)} GiB (filled in ${fillS.toFixed(1)} s)\n` +
      `move ${from} -> ${to}, request to new leader serving offset 0: ${moveS.toFixed(3)} s\n` +
      `copy of the same bytes with dd (conv=fdatasync): ${ddS.toFixed(2)} s (${
        (gib * 1024 / ddS).toFixed(0)
      } MiB/s)\n` +
      `ratio copy/move: ${(ddS / moveS).toFixed(1)}x; replicas after: ${
        JSON.stringify(b.brokers.map((x) => [x.node_id, x.replicas]))
      }`,
  );
}

if (import.meta.main) await main();
