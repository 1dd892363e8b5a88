/**
 * Runs a batch of records through a chain of module instances: every record stage `a` emits
 * feeds stage `b`. Pure over the instances, so the Worker is only a thin driver around it.
 *
 * @module
 */

import type { AbiInstance, EtlRecordData } from "./abi_instance.ts";
import { EtlExecutionError, type EtlFailureKind } from "./etl_error.ts";

/** Why one record failed. */
export interface EtlRecordFailure {
  readonly kind: EtlFailureKind;
  readonly module: string;
  readonly message: string;
}

/** What became of one input record: its replacement records, or a failure. */
export type EtlOutcome<R = EtlRecordData> =
  | { readonly records: R[] }
  | { readonly failure: EtlRecordFailure };

/** What one stage did in one batch, for the per-module metrics. */
export interface StageStats {
  readonly module: string;
  /** Records given to the module's `transform`. */
  recordsIn: number;
  /** Records the module emitted. */
  recordsOut: number;
  /** Records the module failed, by kind. */
  failures: Partial<Record<EtlFailureKind, number>>;
  /** Seconds spent in the module's `transform`, host copies included. */
  seconds: number;
}

/** Fresh, zeroed stats for `stages`. */
export function emptyStageStats(stages: readonly { name: string }[]): StageStats[] {
  return stages.map((s) => ({
    module: s.name,
    recordsIn: 0,
    recordsOut: 0,
    failures: {},
    seconds: 0,
  }));
}

/** One stage of a chain, able to rebuild its instance after a trap. */
export interface ChainStage {
  readonly name: string;
  /** The live instance; replaced after a trap since its state may be corrupt. */
  instance: AbiInstance;
  readonly recreate: () => AbiInstance;
}

/**
 * Transforms `records` through `stages`, one outcome per input. A memory-limit failure fails
 * the whole batch (it is thrown), as the instance is then discarded by the caller.
 */
export function runChain(
  stages: ChainStage[],
  records: EtlRecordData[],
  stats: StageStats[] = emptyStageStats(stages),
): EtlOutcome[] {
  return records.map((record) => _runOne(stages, record, stats));
}

function _runOne(stages: ChainStage[], record: EtlRecordData, stats: StageStats[]): EtlOutcome {
  let current: EtlRecordData[] = [record];
  for (const [i, stage] of stages.entries()) {
    const next: EtlRecordData[] = [];
    const st = stats[i]!;
    const started = performance.now();
    try {
      for (const r of current) {
        st.recordsIn++;
        for (const out of stage.instance.transform(r)) next.push(out);
      }
    } catch (e) {
      if (!(e instanceof EtlExecutionError) || e.kind === "memory") throw e;
      if (e.kind === "trap" || e.kind === "abi") stage.instance = stage.recreate();
      st.failures[e.kind] = (st.failures[e.kind] ?? 0) + 1;
      return { failure: { kind: e.kind, module: e.module, message: e.message } };
    } finally {
      st.seconds += (performance.now() - started) / 1000;
    }
    st.recordsOut += next.length;
    current = next;
  }
  return { records: current };
}
