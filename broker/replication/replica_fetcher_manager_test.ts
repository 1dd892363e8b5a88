import { ManualClock } from "../../ops/clock.ts";
import assert from "node:assert/strict";
import { silentLogger } from "../../ops/logger.ts";
import { ReplicaFetcher } from "./replica_fetcher.ts";
import { ReplicaFetcherManager } from "./replica_fetcher_manager.ts";
import { MemorySink } from "./truncation_test_support.ts";

function manager() {
  const sink = new MemorySink();
  for (const [t, p] of [["a", 0], ["a", 1], ["b", 0]] as const) sink.log(t, p);
  const created: string[] = [];
  const m = new ReplicaFetcherManager((leaderId, url) => {
    created.push(`${leaderId}@${url}`);
    return new ReplicaFetcher({
      nodeId: 9,
      leaderId,
      url,
      // Never connects: these tests are about routing, not fetching.
      connect: () => new Promise(() => {}),
      sink,
      clock: new ManualClock(),
      logger: silentLogger,
    });
  });
  return { m, created };
}

Deno.test("ReplicaFetcherManager keeps one fetcher per leader", async () => {
  const { m, created } = manager();
  m.follow("a", 0, { leaderId: 1, url: "tcp://b1:9093", leaderEpoch: 3 });
  m.follow("a", 1, { leaderId: 1, url: "tcp://b1:9093", leaderEpoch: 3 });
  m.follow("b", 0, { leaderId: 2, url: "tcp://b2:9093", leaderEpoch: 1 });
  assert.deepEqual(created, ["1@tcp://b1:9093", "2@tcp://b2:9093"]);
  assert.equal(m.fetcher(1)!.partitionCount, 2);
  // A leader change moves the partition; an emptied fetcher stops.
  m.follow("b", 0, { leaderId: 1, url: "tcp://b1:9093", leaderEpoch: 2 });
  assert.deepEqual(m.leaders, [1]);
  assert.equal(m.fetcher(1)!.partitionCount, 3);
  // An epoch change on the same leader makes the partition truncate again.
  m.follow("a", 0, { leaderId: 1, url: "tcp://b1:9093", leaderEpoch: 4 });
  assert.equal(m.fetcher(1)!.state("a", 0)!.leaderEpoch, 4);
  assert.equal(m.fetcher(1)!.state("a", 0)!.phase, "truncating");
  await m.stop();
  assert.deepEqual(m.leaders, []);
});

Deno.test("ReplicaFetcherManager moves every partition when a leader's address changes", async () => {
  const { m, created } = manager();
  m.follow("a", 0, { leaderId: 1, url: "tcp://old:9093", leaderEpoch: 3 });
  m.follow("a", 1, { leaderId: 1, url: "tcp://old:9093", leaderEpoch: 3 });
  m.follow("a", 0, { leaderId: 1, url: "tcp://new:9093", leaderEpoch: 3 });
  assert.deepEqual(created, ["1@tcp://old:9093", "1@tcp://new:9093"]);
  assert.equal(m.fetcher(1)!.partitionCount, 2);
  m.unfollow("a", 0);
  m.unfollow("a", 1);
  assert.deepEqual(m.leaders, []);
  m.unfollow("a", 1); // unknown: ignored
  await m.stop();
});
