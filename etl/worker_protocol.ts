/**
 * Messages between the ETL pool and its Workers.
 *
 * @module
 */

import type { EtlRecordData } from "./abi_instance.ts";
import type { EtlOutcome, EtlRecordFailure } from "./chain_runner.ts";

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
  readonly records: EtlRecordData[];
  readonly memoryLimitBytes: number;
}

/** A batch's answer, a batch-level failure, or a `rustmq.log` line. */
export type WorkerReply =
  | { readonly id: number; readonly outcomes: EtlOutcome[] }
  | { readonly id: number; readonly error: EtlRecordFailure }
  | { readonly log: { readonly module: string; readonly line: string } };
