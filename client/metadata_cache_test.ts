import assert from "node:assert/strict";
import { MetadataCache } from "./metadata_cache.ts";
import {
  createMetadataResponse,
  type MetadataResponseTopic,
} from "../protocol/kafka/messages/mod.ts";

function _topic(name: string, errorCode = 0, leaders: number[] = [1]): MetadataResponseTopic {
  return {
    errorCode,
    name,
    topicId: "AAAAAAAAAAAAAAAAAAAAAA",
    isInternal: false,
    topicAuthorizedOperations: 0,
    partitions: leaders.map((leaderId, partitionIndex) => ({
      errorCode: 0,
      partitionIndex,
      leaderId,
      leaderEpoch: 4,
      replicaNodes: [leaderId],
      isrNodes: [leaderId],
      offlineReplicas: [],
    })),
  };
}

Deno.test("MetadataCache stores healthy topics and drops topics with errors", () => {
  const cache = new MetadataCache();
  const res = createMetadataResponse();
  res.controllerId = 2;
  res.brokers = [{ nodeId: 1, host: "a", port: 1, rack: null }];
  res.topics = [_topic("good", 0, [1, 1]), _topic("bad", 3)];
  const errors = cache.update(res, 100);
  assert.equal(errors.get("bad"), 3);
  assert.equal(cache.topic("good")?.partitions.length, 2);
  assert.equal(cache.topic("good")?.updatedAtMs, 100);
  assert.equal(cache.topic("bad"), undefined);
  assert.equal(cache.controllerId, 2);
  cache.invalidate("good");
  assert.equal(cache.topic("good"), undefined);
});

Deno.test("MetadataCache replaces its topic list on an all-topics answer", () => {
  const cache = new MetadataCache();
  const first = createMetadataResponse();
  first.topics = [_topic("a"), _topic("b")];
  cache.update(first, 0);
  const all = createMetadataResponse();
  all.topics = [_topic("b")];
  cache.update(all, 1, true);
  assert.deepEqual(cache.topicNames(), ["b"]);
});
