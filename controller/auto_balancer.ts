/**
 * The auto-balancer (`[autobalancer]` in controller.toml), on the controller leader, after
 * Cruise Control's anomaly detector and Redpanda's continuous balancing. Every interval it reads
 * the brokers' latest load reports and the replicated placement, and starts a rebalance job
 * (the same job `POST /api/v1/rebalance` starts, executed by the scaling driver) when:
 *
 * - a broker reports CPU above `cpu_threshold` or memory above `memory_threshold`, or the
 *   records it takes in are skewed: the busiest broker carries more than
 *   {@linkcode LOAD_SKEW_RATIO} times the mean, and at least {@linkcode LOAD_FLOOR_RECORDS}
 *   records per second (below that, moving partitions costs more than it saves). The plan is
 *   `BALANCE_LOAD`: moves off the busiest brokers until none carries more than 1.2 times the
 *   mean, or no move helps;
 * - else replica counts are uneven (a broker holds two or more replicas fewer than another, as
 *   after a scale-out): the plan is `BALANCE_PARTITIONS`.
 *
 * It never starts a plan while a rebalance job runs, waits `cooldown_seconds` after starting one,
 * and keeps its last decisions (with their reasons) for `GET /api/v1/autobalancer`. Its only
 * state is that memory: the jobs themselves are in the Raft log, so a new leader's auto-balancer
 * sees them and waits for them.
 *
 * @module
 */

import { type Clock, every } from "../ops/clock.ts";
import type { Logger } from "../ops/logger.ts";
import type { MetadataCommand } from "./metadata/commands.ts";
import { type MovePlan, planBalance } from "./metadata/balance_plan.ts";
import type { BrokerLoad } from "../model/broker_load.ts";
import type { LoadBoard } from "./metadata/load_board.ts";
import { brokerLoads, type LoadPartition, planLoadBalance } from "./metadata/load_plan.ts";
import { type MetadataStateMachine, placeable } from "./metadata/state_machine.ts";

/** The busiest broker's share of the mean load above which the load is skewed. */
export const LOAD_SKEW_RATIO = 1.5;
/** Weighted records per second the busiest broker must carry before skew counts. */
export const LOAD_FLOOR_RECORDS = 100;
/** Replica moves an automatic job keeps in flight (the REST default too). */
export const AUTO_MOVES_CONCURRENT = 4;
/** Decisions kept for the REST API. */
export const DECISIONS_KEPT = 50;

/** What the auto-balancer needs of a controller node. */
export interface BalancerNode {
  readonly sm: MetadataStateMachine;
  status(): { role: string };
  execute(cmd: MetadataCommand): Promise<{ index: number; value: unknown }>;
}

/** Options of {@linkcode AutoBalancer}. */
export interface AutoBalancerOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  /** `autobalancer.enabled`: when false it only reports what it sees. */
  readonly enabled: boolean;
  readonly cpuThreshold: number;
  readonly memoryThreshold: number;
  readonly cooldownMs: number;
  /** Where heartbeats leave load reports. */
  readonly loads: LoadBoard;
  /** Reports older than this are ignored (a broker that stopped reporting). */
  readonly reportMaxAgeMs: number;
  /** A fresh job id. */
  readonly newId: () => string;
  /** How often it looks. @default 1000 */
  readonly intervalMs?: number;
}

/** One decision, as `GET /api/v1/autobalancer` shows it. */
export interface BalancerDecision {
  /** Wall-clock time of the decision (ms since the epoch). */
  readonly atMs: number;
  /** `started`: a job began; `no_moves`: out of balance, but no move helps. */
  readonly action: "started" | "no_moves";
  readonly strategy: "BALANCE_LOAD" | "BALANCE_PARTITIONS";
  readonly reason: string;
  readonly moves: number;
  readonly jobId: string | null;
}

/** Why the cluster is out of balance now, and the plan that would fix it; null if balanced. */
interface _Finding {
  strategy: "BALANCE_LOAD" | "BALANCE_PARTITIONS";
  reason: string;
  plan: MovePlan;
}

/** The auto-balancer; {@linkcode AutoBalancer.start} runs it every interval. */
export class AutoBalancer {
  readonly #node: BalancerNode;
  readonly #o: AutoBalancerOptions;
  readonly #decisions: BalancerDecision[] = [];
  #lastStartMs: number | null = null;
  #stop: (() => void) | null = null;

  constructor(node: BalancerNode, options: AutoBalancerOptions) {
    this.#node = node;
    this.#o = options;
  }

  /** Starts looking every interval. */
  start(): void {
    this.#stop ??= every(
      this.#o.clock,
      this.#o.intervalMs ?? 1000,
      () =>
        this.step().catch((err) =>
          this.#o.logger.warn("auto-balancer step failed; will retry", { err: String(err) })
        ),
    );
  }

  /** Stops the loop. */
  stop(): void {
    this.#stop?.();
    this.#stop = null;
  }

  /** The decisions kept, newest last. */
  get decisions(): readonly BalancerDecision[] {
    return this.#decisions;
  }

  /** One look: decides, and starts a job when it must. Exposed for tests. */
  async step(): Promise<BalancerDecision | null> {
    if (!this.#o.enabled || this.#node.status().role !== "leader") return null;
    const sm = this.#node.sm;
    if (sm.state.rebalance !== null && !sm.state.rebalance.finished) return null;
    const now = this.#o.clock.monotonicMs();
    if (this.#lastStartMs !== null && now - this.#lastStartMs < this.#o.cooldownMs) return null;
    const finding = this.findImbalance();
    if (finding === null) return null;
    const base = {
      atMs: this.#o.clock.nowMs(),
      strategy: finding.strategy,
      reason: finding.reason,
      moves: finding.plan.moves.length,
    };
    if (finding.plan.moves.length === 0) {
      const last = this.#decisions.at(-1);
      // An imbalance no move fixes is logged once, not every second.
      if (last?.action === "no_moves" && last.reason === finding.reason) return null;
      return this.#keep({ ...base, action: "no_moves", jobId: null });
    }
    const id = this.#o.newId();
    await this.#node.execute({
      v: 1,
      op: "rebalance_start",
      id,
      strategy: finding.strategy,
      topics: null,
      maxConcurrentMoves: AUTO_MOVES_CONCURRENT,
      moves: finding.plan.moves,
    });
    this.#lastStartMs = now;
    return this.#keep({ ...base, action: "started", jobId: id });
  }

  #keep(d: BalancerDecision): BalancerDecision {
    this.#decisions.push(d);
    if (this.#decisions.length > DECISIONS_KEPT) this.#decisions.shift();
    this.#o.logger.info("auto-balancer decision", { ...d });
    return d;
  }

  /** The brokers' latest reports, by node id. */
  currentLoads(): Map<number, BrokerLoad> {
    return this.#o.loads.current(this.#o.clock.monotonicMs(), this.#o.reportMaxAgeMs);
  }

  /**
   * A `BALANCE_LOAD` plan from the latest reports (for `POST /api/v1/rebalance`), or null when
   * no broker has reported load yet.
   */
  planLoad(topics?: ReadonlySet<string>): MovePlan | null {
    const v = this.#view();
    if (v.reports.size === 0) return null;
    return planLoadBalance(v.brokers, v.partitions, v.weights, topics ? { topics } : {});
  }

  #view() {
    const sm = this.#node.sm;
    const brokers = sm.brokers().map((b) => ({
      nodeId: b.nodeId,
      rack: b.rack,
      eligible: placeable(b),
    }));
    const eligible = brokers.filter((b) => b.eligible).map((b) => b.nodeId);
    const partitions: LoadPartition[] = sm.topics().flatMap((t) =>
      t.partitions.map((p) => ({
        topic: t.name,
        partition: p.partition,
        replicas: p.replicas,
        moving: p.targetReplicas !== undefined,
        leader: p.leader,
      }))
    );
    const reports = this.currentLoads();
    const weights = new Map<string, number>();
    for (const r of reports.values()) {
      for (const p of r.partitions) {
        const k = `${p.topic}/${p.partition}`;
        weights.set(k, (weights.get(k) ?? 0) + p.recordsInPerSec);
      }
    }
    return { brokers, eligible, partitions, reports, weights };
  }

  /** What is out of balance now, with a plan; null when balanced. Exposed for tests. */
  findImbalance(): _Finding | null {
    const { brokers, eligible, partitions, reports, weights } = this.#view();
    if (eligible.length < 2) return null;
    const reason = this.#loadReason(reports, eligible, partitions, weights);
    if (reason !== null) {
      return {
        strategy: "BALANCE_LOAD",
        reason,
        plan: planLoadBalance(brokers, partitions, weights),
      };
    }
    const counts = new Map<number, number>(eligible.map((id) => [id, 0]));
    for (const p of partitions) {
      for (const id of p.replicas) if (counts.has(id)) counts.set(id, counts.get(id)! + 1);
    }
    const sorted = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const [over, most] = sorted[0]!;
    const [under, least] = sorted.at(-1)!;
    if (most - least < 2) return null;
    return {
      strategy: "BALANCE_PARTITIONS",
      reason: `replica counts are uneven: broker ${over} holds ${most}, broker ${under} ${least}`,
      plan: planBalance(brokers, partitions),
    };
  }

  #loadReason(
    reports: ReadonlyMap<number, BrokerLoad>,
    eligible: readonly number[],
    partitions: readonly LoadPartition[],
    weights: ReadonlyMap<string, number>,
  ): string | null {
    const pct = (x: number) => `${Math.round(x * 100)}%`;
    for (const [id, r] of reports) {
      if (!eligible.includes(id)) continue;
      if (r.cpu > this.#o.cpuThreshold) {
        return `broker ${id} CPU ${pct(r.cpu)} is above cpu_threshold ${pct(this.#o.cpuThreshold)}`;
      }
      if (r.memory > this.#o.memoryThreshold) {
        return `broker ${id} memory ${pct(r.memory)} is above memory_threshold ${
          pct(this.#o.memoryThreshold)
        }`;
      }
    }
    const loads = brokerLoads(eligible, partitions, weights);
    const total = [...loads.values()].reduce((a, b) => a + b, 0);
    const mean = total / eligible.length;
    const [hot, hotLoad] = [...loads].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]!;
    if (hotLoad < LOAD_FLOOR_RECORDS || hotLoad <= LOAD_SKEW_RATIO * mean) return null;
    return `broker ${hot} carries ${Math.round(hotLoad)} records/s, ${
      (hotLoad / mean).toFixed(2)
    }x the mean of ${Math.round(mean)} (skew bound ${LOAD_SKEW_RATIO}x)`;
  }

  /** The view `GET /api/v1/autobalancer` serves. */
  view(): unknown {
    const loads = this.currentLoads();
    return {
      enabled: this.#o.enabled,
      leader: this.#node.status().role === "leader",
      cpu_threshold: this.#o.cpuThreshold,
      memory_threshold: this.#o.memoryThreshold,
      cooldown_seconds: this.#o.cooldownMs / 1000,
      skew_ratio: LOAD_SKEW_RATIO,
      brokers: [...loads].map(([id, r]) => ({
        node_id: id,
        cpu: r.cpu,
        memory: r.memory,
        bytes_in_per_sec: r.bytesInPerSec,
        bytes_out_per_sec: r.bytesOutPerSec,
        records_in_per_sec: r.partitions.reduce((a, p) => a + p.recordsInPerSec, 0),
        led_partitions: r.partitions.length,
      })),
      decisions: this.#decisions.map((d) => ({
        at: new Date(d.atMs).toISOString(),
        action: d.action,
        strategy: d.strategy,
        reason: d.reason,
        moves: d.moves,
        job_id: d.jobId,
      })),
    };
  }
}
