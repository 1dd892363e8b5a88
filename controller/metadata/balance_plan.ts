/**
 * Planning of partition moves for scaling: draining a broker that is being decommissioned, and
 * balancing replica and preferred-leader counts across brokers (`BALANCE_PARTITIONS`, after
 * Kafka's reassignment tool and Cruise Control's replica-distribution goals). Pure and
 * deterministic: the same cluster always gives the same plan, so a plan can be shown, stored
 * in the Raft log and executed later by whichever controller leads.
 *
 * A move is a reassignment: the new replicas join and catch up first, then the old ones leave
 * (`reassign_partition`). Since history lives in object storage, a new replica only copies the
 * WAL tail that has not been uploaded yet.
 *
 * @module
 */

/** A broker as the planner sees it. */
export interface PlanBroker {
  nodeId: number;
  /** Null means no rack: such brokers form one rack of their own. */
  rack: string | null;
  /** Whether it may receive replicas (live, not draining, not decommissioned). */
  eligible: boolean;
}

/** A partition as the planner sees it. */
export interface PlanPartition {
  topic: string;
  partition: number;
  replicas: readonly number[];
  /** Set while a reassignment is in progress: such a partition is left alone. */
  moving: boolean;
}

/** One planned reassignment. */
export interface PartitionMove {
  topic: string;
  partition: number;
  from: number[];
  to: number[];
  /** `replica`: a replica changes broker; `leader`: only the order (preferred leader) changes. */
  kind: "replica" | "leader";
}

/** A partition the planner could not move, with the reason. */
export interface BlockedPartition {
  topic: string;
  partition: number;
  reason: string;
}

/** A plan: the moves in execution order, and what cannot move. */
export interface MovePlan {
  moves: PartitionMove[];
  blocked: BlockedPartition[];
}

/** Options of {@linkcode planBalance}. */
export interface BalanceOptions {
  /** Only these topics' partitions are counted and moved; absent means all. */
  topics?: ReadonlySet<string>;
  /** Replica moves planned at most. @default 10000 */
  movesMax?: number;
}

const _rackOf = (brokers: ReadonlyMap<number, PlanBroker>, id: number) =>
  brokers.get(id)?.rack ?? "";

function _sorted(partitions: readonly PlanPartition[]): PlanPartition[] {
  return [...partitions].sort((a, b) =>
    a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition
  );
}

function _replicaCounts(
  brokers: readonly PlanBroker[],
  partitions: readonly PlanPartition[],
): Map<number, number> {
  const counts = new Map<number, number>(brokers.map((b) => [b.nodeId, 0]));
  for (const p of partitions) {
    for (const id of p.replicas) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/**
 * Chooses the broker that takes over one replica: an eligible broker not already a replica,
 * preferring a rack the partition's other replicas do not use, then the fewest replicas, then
 * the lowest id. Returns undefined when none is eligible.
 */
function _replacement(
  byId: ReadonlyMap<number, PlanBroker>,
  counts: ReadonlyMap<number, number>,
  keep: readonly number[],
): number | undefined {
  const usedRacks = new Set(keep.map((id) => _rackOf(byId, id)));
  const candidates = [...byId.values()].filter((b) => b.eligible && !keep.includes(b.nodeId));
  candidates.sort((a, b) => {
    const newRack = Number(usedRacks.has(a.rack ?? "")) - Number(usedRacks.has(b.rack ?? ""));
    if (newRack !== 0) return newRack;
    const load = (counts.get(a.nodeId) ?? 0) - (counts.get(b.nodeId) ?? 0);
    return load !== 0 ? load : a.nodeId - b.nodeId;
  });
  return candidates[0]?.nodeId;
}

/**
 * Plans moving every replica off `nodeId`: each is replaced in place (so a preferred leader is
 * replaced by the new replica), by the broker {@linkcode _replacement} chooses. Partitions in
 * the middle of a reassignment are skipped (planned again once it ends); a partition with no
 * eligible broker left is blocked.
 *
 * @example
 * ```ts
 * import { planDrain } from "./balance_plan.ts";
 * import assert from "node:assert/strict";
 * const brokers = [1, 2, 3].map((id) => ({ nodeId: id, rack: null, eligible: id !== 3 }));
 * const plan = planDrain(brokers, [{ topic: "t", partition: 0, replicas: [3, 1], moving: false }], 3);
 * assert.deepEqual(plan.moves[0]?.to, [2, 1]);
 * ```
 */
export function planDrain(
  brokers: readonly PlanBroker[],
  partitions: readonly PlanPartition[],
  nodeId: number,
): MovePlan {
  const byId = new Map(brokers.map((b) => [b.nodeId, b]));
  const counts = _replicaCounts(brokers, partitions);
  const plan: MovePlan = { moves: [], blocked: [] };
  for (const p of _sorted(partitions)) {
    if (p.moving || !p.replicas.includes(nodeId)) continue;
    const keep = p.replicas.filter((id) => id !== nodeId);
    const chosen = _replacement(byId, counts, keep);
    if (chosen === undefined) {
      plan.blocked.push({
        topic: p.topic,
        partition: p.partition,
        reason:
          `no eligible broker outside replicas [${p.replicas}] can take the replica of broker ${nodeId}`,
      });
      continue;
    }
    counts.set(chosen, (counts.get(chosen) ?? 0) + 1);
    counts.set(nodeId, (counts.get(nodeId) ?? 1) - 1);
    plan.moves.push({
      topic: p.topic,
      partition: p.partition,
      from: [...p.replicas],
      to: p.replicas.map((id) => id === nodeId ? chosen : id),
      kind: "replica",
    });
  }
  return plan;
}

/**
 * Plans `BALANCE_PARTITIONS`: replica moves from the most to the least loaded eligible broker
 * until replica counts differ by at most one (or no move keeps the partition's rack spread),
 * then reorderings that spread preferred leaders (first replicas) the same way. Brokers that
 * are not eligible (draining, fenced) are neither sources nor targets.
 *
 * @example
 * ```ts
 * import { planBalance } from "./balance_plan.ts";
 * import assert from "node:assert/strict";
 * const brokers = [1, 2].map((id) => ({ nodeId: id, rack: null, eligible: true }));
 * const parts = [0, 1].map((p) => ({ topic: "t", partition: p, replicas: [1], moving: false }));
 * assert.deepEqual(planBalance(brokers, parts).moves.map((m) => m.to), [[2]]);
 * ```
 */
export function planBalance(
  brokers: readonly PlanBroker[],
  partitions: readonly PlanPartition[],
  options: BalanceOptions = {},
): MovePlan {
  const movesMax = options.movesMax ?? 10_000;
  const selected = _sorted(partitions).filter((p) =>
    options.topics === undefined || options.topics.has(p.topic)
  );
  const byId = new Map(brokers.map((b) => [b.nodeId, b]));
  // Working copies: the plan changes replica lists as it goes.
  const work = selected.map((p) => ({ ...p, replicas: [...p.replicas], from: [...p.replicas] }));
  const counts = _replicaCounts(brokers.filter((b) => b.eligible), work);
  const moved = new Set<number>();
  while (moved.size < movesMax) {
    const step = _bestReplicaMove(byId, counts, work, moved);
    if (step === null) break;
    const [i, over, under] = step;
    const p = work[i]!;
    p.replicas = p.replicas.map((id) => id === over ? under : id);
    counts.set(over, counts.get(over)! - 1);
    counts.set(under, counts.get(under)! + 1);
    moved.add(i);
  }
  _balanceLeaders(byId, work);
  const plan: MovePlan = { moves: [], blocked: [] };
  work.forEach((p, i) => {
    if (p.replicas.every((id, j) => p.from[j] === id)) return;
    plan.moves.push({
      topic: p.topic,
      partition: p.partition,
      from: p.from,
      to: p.replicas,
      kind: moved.has(i) ? "replica" : "leader",
    });
  });
  return plan;
}

/**
 * The next replica move: from an eligible broker with at least two replicas more than another,
 * a partition that does not hold the target yet, is not already moving or moved, and keeps its
 * number of distinct racks. Pairs are tried most-loaded source and least-loaded target first.
 */
function _bestReplicaMove(
  byId: ReadonlyMap<number, PlanBroker>,
  counts: ReadonlyMap<number, number>,
  work: readonly PlanPartition[],
  moved: ReadonlySet<number>,
): [number, number, number] | null {
  const order = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  for (const [over, overCount] of order) {
    for (const [under, underCount] of [...order].reverse()) {
      if (overCount - underCount < 2) break;
      const i = work.findIndex((p, j) =>
        !moved.has(j) && !p.moving && p.replicas.includes(over) && !p.replicas.includes(under) &&
        _rackSpread(byId, p.replicas.map((id) => id === over ? under : id)) >=
          _rackSpread(byId, p.replicas)
      );
      if (i >= 0) return [i, over, under];
    }
  }
  return null;
}

function _rackSpread(byId: ReadonlyMap<number, PlanBroker>, replicas: readonly number[]): number {
  return new Set(replicas.map((id) => _rackOf(byId, id))).size;
}

/**
 * Spreads preferred leaders: while an eligible broker is first in at least two lists more than
 * another broker that is a replica of one of its partitions, the two swap places there.
 */
function _balanceLeaders(
  byId: ReadonlyMap<number, PlanBroker>,
  work: { replicas: number[]; moving: boolean }[],
): void {
  const eligible = [...byId.values()].filter((b) => b.eligible).map((b) => b.nodeId);
  const leads = new Map<number, number>(eligible.map((id) => [id, 0]));
  for (const p of work) {
    const first = p.replicas[0]!;
    if (leads.has(first)) leads.set(first, leads.get(first)! + 1);
  }
  for (let guard = 0; guard < work.length * 2; guard++) {
    const order = [...leads.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const swap = _leaderSwap(order, work);
    if (swap === null) return;
    const [p, over, under] = swap;
    const j = p.replicas.indexOf(under);
    p.replicas[0] = under;
    p.replicas[j] = over;
    leads.set(over, leads.get(over)! - 1);
    leads.set(under, leads.get(under)! + 1);
  }
}

function _leaderSwap(
  order: [number, number][],
  work: { replicas: number[]; moving: boolean }[],
): [{ replicas: number[] }, number, number] | null {
  for (const [over, overCount] of order) {
    for (const [under, underCount] of [...order].reverse()) {
      if (overCount - underCount < 2) break;
      const p = work.find((x) => !x.moving && x.replicas[0] === over && x.replicas.includes(under));
      if (p !== undefined) return [p, over, under];
    }
  }
  return null;
}

/** Replica and preferred-leader counts per broker after `plan`, for showing a plan. */
export function countsAfter(
  brokers: readonly PlanBroker[],
  partitions: readonly PlanPartition[],
  plan: MovePlan,
): { nodeId: number; replicas: number; leaders: number }[] {
  const after = new Map(partitions.map((p) => [`${p.topic}\0${p.partition}`, p.replicas]));
  for (const m of plan.moves) after.set(`${m.topic}\0${m.partition}`, m.to);
  return brokers.map((b) => {
    let replicas = 0, leaders = 0;
    for (const r of after.values()) {
      if (r.includes(b.nodeId)) replicas++;
      if (r[0] === b.nodeId) leaders++;
    }
    return { nodeId: b.nodeId, replicas, leaders };
  });
}
