/**
 * Partition assignors that the group leader runs, wire-compatible with other clients:
 *
 * | name | protocol name on the wire | rebalance | same algorithm as |
 * |---|---|---|---|
 * | `range` | `range` | eager | Java `RangeAssignor` |
 * | `roundrobin` | `roundrobin` | eager | Java `RoundRobinAssignor` |
 * | `cooperative-sticky` | `cooperative-sticky` | cooperative | Java `CooperativeStickyAssignor` (simplified balance, see below) |
 * | `RoundRobinAssigner` | `RoundRobinAssigner` | eager | kafkajs's default assigner |
 *
 * kafkajs offers only `RoundRobinAssigner` by default, so a group that mixes kafkajs and SDK
 * consumers needs every SDK member to list `RoundRobinAssigner` too (the SDK's default list
 * does). Whoever is leader then runs the same algorithm.
 *
 * The assignors are pure functions of the members' subscriptions and partition counts.
 *
 * @module
 */

import type { Subscription, TopicPartitions } from "./consumer_protocol.ts";

/** Names of the assignors the SDK implements (each is also its protocol name). */
export type AssignorName = "range" | "roundrobin" | "cooperative-sticky" | "RoundRobinAssigner";

/** Every assignor name, in a stable order. */
export const ASSIGNOR_NAMES: readonly AssignorName[] = [
  "range",
  "roundrobin",
  "cooperative-sticky",
  "RoundRobinAssigner",
];

/** One member as the leader sees it in the JoinGroup response. */
export interface AssignorMember {
  /** Member id. */
  memberId: string;
  /** Static instance id, or null. */
  groupInstanceId: string | null;
  /** The decoded subscription. */
  subscription: Subscription;
}

/** An assignor. */
export interface Assignor {
  /** Protocol name in JoinGroup. */
  readonly name: AssignorName;
  /** Whether members keep their partitions across a rebalance (incremental cooperative). */
  readonly cooperative: boolean;
  /** Highest subscription version to send (kafkajs reads only v0 fields, all do). */
  readonly subscriptionVersion: number;
  /** Assignor bytes for the subscription. */
  userData(generationId: number): Uint8Array | null;
  /** Partitions per member id; every member gets an entry, possibly empty. */
  assign(
    members: readonly AssignorMember[],
    partitionsPerTopic: ReadonlyMap<string, number>,
  ): Map<string, TopicPartitions[]>;
}

/**
 * Java's member order (`AbstractPartitionAssignor.MemberInfo`): static members first by
 * instance id, then the rest by member id.
 */
export function compareMembers(a: AssignorMember, b: AssignorMember): number {
  const ai = a.groupInstanceId;
  const bi = b.groupInstanceId;
  if (ai !== null && bi !== null) return ai < bi ? -1 : ai > bi ? 1 : 0;
  if (ai !== null) return -1;
  if (bi !== null) return 1;
  return a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0;
}

/** Collects (member, topic, partition) choices into per-member lists sorted by topic, partition. */
class _Builder {
  readonly #byMember = new Map<string, Map<string, number[]>>();

  constructor(members: readonly AssignorMember[]) {
    for (const m of members) this.#byMember.set(m.memberId, new Map());
  }

  add(memberId: string, topic: string, partition: number): void {
    const topics = this.#byMember.get(memberId)!;
    const list = topics.get(topic) ?? [];
    list.push(partition);
    topics.set(topic, list);
  }

  count(memberId: string): number {
    let n = 0;
    for (const list of this.#byMember.get(memberId)!.values()) n += list.length;
    return n;
  }

  result(): Map<string, TopicPartitions[]> {
    const out = new Map<string, TopicPartitions[]>();
    for (const [memberId, topics] of this.#byMember) {
      out.set(
        memberId,
        [...topics.keys()].sort().map((topic) => ({
          topic,
          partitions: topics.get(topic)!.sort((a, b) => a - b),
        })),
      );
    }
    return out;
  }
}

function _sortedTopics(partitionsPerTopic: ReadonlyMap<string, number>): string[] {
  return [...partitionsPerTopic.keys()].sort();
}

/** Java's RangeAssignor: per topic, contiguous ranges, the first members get one extra. */
function _range(
  members: readonly AssignorMember[],
  partitionsPerTopic: ReadonlyMap<string, number>,
): Map<string, TopicPartitions[]> {
  const b = new _Builder(members);
  const sorted = [...members].sort(compareMembers);
  for (const topic of _sortedTopics(partitionsPerTopic)) {
    const count = partitionsPerTopic.get(topic)!;
    const subscribed = sorted.filter((m) => m.subscription.topics.includes(topic));
    if (subscribed.length === 0) continue;
    const per = Math.floor(count / subscribed.length);
    const extra = count % subscribed.length;
    subscribed.forEach((m, i) => {
      const start = per * i + Math.min(i, extra);
      const length = per + (i < extra ? 1 : 0);
      for (let p = start; p < start + length; p++) b.add(m.memberId, topic, p);
    });
  }
  return b.result();
}

/** Java's RoundRobinAssignor: all partitions sorted, dealt in turn to subscribed members. */
function _roundRobin(
  members: readonly AssignorMember[],
  partitionsPerTopic: ReadonlyMap<string, number>,
): Map<string, TopicPartitions[]> {
  const b = new _Builder(members);
  const sorted = [...members].sort(compareMembers);
  if (sorted.length === 0) return b.result();
  let next = 0;
  for (const topic of _sortedTopics(partitionsPerTopic)) {
    if (!sorted.some((m) => m.subscription.topics.includes(topic))) continue;
    const count = partitionsPerTopic.get(topic)!;
    for (let p = 0; p < count; p++) {
      while (!sorted[next % sorted.length]!.subscription.topics.includes(topic)) next++;
      b.add(sorted[next % sorted.length]!.memberId, topic, p);
      next++;
    }
  }
  return b.result();
}

/**
 * kafkajs's RoundRobinAssigner: member ids sorted as strings, every partition of every topic
 * dealt in turn, without looking at who subscribed to what (kafkajs groups subscribe alike).
 */
function _kafkajsRoundRobin(
  members: readonly AssignorMember[],
  partitionsPerTopic: ReadonlyMap<string, number>,
): Map<string, TopicPartitions[]> {
  const b = new _Builder(members);
  const ids = members.map((m) => m.memberId).sort();
  if (ids.length === 0) return b.result();
  let i = 0;
  for (const topic of _sortedTopics(partitionsPerTopic)) {
    const count = partitionsPerTopic.get(topic)!;
    for (let p = 0; p < count; p++) b.add(ids[i++ % ids.length]!, topic, p);
  }
  return b.result();
}

/** Owned partitions each member may keep: a partition claimed twice goes to the newest claim. */
function _validOwned(
  members: readonly AssignorMember[],
  partitionsPerTopic: ReadonlyMap<string, number>,
): Map<string, string> {
  const owner = new Map<string, { memberId: string; generation: number; tie: boolean }>();
  for (const m of members) {
    const generation = _generationOf(m.subscription);
    for (const tp of m.subscription.ownedPartitions) {
      const count = partitionsPerTopic.get(tp.topic);
      if (count === undefined || !m.subscription.topics.includes(tp.topic)) continue;
      for (const p of tp.partitions) {
        if (p < 0 || p >= count) continue;
        const key = `${tp.topic}\0${p}`;
        const prev = owner.get(key);
        if (prev === undefined || generation > prev.generation) {
          owner.set(key, { memberId: m.memberId, generation, tie: false });
        } else if (generation === prev.generation) prev.tie = true;
      }
    }
  }
  const out = new Map<string, string>();
  for (const [key, o] of owner) if (!o.tie) out.set(key, o.memberId);
  return out;
}

function _generationOf(s: Subscription): number {
  if (s.version >= 2) return s.generationId;
  // Java's cooperative-sticky also puts the generation in its user data, for old leaders.
  if (s.userData !== null && s.userData.length >= 4) {
    return new DataView(s.userData.buffer, s.userData.byteOffset, 4).getInt32(0);
  }
  return -1;
}

/**
 * Sticky balance: each member keeps what it validly owns up to its fair share (members with
 * the most owned partitions get the larger shares), then unowned partitions go one at a time
 * to the subscribed member with the fewest. Balance is exact for groups whose members
 * subscribe to the same topics, which is what Java's sticky assignor also optimises for.
 */
function _sticky(
  members: readonly AssignorMember[],
  partitionsPerTopic: ReadonlyMap<string, number>,
): Map<string, TopicPartitions[]> {
  const b = new _Builder(members);
  const sorted = [...members].sort(compareMembers);
  if (sorted.length === 0) return b.result();
  const owned = _validOwned(sorted, partitionsPerTopic);
  const all: [string, number][] = [];
  for (const topic of _sortedTopics(partitionsPerTopic)) {
    if (!sorted.some((m) => m.subscription.topics.includes(topic))) continue;
    for (let p = 0; p < partitionsPerTopic.get(topic)!; p++) all.push([topic, p]);
  }
  const floor = Math.floor(all.length / sorted.length);
  let ceilSlots = all.length % sorted.length;
  const ownedBy = new Map<string, [string, number][]>(sorted.map((m) => [m.memberId, []]));
  for (const [topic, p] of all) ownedBy.get(owned.get(`${topic}\0${p}`) ?? "")?.push([topic, p]);
  const byOwnedDesc = [...sorted].sort((x, y) =>
    ownedBy.get(y.memberId)!.length - ownedBy.get(x.memberId)!.length || compareMembers(x, y)
  );
  const taken = new Set<string>();
  for (const m of byOwnedDesc) {
    const mine = ownedBy.get(m.memberId)!;
    let quota = floor;
    if (ceilSlots > 0 && mine.length > floor) {
      quota = floor + 1;
      ceilSlots--;
    }
    for (const [topic, p] of mine.slice(0, quota)) {
      b.add(m.memberId, topic, p);
      taken.add(`${topic}\0${p}`);
    }
  }
  for (const [topic, p] of all) {
    if (taken.has(`${topic}\0${p}`)) continue;
    let best: AssignorMember | null = null;
    for (const m of sorted) {
      if (!m.subscription.topics.includes(topic)) continue;
      if (best === null || b.count(m.memberId) < b.count(best.memberId)) best = m;
    }
    if (best !== null) b.add(best.memberId, topic, p);
  }
  return b.result();
}

/**
 * Java's cooperative adjustment: a partition that moves from one member to another is left
 * out of this generation. Its old owner sees it missing, revokes it and rejoins, and the next
 * rebalance hands it to the new owner, so no partition is ever owned by two members at once.
 */
function _cooperativeSticky(
  members: readonly AssignorMember[],
  partitionsPerTopic: ReadonlyMap<string, number>,
): Map<string, TopicPartitions[]> {
  const target = _sticky(members, partitionsPerTopic);
  const owned = _validOwned(members, partitionsPerTopic);
  const out = new Map<string, TopicPartitions[]>();
  for (const [memberId, list] of target) {
    out.set(
      memberId,
      list.map((tp) => ({
        topic: tp.topic,
        partitions: tp.partitions.filter((p) => {
          const o = owned.get(`${tp.topic}\0${p}`);
          return o === undefined || o === memberId;
        }),
      })).filter((tp) => tp.partitions.length > 0),
    );
  }
  return out;
}

function _int32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, value);
  return out;
}

const _ASSIGNORS: Readonly<Record<AssignorName, Assignor>> = {
  "range": {
    name: "range",
    cooperative: false,
    subscriptionVersion: 3,
    userData: () => null,
    assign: _range,
  },
  "roundrobin": {
    name: "roundrobin",
    cooperative: false,
    subscriptionVersion: 3,
    userData: () => null,
    assign: _roundRobin,
  },
  "cooperative-sticky": {
    name: "cooperative-sticky",
    cooperative: true,
    subscriptionVersion: 3,
    userData: _int32,
    assign: _cooperativeSticky,
  },
  "RoundRobinAssigner": {
    name: "RoundRobinAssigner",
    cooperative: false,
    // kafkajs writes and expects version 0 with empty (not null) user data.
    subscriptionVersion: 0,
    userData: () => new Uint8Array(0),
    assign: _kafkajsRoundRobin,
  },
};

/**
 * The assignor called `name`. Throws `RangeError` for an unknown name.
 *
 * @example
 * ```ts
 * import { assignorByName } from "./assignors.ts";
 * import assert from "node:assert/strict";
 * const range = assignorByName("range");
 * const sub = (topics: string[]) => ({
 *   version: 0, topics, userData: null, ownedPartitions: [], generationId: -1, rackId: null,
 * });
 * const out = range.assign(
 *   [{ memberId: "a", groupInstanceId: null, subscription: sub(["t"]) },
 *    { memberId: "b", groupInstanceId: null, subscription: sub(["t"]) }],
 *   new Map([["t", 3]]),
 * );
 * assert.deepEqual(out.get("a"), [{ topic: "t", partitions: [0, 1] }]);
 * assert.deepEqual(out.get("b"), [{ topic: "t", partitions: [2] }]);
 * ```
 */
export function assignorByName(name: string): Assignor {
  const a = (_ASSIGNORS as Record<string, Assignor | undefined>)[name];
  if (a === undefined) {
    throw new RangeError(
      `Cannot use assignor ${name} as it is not one of ${ASSIGNOR_NAMES.join(", ")}`,
    );
  }
  return a;
}
