import assert from "node:assert/strict";
import { PartitionAssigners } from "kafkajs";
import { Buffer } from "node:buffer";
import { assignorByName, type AssignorMember, compareMembers } from "./assignors.ts";
import type { Subscription, TopicPartitions } from "./consumer_protocol.ts";
import { decodeAssignment } from "./consumer_protocol.ts";

function _sub(topics: string[], extra: Partial<Subscription> = {}): Subscription {
  return {
    version: 3,
    topics,
    userData: null,
    ownedPartitions: [],
    generationId: -1,
    rackId: null,
    ...extra,
  };
}

function _m(memberId: string, topics: string[], extra: Partial<Subscription> = {}): AssignorMember {
  return { memberId, groupInstanceId: null, subscription: _sub(topics, extra) };
}

function _flat(list: TopicPartitions[] | undefined): string[] {
  return (list ?? []).flatMap((tp) => tp.partitions.map((p) => `${tp.topic}${p}`));
}

const _T2 = new Map([["t0", 3], ["t1", 3]]);

Deno.test("range assignor matches the Java RangeAssignor example", () => {
  const out = assignorByName("range").assign([_m("C0", ["t0", "t1"]), _m("C1", ["t0", "t1"])], _T2);
  assert.deepEqual(_flat(out.get("C0")), ["t00", "t01", "t10", "t11"]);
  assert.deepEqual(_flat(out.get("C1")), ["t02", "t12"]);
});

Deno.test("roundrobin assignor matches the Java RoundRobinAssignor example", () => {
  const out = assignorByName("roundrobin").assign(
    [_m("C1", ["t0", "t1"]), _m("C0", ["t0", "t1"])],
    _T2,
  );
  assert.deepEqual(_flat(out.get("C0")), ["t00", "t02", "t11"]);
  assert.deepEqual(_flat(out.get("C1")), ["t01", "t10", "t12"]);
});

Deno.test("roundrobin assignor skips members not subscribed to a topic", () => {
  const out = assignorByName("roundrobin").assign(
    [_m("C0", ["t0"]), _m("C1", ["t0", "t1"]), _m("C2", ["t0", "t1"])],
    new Map([["t0", 1], ["t1", 2]]),
  );
  // Java's example: C0 [t0p0], C1 [t1p0], C2 [t1p1].
  assert.deepEqual(_flat(out.get("C0")), ["t00"]);
  assert.deepEqual(_flat(out.get("C1")), ["t10"]);
  assert.deepEqual(_flat(out.get("C2")), ["t11"]);
});

Deno.test("compareMembers puts static members first, by instance id", () => {
  const members: AssignorMember[] = [
    _m("a", []),
    { ..._m("z", []), groupInstanceId: "i2" },
    { ..._m("y", []), groupInstanceId: "i1" },
  ];
  assert.deepEqual([...members].sort(compareMembers).map((m) => m.memberId), ["y", "z", "a"]);
});

Deno.test("RoundRobinAssigner gives the same assignment as kafkajs's own assigner", async () => {
  const counts = new Map([["orders", 5], ["audit", 2]]);
  const ids = ["kjs-3", "sdk-1", "kjs-2"];
  const ours = assignorByName("RoundRobinAssigner").assign(
    ids.map((id) => _m(id, ["audit", "orders"])),
    counts,
  );
  const cluster = {
    findTopicPartitionMetadata: (topic: string) =>
      Array.from({ length: counts.get(topic)! }, (_, partitionId) => ({ partitionId })),
  };
  // kafkajs's assigner only calls findTopicPartitionMetadata; the rest is unused here.
  // deno-lint-ignore no-explicit-any
  const kafkajs = PartitionAssigners.roundRobin({ cluster, groupId: "g", logger: null } as any);
  const theirs = await kafkajs.assign({
    members: ids.map((memberId) => ({ memberId, memberMetadata: Buffer.alloc(0) })),
    topics: ["audit", "orders"],
  });
  for (const { memberId, memberAssignment } of theirs) {
    const decoded = decodeAssignment(new Uint8Array(memberAssignment)).assignedPartitions;
    assert.deepEqual(
      _flat(ours.get(memberId)),
      _flat(decoded.sort((a, b) => a.topic < b.topic ? -1 : 1)),
    );
  }
});

Deno.test("cooperative-sticky assignor keeps owned partitions and withholds moving ones", () => {
  const a = assignorByName("cooperative-sticky");
  const owned = (ps: number[]) => ({
    ownedPartitions: [{ topic: "t", partitions: ps }],
    generationId: 4,
  });
  const counts = new Map([["t", 6]]);
  // a and b own three each; c joins.
  const first = a.assign([
    _m("a", ["t"], owned([0, 1, 2])),
    _m("b", ["t"], owned([3, 4, 5])),
    _m("c", ["t"]),
  ], counts);
  assert.equal(_flat(first.get("a")).length, 2);
  assert.equal(_flat(first.get("b")).length, 2);
  // c gets nothing yet: both of its partitions are still owned by a and b.
  assert.deepEqual(_flat(first.get("c")), []);
  assert.ok(_flat(first.get("a")).every((p) => ["t0", "t1", "t2"].includes(p)));
  // After a and b revoke and rejoin, the second rebalance hands the freed two to c.
  const second = a.assign([
    _m("a", ["t"], owned(first.get("a")![0]!.partitions)),
    _m("b", ["t"], owned(first.get("b")![0]!.partitions)),
    _m("c", ["t"], { ownedPartitions: [], generationId: 4 }),
  ], counts);
  assert.deepEqual(_flat(second.get("a")), _flat(first.get("a")));
  assert.deepEqual(_flat(second.get("b")), _flat(first.get("b")));
  assert.equal(_flat(second.get("c")).length, 2);
});

Deno.test("cooperative-sticky assignor gives a doubly claimed partition to the newer generation", () => {
  const a = assignorByName("cooperative-sticky");
  const out = a.assign([
    _m("old", ["t"], { ownedPartitions: [{ topic: "t", partitions: [0, 1] }], generationId: 2 }),
    _m("new", ["t"], { ownedPartitions: [{ topic: "t", partitions: [1] }], generationId: 3 }),
  ], new Map([["t", 2]]));
  assert.deepEqual(_flat(out.get("old")), ["t0"]);
  assert.deepEqual(_flat(out.get("new")), ["t1"]);
});

Deno.test("every assignor assigns each partition exactly once over random groups", () => {
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (const name of ["range", "roundrobin", "cooperative-sticky", "RoundRobinAssigner"]) {
    for (let round = 0; round < 50; round++) {
      const counts = new Map([["a", 1 + rand(12)], ["b", 1 + rand(5)]]);
      const members = Array.from(
        { length: 1 + rand(6) },
        (_, i) => _m(`m${rand(1000)}-${i}`, ["a", "b"]),
      );
      const out = assignorByName(name).assign(members, counts);
      const all = [...out.values()].flatMap(_flat).sort();
      const expected = [...counts].flatMap(([t, n]) =>
        Array.from({ length: n }, (_, p) => `${t}${p}`)
      ).sort();
      assert.deepEqual(all, expected, `${name} round ${round} (seed 42)`);
      const sizes = [...out.values()].map((l) => _flat(l).length);
      if (name !== "range") {
        assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${name} balance`);
      }
    }
  }
});

Deno.test("assignorByName rejects unknown names", () => {
  assert.throws(() => assignorByName("sticky"), RangeError);
});
