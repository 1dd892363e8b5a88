/**
 * `BALANCE_LOAD`: moves that even out the load brokers report, after Cruise Control's
 * network-inbound goal and Redpanda's continuous balancing. Pure and deterministic, like
 * {@linkcode planBalance}: the same cluster and reports always give the same plan.
 *
 * A partition's weight is the records per second its leader reports. A broker carries the
 * weight of every partition it holds a replica of (each replica appends the same records), and
 * once more for each one it leads (the leader also serves followers and consumers). Moves are
 * chosen greedily from the most loaded broker: handing leadership to a cooler in-sync replica
 * first (`leader`, nothing is copied), else moving a replica to the coolest broker that does not
 * hold one (`replica`; since history lives in object storage, only the WAL tail is copied).
 *
 * @module
 */

import type { MovePlan, PartitionMove, PlanBroker, PlanPartition } from "./balance_plan.ts";

/** A partition as the load planner sees it: the plan view plus its current leader. */
export interface LoadPartition extends PlanPartition {
  /** The broker leading it now (-1: none). */
  readonly leader: number;
}

/** Options of {@linkcode planLoadBalance}. */
export interface LoadBalanceOptions {
  /** Stop once the most loaded broker is within this factor of the mean. @default 1.2 */
  readonly targetRatio?: number;
  /** Moves planned at most. @default 32 */
  readonly movesMax?: number;
  /** Only these topics' partitions are moved (all count as load). */
  readonly topics?: ReadonlySet<string>;
}

interface _Work {
  p: LoadPartition;
  replicas: number[];
  leader: number;
  weight: number;
  moved: boolean;
}

/** Per-broker load (weighted records per second) of `work`, eligible brokers only. */
function _loads(eligible: readonly number[], work: readonly _Work[]): Map<number, number> {
  const loads = new Map<number, number>(eligible.map((id) => [id, 0]));
  for (const w of work) {
    for (const id of w.replicas) if (loads.has(id)) loads.set(id, loads.get(id)! + w.weight);
    if (loads.has(w.leader)) loads.set(w.leader, loads.get(w.leader)! + w.weight);
  }
  return loads;
}

/**
 * Broker loads as the planner counts them, from per-partition weights keyed `topic/partition`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const p = { topic: "t", partition: 0, replicas: [1, 2], moving: false, leader: 1 };
 * assert.deepEqual([...brokerLoads([1, 2], [p], new Map([["t/0", 10]]))], [[1, 20], [2, 10]]);
 * ```
 */
export function brokerLoads(
  eligible: readonly number[],
  partitions: readonly LoadPartition[],
  weights: ReadonlyMap<string, number>,
): Map<number, number> {
  return _loads(eligible, _work(partitions, weights));
}

function _work(partitions: readonly LoadPartition[], weights: ReadonlyMap<string, number>) {
  return [...partitions]
    .sort((a, b) => a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition)
    .map((p) => ({
      p,
      replicas: [...p.replicas],
      leader: p.leader,
      weight: weights.get(`${p.topic}/${p.partition}`) ?? 0,
      moved: false,
    }));
}

/**
 * Plans load moves. `weights` maps `topic/partition` to records per second.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const brokers = [1, 2].map((id) => ({ nodeId: id, rack: null, eligible: true }));
 * const parts = [0, 1].map((i) => ({
 *   topic: "t", partition: i, replicas: [1], moving: false, leader: 1,
 * }));
 * const plan = planLoadBalance(brokers, parts, new Map([["t/0", 100], ["t/1", 100]]));
 * assert.deepEqual(plan.moves.map((m) => [m.partition, m.to]), [[0, [2]]]);
 * ```
 */
export function planLoadBalance(
  brokers: readonly PlanBroker[],
  partitions: readonly LoadPartition[],
  weights: ReadonlyMap<string, number>,
  options: LoadBalanceOptions = {},
): MovePlan {
  const target = options.targetRatio ?? 1.2;
  const movesMax = options.movesMax ?? 32;
  const eligible = brokers.filter((b) => b.eligible).map((b) => b.nodeId).sort((a, b) => a - b);
  const racks = new Map(brokers.map((b) => [b.nodeId, b.rack ?? ""]));
  const work = _work(partitions, weights);
  const moves: PartitionMove[] = [];
  while (moves.length < movesMax && eligible.length > 1) {
    const loads = _loads(eligible, work);
    const total = [...loads.values()].reduce((a, b) => a + b, 0);
    const mean = total / eligible.length;
    const [hot, hotLoad] = [...loads].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]!;
    if (total === 0 || hotLoad <= target * mean) break;
    const step = _bestStep(hot, loads, work, racks, options.topics);
    if (step === null) break;
    const from = [...step.w.replicas];
    step.w.replicas = step.to;
    step.w.leader = step.to[0]!;
    step.w.moved = true;
    moves.push({
      topic: step.w.p.topic,
      partition: step.w.p.partition,
      from,
      to: step.to,
      kind: step.kind,
    });
  }
  return { moves, blocked: [] };
}

interface _Step {
  w: _Work;
  to: number[];
  kind: "leader" | "replica";
  /** The larger of the two brokers' loads after the step: lower is better. */
  peak: number;
}

/** The move off `hot` that lowers the pair's peak load most, or null if none lowers it. */
function _bestStep(
  hot: number,
  loads: ReadonlyMap<number, number>,
  work: readonly _Work[],
  racks: ReadonlyMap<number, string>,
  topics: ReadonlySet<string> | undefined,
): _Step | null {
  const hotLoad = loads.get(hot)!;
  let best: _Step | null = null;
  const consider = (s: _Step) => {
    if (s.peak >= hotLoad) return;
    // Prefer the lower peak; on a tie, a leader change (nothing copied), then the first found.
    if (
      best === null || s.peak < best.peak || (s.peak === best.peak && s.kind === "leader" &&
        best.kind === "replica")
    ) best = s;
  };
  for (const w of work) {
    if (w.moved || w.p.moving || w.weight === 0 || !w.replicas.includes(hot)) continue;
    if (topics !== undefined && !topics.has(w.p.topic)) continue;
    if (w.leader === hot) {
      // Leadership to a cooler replica: the leader's extra share moves.
      for (const u of w.replicas) {
        if (u === hot || !loads.has(u)) continue;
        const to = [u, ...w.replicas.filter((id) => id !== u)];
        consider({
          w,
          to,
          kind: "leader",
          peak: Math.max(hotLoad - w.weight, loads.get(u)! + w.weight),
        });
      }
    }
    // The replica to a broker without one, keeping its position (and so its leadership).
    const share = w.weight * (w.leader === hot ? 2 : 1);
    for (const [u, uLoad] of loads) {
      if (w.replicas.includes(u)) continue;
      const to = w.replicas.map((id) => id === hot ? u : id);
      if (_spread(racks, to) < _spread(racks, w.replicas)) continue;
      consider({ w, to, kind: "replica", peak: Math.max(hotLoad - share, uLoad + share) });
    }
  }
  return best;
}

function _spread(racks: ReadonlyMap<number, string>, replicas: readonly number[]): number {
  return new Set(replicas.map((id) => racks.get(id) ?? "")).size;
}
