/**
 * Messages between the ETL pool and its Workers.
 *
 * @module
 */

import type { EtlRecordFailure, StageStats } from "./chain_runner.ts";

/** A module of a chain; `bytes` is sent only the first time a Worker sees the sha256. */
export interface WorkerModuleRef {
  readonly name: string;
  readonly sha256: string;
  readonly bytes?: Uint8Array;
}

/** One batch to run. */
export interface WorkerRequest {
  readonly id: number;
  readonly chain: WorkerModuleRef[];
  /** The records, packed by `packRecords` and transferred. */
  readonly records: ArrayBuffer;
  readonly count: number;
  readonly memoryLimitBytes: number;
}

/** A batch's answer, a batch-level failure, or a `rustmq.log` line. */
/** One whole record batch for the Worker to decode, transform and re-encode. */
export interface WorkerBatchRequest {
  readonly id: number;
  readonly kind: "batch";
  readonly chain: WorkerModuleRef[];
  /** One v2 record batch in its first `batchBytes` bytes, transferred. */
  readonly batch: ArrayBuffer;
  readonly batchBytes: number;
  readonly memoryLimitBytes: number;
  /** Whether to re-encode the batch when a record failed (skip, dead-letter). */
  readonly buildOnFailure: boolean;
}

/** The Worker's answer to a {@linkcode WorkerBatchRequest}. */
export interface WorkerBatchReply {
  readonly id: number;
  readonly kind: "batch";
  /**
   * The re-encoded batch, transferred: its first `batchBytes` bytes (the rest, at most 1/16,
   * is unused room); null when nothing remains or a record failed.
   */
  readonly batch: ArrayBuffer | null;
  readonly batchBytes: number;
  readonly recordsIn: number;
  readonly recordsOut: number;
  readonly failures: Record<number, EtlRecordFailure>;
  readonly stats: StageStats[];
  /** The request's `batch` buffer, handed back for the pool to copy a later batch into. */
  readonly returned: ArrayBuffer;
}

export type WorkerReply =
  | WorkerBatchReply
  | {
    readonly id: number;
    /** Each input's outputs, packed by `packOutputs`; a failed input's reason is in `failures`. */
    readonly outputs: ArrayBuffer;
    readonly failures: Record<number, EtlRecordFailure>;
    /** What each stage of the chain did, in chain order. */
    readonly stats: StageStats[];
  }
  | { readonly id: number; readonly error: EtlRecordFailure }
  | { readonly id: number; readonly corrupt: string }
  | { readonly log: { readonly module: string; readonly line: string } };
