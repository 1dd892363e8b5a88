import assert from "node:assert/strict";
import { assignOffsets } from "./assign_stage.ts";
import { batchSequence, checkSequence } from "./sequence_stage.ts";
import { ledPartition, stageBatch } from "./stage_fixture.ts";
import { readBatchHeader } from "../../protocol/record/record_batch.ts";
import type { HostedPartition } from "../hosted_partition.ts";

Deno.test("assignOffsets sets base offsets in place, counts the append and records the sequence", async () => {
  const { p } = ledPartition();
  const issued: HostedPartition[] = [];
  const rollbacks = { issued: (x: HostedPartition) => void issued.push(x) };
  const a = await stageBatch(3, { producerId: 4 });
  const b = await stageBatch(2, { producerId: 4, baseSequence: 3 });
  const ha = readBatchHeader(a), hb = readBatchHeader(b);
  assert.deepEqual(
    { ...assignOffsets(p, a, ha, batchSequence(ha), rollbacks), logAppendTimeMs: 0 },
    { baseOffset: 0, lastOffset: 2, logAppendTimeMs: 0 },
  );
  assert.equal(assignOffsets(p, b, hb, batchSequence(hb), rollbacks).baseOffset, 3);
  assert.equal(readBatchHeader(b).baseOffset, 3);
  assert.equal(p.log.logEndOffset, 5);
  assert.equal(issued.length, 2);
  // A retry of the second batch is now a duplicate at its assigned offset.
  assert.deepEqual(checkSequence(p, hb), {
    kind: "duplicate",
    seq: batchSequence(hb),
    baseOffset: 3,
  });
  p.leader!.close();
});

Deno.test("assignOffsets records no sequence for a marker", async () => {
  const { p } = ledPartition();
  const marker = await stageBatch(1, { producerId: 4, control: true });
  const h = readBatchHeader(marker);
  assignOffsets(p, marker, h, batchSequence(h), { issued: () => {} });
  assert.equal(p.log.logEndOffset, 1);
  // A data batch at sequence 0 is still the producer's first, not a duplicate of the marker.
  const first = readBatchHeader(await stageBatch(1, { producerId: 4 }));
  assert.equal(checkSequence(p, first).kind, "append");
  p.leader!.close();
});
