import { systemClock } from "../../ops/clock.ts";
import assert from "node:assert/strict";
import { ConnectionError } from "../../protocol/transport/errors.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import { silentLogger } from "../../ops/logger.ts";
import { ReplicaFetcher, type ReplicaFetcherOptions } from "./replica_fetcher.ts";
import {
  FakeLeader,
  FakeTransport,
  ManualFetcherClock,
  MemorySink,
} from "./truncation_test_support.ts";

interface Rig {
  leader: FakeLeader;
  sink: MemorySink;
  clock: ManualFetcherClock;
  fetcher: ReplicaFetcher;
  transports: FakeTransport[];
  connectFailures: { remaining: number };
}

function rig(overrides: Partial<ReplicaFetcherOptions> = {}): Rig {
  const leader = new FakeLeader();
  const sink = new MemorySink();
  const clock = new ManualFetcherClock();
  const transports: FakeTransport[] = [];
  const connectFailures = { remaining: 0 };
  const fetcher = new ReplicaFetcher({
    nodeId: 2,
    leaderId: 1,
    url: "tcp://leader:9093",
    connect: (url) => {
      assert.equal(url, "tcp://leader:9093");
      if (connectFailures.remaining > 0) {
        connectFailures.remaining--;
        return Promise.reject(new ConnectionError("CONNECTION_FAILED", "refused"));
      }
      const t = new FakeTransport(leader);
      transports.push(t);
      return Promise.resolve(t);
    },
    sink,
    clock,
    logger: silentLogger,
    ...overrides,
  });
  return { leader, sink, clock, fetcher, transports, connectFailures };
}

async function follow(r: Rig, topic: string, partition: number, records: number): Promise<void> {
  const log = r.leader.lead(topic, partition, 3);
  await log.appendAsLeader(records, 3);
  log.highWatermark = log.logEndOffset;
  r.sink.log(topic, partition);
  r.fetcher.addPartition(topic, partition, 3);
}

Deno.test("ReplicaFetcher batches every partition of a leader into one request", async () => {
  const r = rig();
  await follow(r, "a", 0, 2);
  await follow(r, "a", 1, 3);
  await follow(r, "b", 0, 1);
  assert.equal(await r.fetcher.runOnce(), "worked");
  assert.equal(await r.fetcher.runOnce(), "worked");
  assert.deepEqual(r.leader.requests, ["OffsetForLeaderEpoch 3", "Fetch 3 replica=2"]);
  assert.deepEqual(r.leader.fetches, ["a/0@0", "a/1@0", "b/0@0"]);
  for (const [key, log] of r.leader.logs) {
    assert.deepEqual(r.sink.logs.get(key)!.describe(), log.describe(), key);
    assert.equal(r.sink.logs.get(key)!.highWatermark, log.highWatermark);
  }
  await r.fetcher.runOnce();
  assert.deepEqual(r.leader.fetches.slice(3), ["a/0@2", "a/1@3", "b/0@1"], "next offsets");
  assert.equal(r.transports.length, 1, "one connection");
});

Deno.test("ReplicaFetcher backs off exponentially while it cannot connect", async () => {
  const r = rig({ backoffMs: 100, backoffMaxMs: 300 });
  await follow(r, "a", 0, 1);
  r.connectFailures.remaining = 3;
  for (let i = 0; i < 3; i++) assert.equal(await r.fetcher.runOnce(), "backoff");
  assert.deepEqual(r.clock.sleeps, [100, 200, 300]);
  assert.equal(await r.fetcher.runOnce(), "worked");
  assert.equal(r.transports.length, 1);
  // A failed request closes the connection and reconnects after a (reset) backoff.
  r.transports[0]!.failRequests = 1;
  assert.equal(await r.fetcher.runOnce(), "backoff");
  assert.deepEqual(r.clock.sleeps, [100, 200, 300, 100]);
  let closed = false;
  await Promise.race([r.transports[0]!.closed.then(() => closed = true), Promise.resolve()]);
  assert.equal(closed, true);
  assert.equal(await r.fetcher.runOnce(), "worked");
  assert.equal(r.transports.length, 2);
  assert.deepEqual(r.sink.logs.get("a/0")!.describe(), r.leader.logs.get("a/0")!.describe());
});

Deno.test("ReplicaFetcher asks for a metadata refresh when the leader refuses a partition", async () => {
  const r = rig({ backoffMs: 100 });
  await follow(r, "a", 0, 1);
  await follow(r, "a", 1, 1);
  await r.fetcher.runOnce(); // OffsetForLeaderEpoch
  r.leader.fetchErrors.set("a/0", ErrorCode.NOT_LEADER_OR_FOLLOWER);
  await r.fetcher.runOnce();
  assert.equal(r.sink.refreshes.length, 1);
  assert.match(r.sink.refreshes[0]!, /a\/0/);
  assert.equal(r.sink.logs.get("a/1")!.logEndOffset, 1, "the other partition went on");
  // a/0 waits out its backoff while a/1 keeps fetching.
  await r.fetcher.runOnce();
  assert.deepEqual(r.leader.fetches.slice(-1), ["a/1@1"]);
  r.clock.now += 100;
  await r.fetcher.runOnce();
  assert.deepEqual(r.leader.fetches.slice(-2), ["a/0@0", "a/1@1"]);
  assert.equal(r.sink.logs.get("a/0")!.logEndOffset, 1);
});

Deno.test("ReplicaFetcher refreshes metadata when its epoch is fenced", async () => {
  const r = rig();
  await follow(r, "a", 0, 1);
  r.leader.epochs.set("a/0", 4); // the leader moved on to epoch 4; we still follow epoch 3
  await r.fetcher.runOnce();
  assert.equal(r.sink.refreshes.length, 1);
  r.fetcher.addPartition("a", 0, 4); // the refreshed metadata names epoch 4
  await r.fetcher.runOnce();
  await r.fetcher.runOnce();
  assert.equal(r.sink.logs.get("a/0")!.logEndOffset, 1);
});

Deno.test("ReplicaFetcher sends a partition back to truncation when the sink fails", async () => {
  const r = rig({ backoffMs: 100 });
  await follow(r, "a", 0, 2);
  await r.fetcher.runOnce();
  r.sink.failNext = Object.assign(new Error("WAL is full"), { code: "WAL_FULL" });
  await r.fetcher.runOnce();
  assert.equal(r.fetcher.state("a", 0)!.phase, "truncating");
  assert.equal(r.transports.length, 1, "the connection is fine");
  r.clock.now += 100;
  await r.fetcher.runOnce();
  await r.fetcher.runOnce();
  assert.equal(r.sink.logs.get("a/0")!.logEndOffset, 2);
});

Deno.test("ReplicaFetcher stops on a programmer error instead of retrying it", async () => {
  const r = rig();
  await follow(r, "a", 0, 1);
  await r.fetcher.runOnce();
  r.sink.failNext = new TypeError("bug");
  await assert.rejects(() => r.fetcher.runOnce(), TypeError);
});

Deno.test("ReplicaFetcher idles when it follows nothing or every partition backs off", async () => {
  const r = rig({ backoffMs: 100, backoffMaxMs: 1000 });
  assert.equal(await r.fetcher.runOnce(), "idle");
  assert.deepEqual(r.clock.sleeps, [1000]);
  await follow(r, "a", 0, 1);
  r.leader.fetchErrors.set("a/0", ErrorCode.UNKNOWN_LEADER_EPOCH);
  await r.fetcher.runOnce();
  await r.fetcher.runOnce();
  assert.equal(await r.fetcher.runOnce(), "idle");
  assert.deepEqual(r.clock.sleeps.slice(1), [100]);
});

Deno.test("ReplicaFetcher ignores answers for a partition removed meanwhile", async () => {
  const r = rig();
  await follow(r, "a", 0, 1);
  r.fetcher.removePartition("a", 0);
  assert.equal(r.fetcher.partitionCount, 0);
  assert.throws(() => r.fetcher.addPartition("x", 0, 1), RangeError, "not hosted");
  const limited = rig({ partitionsMax: 1 });
  await follow(limited, "a", 0, 1);
  limited.sink.log("a", 1);
  assert.throws(() => limited.fetcher.addPartition("a", 1, 3), RangeError);
  assert.throws(() => rig({ maxWaitMs: 500, requestTimeoutMs: 500 }), RangeError);
});

Deno.test("ReplicaFetcher start and stop run and end the loop", async () => {
  const leader = new FakeLeader();
  const sink = new MemorySink();
  const log = leader.lead("a", 0, 1);
  await log.appendAsLeader(3, 1);
  sink.log("a", 0);
  // A real-time clock: the loop must yield so stop() can run.
  const fetcher = new ReplicaFetcher({
    nodeId: 2,
    leaderId: 1,
    url: "tcp://leader:9093",
    connect: () => Promise.resolve(new FakeTransport(leader)),
    sink,
    // Backoffs shortened to at most 5 ms.
    clock: { ...systemClock, setTimer: (ms, fn) => systemClock.setTimer(Math.min(ms, 5), fn) },
    logger: silentLogger,
  });
  fetcher.addPartition("a", 0, 1);
  fetcher.start();
  for (let i = 0; i < 100 && sink.log("a", 0).logEndOffset < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await fetcher.stop();
  assert.equal(sink.log("a", 0).logEndOffset, 3);
});

Deno.test("ReplicaFetcher skips what the leader has in object storage, then follows on", async () => {
  const r = rig();
  r.leader.divergingEpochs = true;
  const leaderLog = r.leader.lead("a", 0, 3);
  await leaderLog.appendAsLeader(5, 1); // epoch 1 at 0-4
  await leaderLog.appendAsLeader(25, 2); // epoch 2 at 5-29
  await leaderLog.appendAsLeader(10, 3); // epoch 3 at 30-39
  leaderLog.highWatermark = leaderLog.logEndOffset;
  r.leader.storedEnd.set("a/0", 30); // uploads end at batch boundaries
  // The follower has only epoch 1's 0-2, far behind what the leader has uploaded.
  const follower = r.sink.log("a", 0);
  await follower.appendAsLeader(3, 1);
  r.fetcher.addPartition("a", 0, 3);
  for (let i = 0; i < 4; i++) await r.fetcher.runOnce();
  assert.ok(r.sink.calls.includes("skip a/0 30 e2"), r.sink.calls.join(", "));
  assert.ok(
    !r.sink.calls.some((c) => c.startsWith("truncate") && Number(c.split(" ")[2]) < 30),
    `no truncation below the stored end: ${r.sink.calls.join(", ")}`,
  );
  assert.equal(follower.logEndOffset, 40, "it then fetched 30-39 from the leader");
  assert.deepEqual(r.leader.fetches.slice(-1), ["a/0@40"]);
});

Deno.test("ReplicaFetcher truncates on a divergingEpoch from a KIP-595 leader", async () => {
  const r = rig();
  r.leader.divergingEpochs = true;
  await follow(r, "a", 0, 2); // leader: epoch 3 at 0-1
  await r.fetcher.runOnce();
  await r.fetcher.runOnce();
  const follower = r.sink.logs.get("a/0")!;
  assert.equal(follower.logEndOffset, 2);
  // The follower briefly led epoch 4 and wrote 2-4 that nobody got; the leader is now in 5.
  await follower.appendAsLeader(3, 4);
  const leaderLog = r.leader.logs.get("a/0")!;
  await leaderLog.appendAsLeader(2, 5);
  r.leader.epochs.set("a/0", 5);
  r.fetcher.addPartition("a", 0, 5); // metadata named epoch 5; the follower truncates again
  // Without another OffsetForLeaderEpoch round the Fetch would find the divergence too; here
  // the epoch change sends it through OffsetForLeaderEpoch first.
  await r.fetcher.runOnce();
  assert.deepEqual(r.sink.calls.slice(-1), ["truncate a/0 2"]);
  await r.fetcher.runOnce();
  assert.deepEqual(follower.describe(), leaderLog.describe());
  // Now a divergence found by Fetch alone, without an epoch change: a stale epoch-4 batch
  // (below the leader's epoch 5) appears at the follower's tail.
  await follower.appendAsLeader(1, 4);
  await r.fetcher.runOnce();
  assert.deepEqual(r.leader.requests.slice(-1), ["Fetch 1 replica=2"]);
  assert.deepEqual(r.sink.calls.slice(-1), ["truncate a/0 2"]);
  await r.fetcher.runOnce();
  assert.deepEqual(follower.describe(), leaderLog.describe());
});

Deno.test("ReplicaFetcher.removePartition resolves only after the partition's in-flight append has landed", async () => {
  // The partition becomes leader once removal resolves: an append of the last fetch that
  // finished later would write the follower's epochs over the new leader's (seen in a drain:
  // the leader lost its own epoch and never counted a follower again).
  const r = rig();
  await follow(r, "a", 0, 2);
  assert.equal(await r.fetcher.runOnce(), "worked"); // OffsetForLeaderEpoch
  let entered!: () => void;
  const appending = new Promise<void>((resolve) => entered = resolve);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const append = r.sink.appendAsFollower.bind(r.sink);
  r.sink.appendAsFollower = async (...args) => {
    entered();
    await gate; // the WAL has not made the batches durable yet
    await append(...args);
  };
  const round = r.fetcher.runOnce();
  await appending;
  let removed = false;
  const removal = Promise.resolve(r.fetcher.removePartition("a", 0)).then(() => removed = true);
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(removed, false, "removal waits for the append under way");
  release();
  await removal;
  assert.equal(
    r.sink.logs.get("a/0")!.logEndOffset,
    2,
    "the append landed before removal resolved",
  );
  assert.equal(await round, "worked");
  assert.equal(r.fetcher.partitionCount, 0);
});

Deno.test("ReplicaFetcher.removePartition of a partition with nothing in flight resolves at once", async () => {
  const r = rig();
  await follow(r, "a", 0, 1);
  await r.fetcher.removePartition("a", 0);
  await r.fetcher.removePartition("a", 0); // not followed any more: still resolves
  assert.equal(r.fetcher.partitionCount, 0);
});
