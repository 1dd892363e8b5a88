/**
 * The rebalance job of the metadata state: one plan of partition moves at a time, stored in the
 * Raft log so that whichever controller leads executes it, and every controller shows the same
 * progress. The functions here are pure transitions of that record; the state machine calls
 * them during apply.
 *
 * @module
 */

import type { PartitionMove } from "./balance_plan.ts";
import { MetadataError } from "./errors.ts";

/** How one move of a job ended. */
export type MoveOutcome = "done" | "timed_out" | "skipped" | "cancelled";

/** The outcomes a driver may report (cancelled comes from a cancel only). */
export const REPORTED_OUTCOMES: ReadonlySet<string> = new Set(["done", "timed_out", "skipped"]);

/** One move of a job, with its outcome once it has one. */
export interface JobMove extends PartitionMove {
  outcome?: MoveOutcome;
  reason?: string;
}

/** The strategies a rebalance may ask for. */
export const REBALANCE_STRATEGIES = ["BALANCE_PARTITIONS", "BALANCE_LOAD"] as const;

/** A rebalance job. */
export interface RebalanceJob {
  /** Chosen by the proposer. */
  id: string;
  strategy: string;
  /** The topics it was limited to, or null for all. */
  topics: string[] | null;
  /** Replica moves in flight at once. */
  maxConcurrentMoves: number;
  /** The log index it started at. */
  startIndex: number;
  moves: JobMove[];
  /** Every move has an outcome (or the job was cancelled). */
  finished: boolean;
  cancelled: boolean;
}

/** Checks a stored or proposed move list; returns the reason it is malformed, or null. */
export function movesProblem(moves: unknown): string | null {
  if (!Array.isArray(moves)) return "field 'moves' must be array";
  const ids = (x: unknown) =>
    Array.isArray(x) && x.length > 0 && x.every((n) => Number.isInteger(n)) &&
    new Set(x).size === x.length;
  for (const m of moves as Record<string, unknown>[]) {
    if (
      typeof m !== "object" || m === null || typeof m.topic !== "string" ||
      !Number.isInteger(m.partition) || !ids(m.from) || !ids(m.to) ||
      (m.kind !== "replica" && m.kind !== "leader")
    ) return "field 'moves' holds a malformed move";
  }
  return null;
}

/** A new job, refused while another one runs. */
export function startJob(
  current: RebalanceJob | null,
  job: Omit<RebalanceJob, "finished" | "cancelled">,
): RebalanceJob {
  if (current !== null && !current.finished) {
    throw new MetadataError(
      "REBALANCE_IN_PROGRESS",
      `Cannot start a rebalance as rebalance '${current.id}' is still running: cancel it or wait`,
    );
  }
  if (!Number.isInteger(job.maxConcurrentMoves) || job.maxConcurrentMoves < 1) {
    throw new MetadataError(
      "INVALID_REQUEST",
      `Cannot start a rebalance as max_concurrent_moves must be >= 1: current value is ${job.maxConcurrentMoves}`,
    );
  }
  return {
    ...job,
    moves: job.moves.map((m) => ({ ...m })),
    finished: job.moves.length === 0,
    cancelled: false,
  };
}

/** Records a move's outcome; the job finishes when every move has one. */
export function recordOutcome(
  job: RebalanceJob | null,
  report: { id: string; topic: string; partition: number; outcome: string; reason?: string },
): RebalanceJob {
  if (job === null || job.id !== report.id) {
    throw new MetadataError("NOT_FOUND", `Rebalance '${report.id}' is not the current one`);
  }
  if (!REPORTED_OUTCOMES.has(report.outcome)) {
    throw new MetadataError("INVALID_REQUEST", `Unknown move outcome '${report.outcome}'`);
  }
  const moves = job.moves.map((m) => {
    if (m.outcome !== undefined || m.topic !== report.topic || m.partition !== report.partition) {
      return m;
    }
    const next: JobMove = { ...m, outcome: report.outcome as MoveOutcome };
    if (report.reason !== undefined) next.reason = report.reason;
    return next;
  });
  return { ...job, moves, finished: moves.every((m) => m.outcome !== undefined) };
}

/** Cancels the running job: moves not yet ended are marked cancelled (reassignments under way finish). */
export function cancelJob(job: RebalanceJob | null): RebalanceJob {
  if (job === null || job.finished) {
    throw new MetadataError("NOT_FOUND", "Cannot cancel a rebalance as none is running");
  }
  return {
    ...job,
    moves: job.moves.map((m) => m.outcome === undefined ? { ...m, outcome: "cancelled" } : m),
    finished: true,
    cancelled: true,
  };
}
