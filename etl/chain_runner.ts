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
export function runChain(stages: ChainStage[], records: EtlRecordData[]): EtlOutcome[] {
  return records.map((record) => _runOne(stages, record));
}

function _runOne(stages: ChainStage[], record: EtlRecordData): EtlOutcome {
  let current: EtlRecordData[] = [record];
  for (const stage of stages) {
    const next: EtlRecordData[] = [];
    for (const r of current) {
      try {
        for (const out of stage.instance.transform(r)) next.push(out);
      } catch (e) {
        if (!(e instanceof EtlExecutionError) || e.kind === "memory") throw e;
        if (e.kind === "trap" || e.kind === "abi") stage.instance = stage.recreate();
        return { failure: { kind: e.kind, module: e.module, message: e.message } };
      }
    }
    current = next;
  }
  return { records: current };
}
