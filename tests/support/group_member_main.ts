/**
 * A consumer-group member in a process of its own, for tests that kill it. It consumes slowly
 * (a few records per poll), commits after each batch, and prints one JSON line per event:
 *
 * ```text
 * {"event":"assigned","partitions":[0,3]}
 * {"event":"record","partition":0,"offset":12}
 * {"event":"committed","partition":0,"offset":13}
 * ```
 *
 * Usage: `deno run -A --unstable-net group_member_main.ts <bootstrap-url> <group> <topic>`
 *
 * @module
 */

import { RustMqClient } from "../../client/mod.ts";

const [url, groupId, topic] = Deno.args;
if (url === undefined || groupId === undefined || topic === undefined) {
  console.error("usage: group_member_main.ts <bootstrap-url> <group> <topic>");
  Deno.exit(2);
}

function emit(line: Record<string, unknown>): void {
  console.log(JSON.stringify(line));
}

const client = await RustMqClient.connect({ brokers: [url], clientId: "victim" });
const consumer = client.consumer({
  groupId,
  autoCommit: false,
  autoOffsetReset: "earliest",
  sessionTimeoutMs: 6000,
  heartbeatIntervalMs: 300,
  maxWaitMs: 100,
  onRebalance: {
    assigned: (_tps, ctx) =>
      emit({ event: "assigned", partitions: ctx.assignment.map((tp) => tp.partition) }),
  },
});
consumer.subscribe([topic]);
for (;;) {
  const records = await consumer.poll({ timeoutMs: 200, maxRecords: 2 });
  for (const r of records) emit({ event: "record", partition: r.partition, offset: r.offset });
  const next = new Map<number, number>();
  for (const r of records) next.set(r.partition, r.offset + 1);
  const offsets = [...next].map(([partition, offset]) => ({ topic, partition, offset }));
  if (offsets.length > 0) {
    try {
      await consumer.commitOffsets(offsets);
      for (const o of offsets) {
        emit({ event: "committed", partition: o.partition, offset: o.offset });
      }
    } catch (error) {
      // A rebalance began: those records will be delivered again, which at-least-once allows.
      emit({ event: "commit-failed", code: (error as { code?: string }).code ?? String(error) });
    }
  }
  // Slow processing, so the test can kill this member in the middle of its partitions.
  await new Promise((r) => setTimeout(r, 100));
}
