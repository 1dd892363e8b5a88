/**
 * Rack-aware replica placement, after Kafka's `AdminUtils.assignReplicasToBrokers`: brokers are
 * interleaved by rack, each partition's first replica walks that list round-robin from a cursor,
 * and the other replicas are taken from racks the partition does not use yet while any remain.
 * Pure and deterministic, so every controller computes the same placement during apply.
 *
 * @module
 */

/** A broker as placement sees it. */
export interface PlacementBroker {
  nodeId: number;
  /** Null or "" means no rack: such brokers form one rack of their own. */
  rack: string | null;
}

/**
 * Interleaves brokers by rack: the first broker of each rack (racks in name order), then the
 * second of each, and so on. Brokers within a rack are in id order.
 */
export function rackAlternatedBrokers(brokers: readonly PlacementBroker[]): PlacementBroker[] {
  const byRack = new Map<string, PlacementBroker[]>();
  for (const b of [...brokers].sort((x, y) => x.nodeId - y.nodeId)) {
    const rack = b.rack ?? "";
    let list = byRack.get(rack);
    if (list === undefined) byRack.set(rack, list = []);
    list.push(b);
  }
  const racks = [...byRack.keys()].sort();
  const out: PlacementBroker[] = [];
  for (let round = 0; out.length < brokers.length; round++) {
    for (const rack of racks) {
      const b = byRack.get(rack)![round];
      if (b !== undefined) out.push(b);
    }
  }
  return out;
}

/**
 * Places `count` partitions of `replicationFactor` replicas each. Returns one replica list per
 * partition; the first replica is the preferred leader. `cursor` shifts where the round-robin
 * starts so that successive topics do not all lead on the same broker.
 *
 * @example
 * ```ts
 * import { placeReplicas } from "./placement.ts";
 * import assert from "node:assert/strict";
 * const brokers = [{ nodeId: 1, rack: "a" }, { nodeId: 2, rack: "a" }, { nodeId: 3, rack: "b" }];
 * const [replicas] = placeReplicas(brokers, { count: 1, replicationFactor: 2, cursor: 0 });
 * assert.equal(new Set(replicas!.map((id) => brokers.find((b) => b.nodeId === id)!.rack)).size, 2);
 * ```
 */
export function placeReplicas(
  brokers: readonly PlacementBroker[],
  options: { count: number; replicationFactor: number; cursor: number },
): number[][] {
  const { count, replicationFactor, cursor } = options;
  if (replicationFactor < 1 || replicationFactor > brokers.length) {
    throw new RangeError(
      `Cannot place ${replicationFactor} replicas as ${brokers.length} brokers are available`,
    );
  }
  const ordered = rackAlternatedBrokers(brokers);
  const rackCount = new Set(ordered.map((b) => b.rack ?? "")).size;
  const n = ordered.length;
  const out: number[][] = [];
  for (let p = 0; p < count; p++) {
    const first = (cursor + p) % n;
    // Shifting the follower walk per "lap" spreads followers, as Kafka's nextReplicaShift does.
    const shift = 1 + (Math.floor((cursor + p) / n) % Math.max(1, n - 1));
    out.push(_replicasFor(ordered, first, shift, replicationFactor, rackCount));
  }
  return out;
}

function _replicasFor(
  ordered: readonly PlacementBroker[],
  first: number,
  shift: number,
  replicationFactor: number,
  rackCount: number,
): number[] {
  const n = ordered.length;
  const chosen = [ordered[first]!];
  const racks = new Set([ordered[first]!.rack ?? ""]);
  for (let step = 0; chosen.length < replicationFactor && step < n * n; step++) {
    const candidate = ordered[(first + shift + step) % n]!;
    if (chosen.includes(candidate)) continue;
    // Prefer a new rack until every rack holds a replica; after that any unused broker will do.
    const rackFull = racks.size < rackCount && racks.has(candidate.rack ?? "");
    if (rackFull) continue;
    chosen.push(candidate);
    racks.add(candidate.rack ?? "");
    if (racks.size === rackCount) racks.clear();
  }
  return chosen.map((b) => b.nodeId);
}
