/**
 * The load a broker reports in each controller heartbeat, for the auto-balancer and
 * `BALANCE_LOAD`: its CPU and memory use, client bytes in and out per second, and the records
 * per second each partition it leads commits (high-watermark growth). Rates are differences
 * between two samples, so the first sample reports zero rates.
 *
 * @module
 */

import type { BrokerLoad, PartitionLoad } from "../model/broker_load.ts";
import type { PartitionsHealthView } from "./partition_health.ts";

/** Where the sampler reads from; the broker passes the process's real sources. */
export interface LoadSources {
  /** Monotonic milliseconds. */
  monotonicMs(): number;
  /** CPU time the process used, in microseconds (node's `process.cpuUsage()`). */
  cpuMicros(): number;
  /** Cores the CPU fraction is divided by. */
  readonly cores: number;
  /** Resident memory over the machine's total (0..1). */
  memoryFraction(): number;
  /** Bytes read from and written to clients so far, over every client listener. */
  networkBytes(): { in: number; out: number };
  /** The partitions hosted here. */
  readonly partitions: PartitionsHealthView;
}

interface _Sample {
  atMs: number;
  cpuMicros: number;
  bytesIn: number;
  bytesOut: number;
  hw: Map<string, number>;
}

/** Turns counters into the rates of one load report per call. */
export class LoadSampler {
  readonly #s: LoadSources;
  #last: _Sample | null = null;

  constructor(sources: LoadSources) {
    this.#s = sources;
  }

  /**
   * The load since the previous call.
   *
   * @example
   * ```ts
   * import { LoadSampler } from "./load_sampler.ts";
   * let t = 0;
   * const sampler = new LoadSampler({
   *   monotonicMs: () => t, cpuMicros: () => t * 500, cores: 1, memoryFraction: () => 0.1,
   *   networkBytes: () => ({ in: t * 10, out: 0 }),
   *   partitions: { count: 0, all: () => [], highWatermark: () => undefined, fatalError: null },
   * });
   * sampler.sample();
   * t = 1000;
   * const load = sampler.sample();
   * console.assert(load.cpu === 0.5 && load.bytesInPerSec === 10_000);
   * ```
   */
  sample(): BrokerLoad {
    const s = this.#s;
    const now: _Sample = {
      atMs: s.monotonicMs(),
      cpuMicros: s.cpuMicros(),
      bytesIn: s.networkBytes().in,
      bytesOut: s.networkBytes().out,
      hw: new Map(),
    };
    for (const p of s.partitions.all()) {
      if (p.role !== "leader") continue;
      const hw = s.partitions.highWatermark(p.topic, p.partition);
      if (hw !== undefined) now.hw.set(`${p.topic}\0${p.partition}`, hw);
    }
    const last = this.#last;
    this.#last = now;
    const secs = last === null ? 0 : (now.atMs - last.atMs) / 1000;
    const rate = (a: number, b: number) => secs > 0 ? Math.max(0, a - b) / secs : 0;
    const partitions: PartitionLoad[] = [];
    for (const [key, hw] of now.hw) {
      const [topic, partition] = key.split("\0") as [string, string];
      const before = last?.hw.get(key);
      partitions.push({
        topic,
        partition: Number(partition),
        recordsInPerSec: before === undefined ? 0 : rate(hw, before),
      });
    }
    const cpu = last === null || secs <= 0
      ? 0
      : (now.cpuMicros - last.cpuMicros) / 1e6 / secs / Math.max(1, s.cores);
    return {
      cpu: Math.min(1, Math.max(0, cpu)),
      memory: Math.min(1, Math.max(0, s.memoryFraction())),
      bytesInPerSec: last === null ? 0 : rate(now.bytesIn, last.bytesIn),
      bytesOutPerSec: last === null ? 0 : rate(now.bytesOut, last.bytesOut),
      partitions,
    };
  }
}
