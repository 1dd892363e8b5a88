/**
 * Transactions benchmark: produce throughput of a transactional producer (100 records per
 * transaction) beside an idempotent one, 1 KiB records, against the same standalone process
 * in the same run. The client is librdkafka (Debian's python3-confluent-kafka), so the figures
 * are the broker's and not a JavaScript client's; each transaction costs AddPartitionsToTxn,
 * EndTxn and one marker per partition, all written with acks=all.
 *
 * Run: `deno run -A bench/txn_bench.ts [--records 50000] [--record-size 1024] [--per-txn 100]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startStandalone } from "../tests/support/standalone_process.ts";

const _PRODUCER = `
import json, sys, time
from confluent_kafka import Producer
bs, topic, mode, n, size, per = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
conf = {"bootstrap.servers": bs, "enable.idempotence": True, "linger.ms": 5}
if mode == "txn":
    conf["transactional.id"] = "bench-" + topic
p = Producer(conf)
value = b"x" * size
if mode == "txn":
    p.init_transactions(30)
start = time.time()
sent = 0
while sent < n:
    if mode == "txn":
        p.begin_transaction()
    for _ in range(min(per, n - sent)):
        while True:
            try:
                p.produce(topic, value)
                break
            except BufferError:
                p.poll(0.01)
        sent += 1
    if mode == "txn":
        p.commit_transaction(30)
    else:
        p.poll(0)
p.flush(30)
secs = time.time() - start
print(json.dumps({"records": sent, "secs": secs}))
`;

async function _run(
  bootstrap: string,
  topic: string,
  mode: string,
  n: number,
  size: number,
  per: number,
) {
  const out = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", _PRODUCER, bootstrap, topic, mode, String(n), String(size), String(per)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  const r = JSON.parse(new TextDecoder().decode(out.stdout)) as { records: number; secs: number };
  return {
    recordsPerSec: Math.round(r.records / r.secs),
    mibPerSec: (r.records * size) / r.secs / (1 << 20),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      records: { type: "string", default: "50000" },
      "record-size": { type: "string", default: "1024" },
      "per-txn": { type: "string", default: "100" },
    },
  });
  const n = Number(values.records);
  const size = Number(values["record-size"]);
  const per = Number(values["per-txn"]);
  await using sa = await startStandalone();
  const rows: string[] = [];
  for (const mode of ["idempotent", "txn"]) {
    const r = await _run(sa.bootstrap, `bench-${mode}`, mode, n, size, per);
    const label = mode === "txn" ? `transactional (${per}/txn)` : "idempotent";
    rows.push(
      `| ${label} | ${n} | ${r.recordsPerSec} | ${r.mibPerSec.toFixed(1)} |`,
    );
  }
  console.log(`\nTransactional vs idempotent produce, ${size} B records, librdkafka, standalone\n`);
  console.log("| producer | records | records/s | MiB/s |");
  console.log("|---|---:|---:|---:|");
  for (const r of rows) console.log(r);
}
