/**
 * Runs a batch of records through a chain of module instances: every record stage `a` emits
 * feeds stage `b`. Pure over the instances, so the Worker is only a thin driver around it.
 *
 * @module
 */

import type { AbiInstance, EtlEmitSink, EtlRecordData } from "./abi_instance.ts";
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
  return records.map((record) => {
    const out: EtlRecordData[] = [];
    const failure = runRecordInto(stages, record, stats, (key, value) => {
      out.push({ key: key && key.slice(), value: value && value.slice() });
    });
    return failure === null ? { records: out } : { failure };
  });
}

/**
 * Runs one record through `stages`, handing what the last stage emits to `sink` as views of
 * its memory (see {@linkcode EtlEmitSink}). Returns null on success; on a failure, the reason,
 * and `sink` may already have received part of the record's outputs, which the caller drops.
 * A memory-limit failure is thrown, as in {@linkcode runChain}.
 */
export function runRecordInto(
  stages: ChainStage[],
  record: EtlRecordData,
  stats: StageStats[],
  sink: EtlEmitSink,
): EtlRecordFailure | null {
  let current: EtlRecordData[] = [record];
  const last = stages.length - 1;
  for (let i = 0; i <= last; i++) {
    const stage = stages[i]!;
    const st = stats[i]!;
    // Between stages, emitted records are copied: the next stage's input must outlive the call.
    const next: EtlRecordData[] = [];
    let emitted = 0;
    let collect: EtlEmitSink;
    if (i === last) collect = (key, value) => (emitted++, sink(key, value));
    else {
      const arena = _arenas[i] ??= new _Arena();
      arena.reset();
      collect = (key, value) => void next.push({ key: arena.copy(key), value: arena.copy(value) });
    }
    const started = performance.now();
    try {
      for (const r of current) {
        st.recordsIn++;
        stage.instance.transformTo(r, collect);
      }
    } catch (e) {
      if (!(e instanceof EtlExecutionError) || e.kind === "memory") throw e;
      if (e.kind === "trap" || e.kind === "abi") stage.instance = stage.recreate();
      st.failures[e.kind] = (st.failures[e.kind] ?? 0) + 1;
      return { kind: e.kind, module: e.module, message: e.message };
    } finally {
      st.seconds += (performance.now() - started) / 1000;
    }
    st.recordsOut += i === last ? emitted : next.length;
    current = next;
  }
  return null;
}

/**
 * Where stage `i`'s emitted records are copied for stage `i + 1`, reused from one input record
 * to the next instead of a new ArrayBuffer per key and value. Stage `i` resets it before it
 * runs a record, when stage `i + 1` is done with what it held. Indexed by position, not by
 * module, since a chain may hold one module twice; the Worker runs one batch at a time.
 */
const _arenas: _Arena[] = [];

class _Arena {
  #buf = new Uint8Array(64 * 1024);
  #at = 0;

  reset(): void {
    this.#at = 0;
  }

  copy(bytes: Uint8Array | null): Uint8Array | null {
    if (bytes === null) return null;
    if (this.#at + bytes.length > this.#buf.length) {
      // Views already handed out keep the old buffer alive until they are dropped.
      this.#buf = new Uint8Array(Math.max(this.#buf.length * 2, bytes.length));
      this.#at = 0;
    }
    const out = this.#buf.subarray(this.#at, this.#at + bytes.length);
    out.set(bytes);
    this.#at += bytes.length;
    return out;
  }
}
