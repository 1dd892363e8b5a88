import assert from "node:assert/strict";
import { ledPartition, stageBatch } from "./produce/stage_fixture.ts";
import { KafkaProtocolError } from "./broker_errors.ts";

Deno.test("HostedPartition reads a leader's ISR from its tracker, not from a copy", () => {
  const { p } = ledPartition({ replicas: [1, 2, 3], isr: [1, 2] });
  assert.deepEqual(p.isr, [1, 2]);
  p.leader!.isrCommitted([1, 2, 3]);
  assert.deepEqual(p.isr, [1, 2, 3]);
  assert.equal(p.role, "leader");
  assert.equal(p.leaderId, 1);
  p.leader!.close();
});

Deno.test("HostedPartition.become closes the replication it leaves, failing its pending acks", async () => {
  const { p } = ledPartition({ replicas: [1, 2] });
  p.log.assign(await stageBatch(1));
  const leader = p.leader!;
  leader.leaderDurable(1);
  const acked = leader.awaitAck(1, { kind: "all" });
  p.become({ kind: "follower", leaderId: 2, leaderEpoch: 1, replicas: [1, 2], isr: [2] });
  await assert.rejects(
    acked,
    (e) => e instanceof KafkaProtocolError && e.code === "NOT_LEADER_OR_FOLLOWER",
  );
  assert.equal(p.leader, null);
  assert.deepEqual([p.role, p.leaderId, p.leaderEpoch, p.isr], ["follower", 2, 1, [2]]);
  // Keeping the same replication state (a new ISR from the metadata) does not close it.
  const again = ledPartition({ replicas: [1, 2] }).p;
  const r = again.roleState;
  assert.equal(r.kind, "leader");
  if (r.kind === "leader") again.become({ ...r, leaderEpoch: r.leaderEpoch });
  again.leader!.checkProduce({ kind: "leader" });
  again.leader!.close();
});
