/**
 * The controller leader's scaling driver: it drains brokers that hold a decommission slot and
 * executes the running rebalance job, by proposing reassignments through the Raft log. All of
 * its decisions come from the replicated state (which brokers drain, the job's plan, which
 * partitions are moving), so a new leader resumes where the old one stopped; only move start
 * times live here, so a move's timeout restarts on failover.
 *
 * Throttles: replica moves in flight at once (the job's `max_concurrent_moves`, or
 * {@linkcode DRAIN_MOVES_CONCURRENT_MAX} for drains), moves started per minute
 * (`scaling.traffic_migration_rate` times the partition count, at least one; 0 disables it),
 * and each move's deadline (`scaling.rebalance_timeout_ms`), after which it is reverted to its
 * old replicas.
 *
 * @module
 */

import { type Clock, every } from "../ops/clock.ts";
import type { Logger } from "../ops/logger.ts";
import type { MetadataCommand } from "./metadata/commands.ts";
import { type PlanBroker, planDrain, type PlanPartition } from "./metadata/balance_plan.ts";
import type { JobMove } from "./metadata/rebalance_state.ts";
import {
  hostedBy,
  type MetadataStateMachine,
  type PartitionRecord,
  placeable,
} from "./metadata/state_machine.ts";

/** Replica moves a drain keeps in flight at once. */
export const DRAIN_MOVES_CONCURRENT_MAX = 4;

/** What the driver needs of a controller node. */
export interface ScalingNode {
  readonly sm: MetadataStateMachine;
  status(): { role: string };
  execute(cmd: MetadataCommand): Promise<{ index: number; value: unknown }>;
}

/** Options of {@linkcode ScalingDriver}. */
export interface ScalingDriverOptions {
  clock: Clock;
  logger: Logger;
  /** A move not finished after this long is reverted (`scaling.rebalance_timeout_ms`). */
  moveTimeoutMs: number;
  /** Fraction of all partitions whose moves may start per minute; 0: no limit. */
  migrationRate: number;
  /** How often the leader looks for work. @default 250 */
  intervalMs?: number;
}

interface _Tracked {
  startMs: number;
  from: number[];
  to: number[];
  /** The rebalance job it belongs to, or null for a drain. */
  jobId: string | null;
}

const _key = (topic: string, partition: number) => `${topic}\0${partition}`;
const _same = (a: readonly number[] | undefined, b: readonly number[]) =>
  a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);

/** The planner's view of the state machine. */
export function planView(sm: MetadataStateMachine): {
  brokers: PlanBroker[];
  partitions: PlanPartition[];
} {
  return {
    brokers: sm.brokers().map((b) => ({ nodeId: b.nodeId, rack: b.rack, eligible: placeable(b) })),
    partitions: sm.topics().flatMap((t) =>
      t.partitions.map((p) => ({
        topic: t.name,
        partition: p.partition,
        replicas: p.replicas,
        moving: p.targetReplicas !== undefined,
      }))
    ),
  };
}

/** Drains decommissioning brokers and runs rebalance jobs while this node leads. */
export class ScalingDriver {
  readonly #node: ScalingNode;
  readonly #o: ScalingDriverOptions;
  readonly #tracked = new Map<string, _Tracked>();
  #starts: number[] = [];
  #electedFor = "";
  #stop: (() => void) | null = null;

  constructor(node: ScalingNode, options: ScalingDriverOptions) {
    if (!Number.isInteger(options.moveTimeoutMs) || options.moveTimeoutMs < 1) {
      throw new RangeError(
        `Cannot start the scaling driver as moveTimeoutMs must be >= 1: current value is ${options.moveTimeoutMs}`,
      );
    }
    this.#node = node;
    this.#o = options;
  }

  /** Starts looking for work every `intervalMs`. */
  start(): void {
    this.#stop ??= every(
      this.#o.clock,
      this.#o.intervalMs ?? 250,
      () =>
        this.step().catch((err) =>
          this.#o.logger.warn("scaling step failed; will retry", { err: String(err) })
        ),
    );
  }

  /** Stops the loop. */
  stop(): void {
    this.#stop?.();
    this.#stop = null;
  }

  /** One pass: timeouts, drains, then the rebalance job. Exposed for tests. */
  async step(): Promise<void> {
    if (this.#node.status().role !== "leader") {
      this.#tracked.clear();
      return;
    }
    await this.#checkTracked();
    for (const nodeId of [...this.#node.sm.state.decommissioning]) await this.#drain(nodeId);
    await this.#runJob();
  }

  #partition(topic: string, partition: number): PartitionRecord | undefined {
    return this.#node.sm.topic(topic)?.partitions[partition];
  }

  /** Forgets finished moves, reports job moves done, and reverts moves past their deadline. */
  async #checkTracked(): Promise<void> {
    const now = this.#o.clock.monotonicMs();
    for (const [key, t] of [...this.#tracked]) {
      const [topic, partitionText] = key.split("\0") as [string, string];
      const partition = Number(partitionText);
      const p = this.#partition(topic, partition);
      if (p === undefined || p.targetReplicas === undefined) {
        this.#tracked.delete(key);
        if (t.jobId !== null) await this.#report(t.jobId, topic, partition, "done");
        continue;
      }
      if (now - t.startMs < this.#o.moveTimeoutMs) continue;
      this.#tracked.delete(key);
      this.#o.logger.warn("partition move timed out; reverting it", {
        topic,
        partition,
        to: t.to,
        from: t.from,
        timeoutMs: this.#o.moveTimeoutMs,
      });
      await this.#node.execute({
        v: 1,
        op: "reassign_partition",
        topic,
        partition,
        replicas: t.from,
      });
      if (t.jobId !== null) {
        await this.#report(
          t.jobId,
          topic,
          partition,
          "timed_out",
          `not in sync within ${this.#o.moveTimeoutMs} ms`,
        );
      }
    }
  }

  async #report(
    id: string,
    topic: string,
    partition: number,
    outcome: string,
    reason?: string,
  ): Promise<void> {
    const job = this.#node.sm.state.rebalance;
    if (job === null || job.id !== id || job.finished) return;
    await this.#node.execute({
      v: 1,
      op: "rebalance_progress",
      id,
      topic,
      partition,
      outcome,
      ...(reason === undefined ? {} : { reason }),
    });
  }

  /** How many more moves the per-minute budget allows now. */
  #budget(): number {
    const rate = this.#o.migrationRate;
    if (rate <= 0) return Number.POSITIVE_INFINITY;
    const now = this.#o.clock.monotonicMs();
    this.#starts = this.#starts.filter((t) => now - t < 60_000);
    const total = this.#node.sm.topics().reduce((n, t) => n + t.partitions.length, 0);
    return Math.max(1, Math.ceil(rate * total)) - this.#starts.length;
  }

  async #startMove(
    topic: string,
    partition: number,
    from: number[],
    to: number[],
    jobId: string | null,
  ) {
    this.#starts.push(this.#o.clock.monotonicMs());
    await this.#node.execute({ v: 1, op: "reassign_partition", topic, partition, replicas: to });
    const p = this.#partition(topic, partition);
    // A move whose replicas were all in sync already completed during apply.
    if (p?.targetReplicas !== undefined) {
      this.#tracked.set(_key(topic, partition), {
        startMs: this.#o.clock.monotonicMs(),
        from,
        to,
        jobId,
      });
    } else if (jobId !== null) await this.#report(jobId, topic, partition, "done");
  }

  async #drain(nodeId: number): Promise<void> {
    const sm = this.#node.sm;
    const hosted = hostedBy(sm.topics(), nodeId);
    if (hosted.replicas === 0 && hosted.leaders === 0) {
      this.#o.logger.info("broker drained; marking it decommissioned", { nodeId });
      await this.#node.execute({ v: 1, op: "decommission_complete", nodeId });
      return;
    }
    const { brokers, partitions } = planView(this.#node.sm);
    const inFlight =
      [...this.#tracked.values()].filter((t) => t.jobId === null && t.from.includes(nodeId)).length;
    let room = Math.min(DRAIN_MOVES_CONCURRENT_MAX - inFlight, this.#budget());
    for (const m of planDrain(brokers, partitions, nodeId).moves) {
      if (room-- <= 0) break;
      this.#o.logger.info("draining a replica", {
        nodeId,
        topic: m.topic,
        partition: m.partition,
        to: m.to,
      });
      await this.#startMove(m.topic, m.partition, m.from, m.to, null);
    }
  }

  /** Starts the job's next moves, reports the ones that can no longer run, elects leaders at the end. */
  async #runJob(): Promise<void> {
    const job = this.#node.sm.state.rebalance;
    if (job === null) return;
    if (job.finished) {
      if (!job.cancelled && this.#electedFor !== job.id) {
        this.#electedFor = job.id;
        await this.#electLeaders(job.topics);
      }
      return;
    }
    let running = [...this.#tracked.values()].filter((t) => t.jobId === job.id).length;
    for (const m of job.moves) {
      if (m.outcome !== undefined || this.#tracked.has(_key(m.topic, m.partition))) continue;
      const verdict = this.#verdict(m);
      if (verdict === "wait") continue;
      if (verdict === "adopt") {
        this.#tracked.set(_key(m.topic, m.partition), {
          startMs: this.#o.clock.monotonicMs(),
          from: m.from,
          to: m.to,
          jobId: job.id,
        });
        running++;
      } else if (verdict === "ready") {
        // Leader-only moves complete during apply and need no slot.
        if (m.kind === "replica" && (running >= job.maxConcurrentMoves || this.#budget() <= 0)) {
          continue;
        }
        await this.#startMove(m.topic, m.partition, m.from, m.to, job.id);
        if (m.kind === "replica") running++;
      } else await this.#report(job.id, m.topic, m.partition, verdict.outcome, verdict.reason);
    }
  }

  #verdict(m: JobMove): "wait" | "adopt" | "ready" | { outcome: string; reason?: string } {
    const p = this.#partition(m.topic, m.partition);
    if (p === undefined) return { outcome: "skipped", reason: "the partition no longer exists" };
    if (p.targetReplicas !== undefined) return _same(p.targetReplicas, m.to) ? "adopt" : "wait";
    if (_same(p.replicas, m.to)) return { outcome: "done" };
    if (!_same(p.replicas, m.from)) {
      return { outcome: "skipped", reason: `replicas changed since planned: now [${p.replicas}]` };
    }
    const sm = this.#node.sm;
    const unusable = m.to.find((id) => !p.replicas.includes(id) && !placeable(sm.broker(id)!));
    if (unusable !== undefined) {
      return { outcome: "skipped", reason: `broker ${unusable} can no longer take replicas` };
    }
    return "ready";
  }

  async #electLeaders(topics: string[] | null): Promise<void> {
    for (const topic of topics ?? [undefined]) {
      const r = await this.#node.execute({
        v: 1,
        op: "elect_preferred_leaders",
        ...(topic === undefined ? {} : { topic }),
      });
      this.#o.logger.info("rebalance finished; elected preferred leaders", {
        topic: topic ?? "*",
        ...(r.value as Record<string, unknown>),
      });
    }
  }
}
