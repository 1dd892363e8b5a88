import assert from "node:assert/strict";
import { deadLetterWriter } from "./etl_produce_stage.ts";
import { KafkaProtocolError } from "../broker_errors.ts";
import type { ClusterMetadata } from "../../model/cluster_metadata.ts";

function metadataWith(partitions: number): ClusterMetadata {
  return {
    topic: (name: string) =>
      name === "dlq"
        ? { name, topicId: "x", config: {}, partitions: Array.from({ length: partitions }) }
        : undefined,
  } as unknown as ClusterMetadata;
}

Deno.test("deadLetterWriter writes to the source partition's slot, or the next one this broker leads", async () => {
  const calls: number[] = [];
  const led = new Set([2]);
  const write = deadLetterWriter(metadataWith(3), (_t, p) => {
    calls.push(p);
    if (!led.has(p)) {
      return Promise.reject(new KafkaProtocolError("NOT_LEADER_OR_FOLLOWER", "not here"));
    }
    return Promise.resolve();
  });
  await write("dlq", 4, new Uint8Array());
  assert.deepEqual(calls, [1, 2]);
  led.clear();
  await assert.rejects(write("dlq", 0, new Uint8Array()), /leads none of the 3 partitions/);
  await assert.rejects(write("nope", 0, new Uint8Array()), /topic 'nope' does not exist/);
  const failing = deadLetterWriter(
    metadataWith(2),
    () => Promise.reject(new KafkaProtocolError("KAFKA_STORAGE_ERROR", "disk")),
  );
  await assert.rejects(failing("dlq", 0, new Uint8Array()), /disk/);
});
