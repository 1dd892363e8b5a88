/**
 * A real pre-0.11 client against an in-process broker: Debian's kafka-python 2.0 pinned with
 * `api_version` to the request versions old brokers spoke. (0, 9) sends Produce v1 and Fetch v1
 * with magic 0 messages and ListOffsets v0; (0, 10, 0) sends Produce v2 and Fetch v2 with magic 1
 * and ListOffsets v0, as kafka-go 0.2 and Burrow do; (0, 10, 1) moves to Fetch v3 and ListOffsets
 * v1. Each run produces (gzip or plain), then reads from the earliest offset and asks the latest.
 */

import assert from "node:assert/strict";
import * as m from "../protocol/kafka/messages/mod.ts";
import { ApiKey } from "../protocol/kafka/api_keys.ts";
import { buildBatch } from "../protocol/record/record_batch.ts";
import { RawKafkaClient } from "./support/raw_kafka_client.ts";
import { startTestBroker } from "./support/in_process_broker.ts";

const TEST_OPTS = { sanitizeOps: false, sanitizeResources: false };
const PYTHON = "/usr/bin/python3";

const _PY = `
import json, sys, time
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
bs, topic, ver, comp, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ver = tuple(int(x) for x in ver.split("."))
p = KafkaProducer(bootstrap_servers=bs, api_version=ver, linger_ms=20,
                  compression_type=None if comp == "none" else comp)
futures = [p.send(topic, key=(b"k%d" % i) if i % 2 == 0 else None, value=b"v%d" % i,
                  partition=0, timestamp_ms=(1_700_000_000_000 + i) if ver >= (0, 10) else None)
           for i in range(5)]
p.flush(10)
offsets = [f.get(10).offset for f in futures]
p.close()
c = KafkaConsumer(bootstrap_servers=bs, api_version=ver, group_id=None,
                  enable_auto_commit=False)
tp = TopicPartition(topic, 0)
c.assign([tp])
c.seek_to_beginning(tp)
start = c.position(tp)
got, deadline = [], time.time() + 15
while len(got) < n and time.time() < deadline:
    for records in c.poll(timeout_ms=200).values():
        for r in records:
            got.append([r.offset, r.key and r.key.decode(), r.value.decode(), r.timestamp])
c.seek_to_end(tp)
end = c.position(tp)
c.close()
print(json.dumps({"offsets": offsets, "start": start, "end": end, "got": got}))
`;

async function _python(args: string[]): Promise<{
  offsets: number[];
  start: number;
  end: number;
  got: [number, string | null, string, number | null][];
}> {
  const out = await new Deno.Command(PYTHON, {
    args: ["-c", _PY, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `kafka-python failed: ${stderr}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** One record written first by a current producer (RecordBatch v2), for down-conversion. */
async function _produceV2(port: number, topic: string): Promise<void> {
  await using c = await RawKafkaClient.connect(port);
  const records = await buildBatch([
    { value: new TextEncoder().encode("modern"), timestamp: 1_600_000_000_000 },
  ], { compression: "snappy" });
  const res = await c.request(ApiKey.Produce, 9, (w) =>
    m.encodeProduceRequest(w, {
      ...m.createProduceRequest(),
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
    }, 9), m.decodeProduceResponse);
  assert.equal(res.responses[0]!.partitionResponses[0]!.errorCode, 0);
}

const _CASES = [
  { ver: "0.9", comp: "none", timestamps: false },
  { ver: "0.10.0", comp: "gzip", timestamps: true },
  { ver: "0.10.1", comp: "gzip", timestamps: true },
] as const;

for (const { ver, comp, timestamps } of _CASES) {
  Deno.test(
    `kafka-python api_version=${ver} (${comp}) produces, consumes and lists offsets`,
    TEST_OPTS,
    async () => {
      await using b = await startTestBroker();
      const topic = `py-${ver.replaceAll(".", "-")}`;
      await b.broker.metadata.createTopic(topic, 1, 1);
      await b.broker.partitions.syncWithMetadata();
      await _produceV2(b.port, topic);
      const out = await _python([`127.0.0.1:${b.port}`, topic, ver, comp, "6"]);
      assert.deepEqual(out.offsets, [1, 2, 3, 4, 5]);
      assert.equal(out.start, 0, "earliest offset");
      assert.equal(out.end, 6, "latest offset");
      assert.deepEqual(out.got.map(([o, k, v]) => [o, k, v]), [
        [0, null, "modern"],
        [1, "k0", "v0"],
        [2, null, "v1"],
        [3, "k2", "v2"],
        [4, null, "v3"],
        [5, "k4", "v4"],
      ]);
      // Magic 0 has no timestamps (kafka-python reports None); magic 1 keeps the producer's.
      assert.deepEqual(
        out.got.map(([, , , ts]) => ts),
        timestamps
          ? [1_600_000_000_000, ...[0, 1, 2, 3, 4].map((i) => 1_700_000_000_000 + i)]
          : [null, null, null, null, null, null],
      );
    },
  );
}
