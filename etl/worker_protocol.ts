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
export type WorkerReply =
  | {
    readonly id: number;
    /** Each input's outputs, packed by `packOutputs`; a failed input's reason is in `failures`. */
    readonly outputs: ArrayBuffer;
    readonly failures: Record<number, EtlRecordFailure>;
    /** What each stage of the chain did, in chain order. */
    readonly stats: StageStats[];
  }
  | { readonly id: number; readonly error: EtlRecordFailure }
  | { readonly log: { readonly module: string; readonly line: string } };
