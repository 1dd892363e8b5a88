import assert from "node:assert/strict";
import { MetadataStateMachine } from "./state_machine.ts";
import type { MetadataCommand } from "./commands.ts";

function cluster(
  brokers: [number, string | null][],
): { sm: MetadataStateMachine; at: () => number } {
  const sm = new MetadataStateMachine();
  let index = 0;
  const at = () => ++index;
  for (const [nodeId, rack] of brokers) {
    sm.apply(at(), {
      v: 1,
      op: "register_broker",
      nodeId,
      host: "h",
      port: 9000 + nodeId,
      rack,
      endpoints: {},
    });
  }
  return { sm, at };
}

function run(sm: MetadataStateMachine, index: number, cmd: MetadataCommand) {
  const { result } = sm.apply(index, cmd);
  return result;
}

const topic = (name: string, partitions: number, rf: number): MetadataCommand => ({
  v: 1,
  op: "create_topic",
  name,
  partitions,
  replicationFactor: rf,
  configs: {},
  topicId: `id-${name}`,
});

Deno.test("MetadataStateMachine places replicas on distinct racks and spreads leaders", () => {
  const { sm, at } = cluster([[1, "a"], [2, "a"], [3, "b"], [4, "b"], [5, "c"], [6, "c"]]);
  assert.equal(run(sm, at(), topic("t", 12, 3)).ok, true);
  const t = sm.topic("t")!;
  const rackOf = (id: number) => sm.broker(id)!.rack;
  const leaders = new Map<number, number>();
  for (const p of t.partitions) {
    assert.equal(new Set(p.replicas).size, 3);
    assert.equal(new Set(p.replicas.map(rackOf)).size, 3, `partition ${p.partition} racks`);
    assert.deepEqual(p.isr, p.replicas);
    assert.equal(p.leader, p.replicas[0]);
    leaders.set(p.leader, (leaders.get(p.leader) ?? 0) + 1);
  }
  assert.deepEqual([...leaders.values()], [2, 2, 2, 2, 2, 2]);
});

Deno.test("MetadataStateMachine refuses bad topics without changing state", () => {
  const { sm, at } = cluster([[1, null], [2, null]]);
  assert.equal(run(sm, at(), topic("t", 1, 3)).ok, false);
  const r = run(sm, at(), topic("t", 1, 3));
  assert.equal(!r.ok && r.error.code, "INVALID_REPLICATION_FACTOR");
  const bad = run(sm, at(), { ...topic("bad name", 1, 1) } as MetadataCommand);
  assert.equal(!bad.ok && bad.error.code, "INVALID_TOPIC_EXCEPTION");
  const cfg = run(
    sm,
    at(),
    { ...topic("c", 1, 1), configs: { "retention.ms": "x" } } as MetadataCommand,
  );
  assert.equal(!cfg.ok && cfg.error.code, "INVALID_CONFIG");
  assert.equal(sm.topics().length, 0);
  assert.equal(run(sm, at(), topic("t", 2, 2)).ok, true);
  const dup = run(sm, at(), topic("t", 2, 2));
  assert.equal(!dup.ok && dup.error.code, "TOPIC_ALREADY_EXISTS");
  const none = run(sm, at(), { v: 1, op: "delete_topic", name: "nope" });
  assert.equal(!none.ok && none.error.code, "UNKNOWN_TOPIC_OR_PARTITION");
});

Deno.test("MetadataStateMachine fencing elects the next live ISR member and bumps the epoch", () => {
  const { sm, at } = cluster([[1, "a"], [2, "b"], [3, "c"]]);
  run(sm, at(), topic("t", 3, 3));
  const before = sm.topic("t")!;
  const led = before.partitions.filter((p) => p.leader === 1);
  const { result, delta } = sm.apply(at(), {
    v: 1,
    op: "fence_broker",
    nodeId: 1,
    brokerEpoch: sm.broker(1)!.epoch,
    unclean: false,
  });
  assert.deepEqual(result, { ok: true, value: { fenced: true } });
  assert.ok(delta?.brokers && delta.topics.t);
  const after = sm.topic("t")!;
  for (const old of led) {
    const p = after.partitions[old.partition]!;
    assert.equal(p.leader, old.replicas.find((id) => id !== 1));
    assert.equal(p.leaderEpoch, old.leaderEpoch + 1);
  }
  for (const p of after.partitions) assert.ok(!p.isr.includes(1));
  // Records are replaced, not changed: a reader's old copy still shows the old picture.
  assert.equal(before.partitions.filter((p) => p.leader === 1).length, led.length);
});

Deno.test("MetadataStateMachine ignores a fence aimed at an older registration", () => {
  const { sm, at } = cluster([[1, null]]);
  const old = sm.broker(1)!.epoch;
  run(sm, at(), {
    v: 1,
    op: "register_broker",
    nodeId: 1,
    host: "h",
    port: 1,
    rack: null,
    endpoints: {},
  });
  const r = run(sm, at(), {
    v: 1,
    op: "fence_broker",
    nodeId: 1,
    brokerEpoch: old,
    unclean: false,
  });
  assert.deepEqual(r, { ok: true, value: { fenced: false } });
  assert.equal(sm.broker(1)!.fenced, false);
});

Deno.test("MetadataStateMachine takes a partition offline when no ISR member lives, and back", () => {
  const { sm, at } = cluster([[1, null], [2, null]]);
  run(sm, at(), topic("t", 1, 2));
  const p0 = sm.topic("t")!.partitions[0]!;
  const [leader, follower] = p0.replicas as [number, number];
  // The follower falls out of the ISR first, then the leader dies.
  run(sm, at(), {
    v: 1,
    op: "alter_isr",
    nodeId: leader,
    brokerEpoch: sm.broker(leader)!.epoch,
    topic: "t",
    partition: 0,
    leaderEpoch: 0,
    partitionEpoch: 0,
    isr: [leader],
  });
  run(sm, at(), {
    v: 1,
    op: "fence_broker",
    nodeId: leader,
    brokerEpoch: sm.broker(leader)!.epoch,
    unclean: false,
  });
  let p = sm.topic("t")!.partitions[0]!;
  assert.equal(p.leader, -1);
  assert.deepEqual(p.isr, [leader], "the last ISR member stays listed");
  assert.equal(p.leaderEpoch, 1);
  // It returns: it leads again, since it holds every acknowledged record.
  run(sm, at(), {
    v: 1,
    op: "unfence_broker",
    nodeId: leader,
    brokerEpoch: sm.broker(leader)!.epoch,
  });
  p = sm.topic("t")!.partitions[0]!;
  assert.equal(p.leader, leader);
  assert.equal(p.leaderEpoch, 2);
  assert.ok(follower !== leader);
});

Deno.test("MetadataStateMachine unclean election picks any live replica", () => {
  const { sm, at } = cluster([[1, null], [2, null]]);
  run(sm, at(), topic("t", 1, 2));
  const [leader, follower] = sm.topic("t")!.partitions[0]!.replicas as [number, number];
  run(sm, at(), {
    v: 1,
    op: "alter_isr",
    nodeId: leader,
    brokerEpoch: sm.broker(leader)!.epoch,
    topic: "t",
    partition: 0,
    leaderEpoch: 0,
    partitionEpoch: 0,
    isr: [leader],
  });
  run(sm, at(), {
    v: 1,
    op: "fence_broker",
    nodeId: leader,
    brokerEpoch: sm.broker(leader)!.epoch,
    unclean: true,
  });
  const p = sm.topic("t")!.partitions[0]!;
  assert.equal(p.leader, follower);
  assert.deepEqual(p.isr, [follower]);
});

Deno.test("MetadataStateMachine checks ISR updates against leader and partition epochs", () => {
  const { sm, at } = cluster([[1, null], [2, null], [3, null]]);
  run(sm, at(), topic("t", 1, 3));
  const p = sm.topic("t")!.partitions[0]!;
  const base = {
    v: 1 as const,
    op: "alter_isr" as const,
    nodeId: p.leader,
    brokerEpoch: sm.broker(p.leader)!.epoch,
    topic: "t",
    partition: 0,
    leaderEpoch: 0,
    partitionEpoch: 0,
    isr: [p.leader],
  };
  const follower = p.replicas.find((id) => id !== p.leader)!;
  const notLeader = run(sm, at(), {
    ...base,
    nodeId: follower,
    brokerEpoch: sm.broker(follower)!.epoch,
  });
  assert.equal(!notLeader.ok && notLeader.error.code, "NOT_PARTITION_LEADER");
  assert.equal(run(sm, at(), base).ok, true);
  const stale = run(sm, at(), base);
  assert.equal(!stale.ok && stale.error.code, "INVALID_UPDATE_VERSION");
  const epoch = run(sm, at(), { ...base, leaderEpoch: 5, partitionEpoch: 1 });
  assert.equal(!epoch.ok && epoch.error.code, "FENCED_LEADER_EPOCH");
  const noLeader = run(sm, at(), { ...base, partitionEpoch: 1, isr: [follower] });
  assert.equal(!noLeader.ok && noLeader.error.code, "INVALID_REQUEST");
  assert.equal(
    run(sm, at(), { ...base, partitionEpoch: 1, isr: [...p.replicas].reverse() }).ok,
    true,
  );
  assert.deepEqual(sm.topic("t")!.partitions[0]!.isr, p.replicas, "kept in replica order");
});

Deno.test("MetadataStateMachine allocates producer-id blocks and decommission slots", () => {
  const { sm, at } = cluster([[1, null], [2, null]]);
  assert.deepEqual(run(sm, at(), { v: 1, op: "allocate_producer_ids", count: 10 }), {
    ok: true,
    value: { firstId: "0", count: 10 },
  });
  assert.deepEqual(run(sm, at(), { v: 1, op: "allocate_producer_ids", count: 5 }), {
    ok: true,
    value: { firstId: "10", count: 5 },
  });
  assert.equal(run(sm, at(), { v: 1, op: "allocate_producer_ids", count: 0 }).ok, false);
  assert.equal(run(sm, at(), { v: 1, op: "decommission_start", nodeId: 1 }).ok, true);
  const busy = run(sm, at(), { v: 1, op: "decommission_start", nodeId: 2 });
  assert.equal(!busy.ok && busy.error.code, "DECOMMISSION_IN_PROGRESS");
  // No new replica lands on a decommissioning broker.
  run(sm, at(), topic("t", 4, 1));
  assert.ok(sm.topic("t")!.partitions.every((p) => p.leader === 2));
  run(sm, at(), { v: 1, op: "decommission_end", nodeId: 1 });
  assert.equal(run(sm, at(), { v: 1, op: "decommission_start", nodeId: 2 }).ok, true);
});

Deno.test("MetadataStateMachine alters configs and adds partitions", () => {
  const { sm, at } = cluster([[1, null]]);
  run(sm, at(), { ...topic("t", 1, 1), configs: { "retention.ms": "100" } } as MetadataCommand);
  assert.equal(sm.topic("t")!.config["retention.ms"], 100);
  run(sm, at(), {
    v: 1,
    op: "alter_topic_config",
    name: "t",
    configs: { "retention.ms": null, "cleanup.policy": "compact" },
  });
  assert.equal(sm.topic("t")!.config["retention.ms"], 604_800_000);
  assert.equal(sm.topic("t")!.config["cleanup.policy"], "compact");
  assert.equal(
    run(sm, at(), { v: 1, op: "create_partitions", name: "t", totalCount: 1 }).ok,
    false,
  );
  assert.equal(run(sm, at(), { v: 1, op: "create_partitions", name: "t", totalCount: 3 }).ok, true);
  assert.deepEqual(sm.topic("t")!.partitions.map((p) => p.partition), [0, 1, 2]);
});

Deno.test("MetadataStateMachine snapshot and restore reproduce the state exactly", () => {
  const { sm, at } = cluster([[1, "a"], [2, "b"], [3, "c"]]);
  run(sm, at(), topic("t", 5, 2));
  run(sm, at(), { v: 1, op: "init_cluster", clusterId: "cid" });
  run(sm, at(), { v: 1, op: "init_cluster", clusterId: "other" });
  run(sm, at(), {
    v: 1,
    op: "commit_upload",
    object: {
      objectKey: "o",
      sizeBytes: 1,
      createdMs: 0,
      ranges: [{
        key: "t/0",
        baseOffset: 0,
        lastOffset: 4,
        position: 0,
        length: 1,
        maxTimestamp: 0,
      }],
    },
  });
  run(sm, at(), {
    v: 1,
    op: "fence_broker",
    nodeId: 2,
    brokerEpoch: sm.broker(2)!.epoch,
    unclean: false,
  });
  const copy = new MetadataStateMachine();
  copy.restore(sm.applied, sm.snapshot());
  assert.equal(copy.snapshot(), sm.snapshot());
  assert.equal(copy.applied, sm.applied);
  assert.equal(copy.clusterId, "cid");
  assert.deepEqual(copy.manifest.ranges("t/0").map((r) => r.objectKey), ["o"]);
  // Both continue identically: placement depends only on the replicated state.
  run(sm, 100, topic("u", 3, 2));
  run(copy, 100, topic("u", 3, 2));
  assert.equal(copy.snapshot(), sm.snapshot());
  assert.throws(() => copy.restore(1, JSON.stringify({ v: 2 })), RangeError);
});

Deno.test("MetadataStateMachine applies a keyed request once and remembers a bounded number", () => {
  const sm = new MetadataStateMachine({ requestKeysMax: 2 });
  const reg = {
    v: 1,
    op: "register_broker",
    nodeId: 1,
    host: "h",
    port: 1,
    rack: null,
    endpoints: {},
  } as const;
  sm.apply(1, reg);
  const first = sm.apply(2, topic("t", 1, 1), "k1").result;
  const again = sm.apply(3, topic("t", 1, 1), "k1");
  assert.deepEqual(again.result, first, "the retry gets the first outcome");
  assert.equal(again.delta, null);
  assert.equal(sm.applied, 3);
  sm.apply(4, { v: 1, op: "allocate_producer_ids", count: 1 }, "k2");
  sm.apply(5, { v: 1, op: "allocate_producer_ids", count: 1 }, "k3");
  const forgotten = sm.apply(6, topic("t", 1, 1), "k1").result;
  assert.equal(!forgotten.ok && forgotten.error.code, "TOPIC_ALREADY_EXISTS", "k1 was evicted");
  const copy = new MetadataStateMachine({ requestKeysMax: 2 });
  copy.restore(sm.applied, sm.snapshot());
  assert.deepEqual(copy.apply(7, { v: 1, op: "allocate_producer_ids", count: 1 }, "k3").result, {
    ok: true,
    value: { firstId: "1", count: 1 },
  });
});

Deno.test("MetadataStateMachine imports local state only into an empty state", () => {
  const { sm, at } = cluster([[1, null]]);
  const cmd: MetadataCommand = {
    v: 1,
    op: "import_local",
    clusterId: "old-id",
    nextProducerId: "5000",
    topics: [{ name: "a", topicId: "tid", partitions: 2, configs: { "retention.ms": "9" } }],
    manifest: { partitions: { "a/0": { logStartOffset: 3, uploadedEndOffset: 7 } }, objects: [] },
  };
  const bad = run(sm, at(), {
    ...cmd,
    topics: [{ name: "bad name", topicId: "t", partitions: 1, configs: {} }],
  });
  assert.equal(!bad.ok && bad.error.code, "INVALID_TOPIC_EXCEPTION");
  assert.equal(sm.topics().length, 0, "a bad file changes nothing");
  assert.equal(run(sm, at(), cmd).ok, true);
  assert.equal(sm.clusterId, "old-id");
  assert.equal(sm.topic("a")?.topicId, "tid");
  assert.equal(sm.state.nextProducerId, "5000");
  assert.deepEqual(sm.manifest.partition("a/0"), { logStartOffset: 3, uploadedEndOffset: 7 });
  const again = run(sm, at(), cmd);
  assert.equal(!again.ok && again.error.code, "INVALID_REQUEST");
});

Deno.test("MetadataStateMachine moves leadership back to in-sync, live preferred replicas", () => {
  const { sm, at } = cluster([[1, null], [2, null], [3, null]]);
  run(sm, at(), topic("t", 3, 3));
  const preferred = sm.topic("t")!.partitions.map((p) => p.replicas[0]);
  const epoch1 = sm.broker(1)!.epoch;
  // Broker 1 fails: the partitions it led move to other ISR members.
  run(sm, at(), { v: 1, op: "fence_broker", nodeId: 1, brokerEpoch: epoch1, unclean: false });
  assert.ok(sm.topic("t")!.partitions.every((p) => p.leader !== 1));
  // While broker 1 is down and out of the ISR, nothing moves back.
  assert.deepEqual(run(sm, at(), { v: 1, op: "elect_preferred_leaders" }), {
    ok: true,
    value: { moved: 0 },
  });
  run(sm, at(), { v: 1, op: "unfence_broker", nodeId: 1, brokerEpoch: epoch1 } as MetadataCommand);
  for (const p of sm.topic("t")!.partitions) {
    run(sm, at(), {
      v: 1,
      op: "alter_isr",
      nodeId: p.leader,
      brokerEpoch: sm.broker(p.leader)!.epoch,
      topic: "t",
      partition: p.partition,
      leaderEpoch: p.leaderEpoch,
      partitionEpoch: p.partitionEpoch,
      isr: [1, 2, 3],
    });
  }
  const before = sm.topic("t")!.partitions.map((p) => p.leaderEpoch);
  const result = run(sm, at(), { v: 1, op: "elect_preferred_leaders" }) as unknown as {
    value: { moved: number };
  };
  const after = sm.topic("t")!.partitions;
  assert.deepEqual(after.map((p) => p.leader), preferred);
  assert.ok(result.value.moved >= 1);
  after.forEach((p, i) => {
    if (p.leaderEpoch !== before[i]) {
      assert.equal(p.leaderEpoch, before[i]! + 1, "a move bumps the epoch");
    }
  });
});

Deno.test("MetadataStateMachine reassigns a partition: new replicas first, old ones once in sync", () => {
  const { sm, at } = cluster([[1, null], [2, null], [3, null], [4, null]]);
  run(sm, at(), topic("r", 1, 3));
  const p0 = sm.topic("r")!.partitions[0]!;
  const old = p0.replicas;
  const added = [1, 2, 3, 4].find((id) => !old.includes(id))!;
  const target = [...old.slice(1), added];
  run(sm, at(), { v: 1, op: "reassign_partition", topic: "r", partition: 0, replicas: target });
  const moving = sm.topic("r")!.partitions[0]!;
  assert.deepEqual(moving.replicas, [...old, added], "the new replica joins first");
  assert.deepEqual(moving.targetReplicas, target);
  assert.equal(moving.leader, p0.leader, "leadership stays while the new replica catches up");
  // The leader adds the caught-up replica to the ISR: the reassignment completes.
  run(sm, at(), {
    v: 1,
    op: "alter_isr",
    nodeId: moving.leader,
    brokerEpoch: sm.broker(moving.leader)!.epoch,
    topic: "r",
    partition: 0,
    leaderEpoch: moving.leaderEpoch,
    partitionEpoch: moving.partitionEpoch,
    isr: [...moving.isr, added],
  });
  const done = sm.topic("r")!.partitions[0]!;
  assert.deepEqual(done.replicas, target);
  assert.equal(done.targetReplicas, undefined);
  assert.ok(!done.isr.includes(old[0]!), "the removed replica left the ISR");
  assert.ok(target.includes(done.leader), "the leader is one of the target replicas");
  if (p0.leader === old[0]) assert.equal(done.leaderEpoch, moving.leaderEpoch + 1);
  const bad = run(sm, at(), {
    v: 1,
    op: "reassign_partition",
    topic: "r",
    partition: 0,
    replicas: [9],
  });
  assert.equal((bad as { ok: boolean }).ok, false);
});
