import assert from "node:assert/strict";
import { healthOf, partitionsHealth } from "./partition_health.ts";
import { ledPartition, stageBatch } from "./produce/stage_fixture.ts";

Deno.test("partitionsHealth reports leaders' ISR and lags, followers without them, and high watermarks", async () => {
  const led = ledPartition({ replicas: [1, 2], isr: [1, 2] });
  led.p.log.assign(await stageBatch(4));
  led.p.leader!.leaderDurable(4);
  led.p.leader!.followerFetched(2, 1);
  const follower = ledPartition();
  follower.p.become({ kind: "follower", leaderId: 2, leaderEpoch: 0, replicas: [1, 2], isr: [2] });
  const hosted = [led.p, follower.p];
  const view = partitionsHealth({
    partitions: () => hosted.values(),
    get: (_t, i) => i === 0 ? led.p : undefined,
    fatalError: null,
  });
  assert.equal(view.count, 2);
  const [l, f] = [...view.all()];
  assert.deepEqual(l, {
    topic: "t",
    partition: 0,
    role: "leader",
    leading: { isrSize: 2, underReplicated: false, followerLags: new Map([[2, 3]]) },
  });
  assert.deepEqual(f, { topic: "t", partition: 0, role: "follower", leading: null });
  assert.equal(view.highWatermark("t", 0), led.p.log.highWatermark);
  assert.equal(view.highWatermark("t", 1), undefined);
  led.p.leader!.close();
});

Deno.test("healthOf marks a leader whose ISR shrank as under-replicated", () => {
  const { p } = ledPartition({ replicas: [1, 2, 3], isr: [1, 2] });
  assert.equal(healthOf(p).leading?.underReplicated, true);
  assert.equal(healthOf(p).leading?.isrSize, 2);
  p.leader!.close();
});
