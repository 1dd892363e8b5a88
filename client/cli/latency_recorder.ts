/**
 * Latency samples for `rustmq bench`: a fixed-capacity buffer and exact percentiles over it.
 *
 * @module
 */

/** Percentiles of the recorded latencies, in milliseconds. */
export interface LatencySummary {
  /** Median. */
  p50: number;
  /** 99th percentile. */
  p99: number;
  /** 99.9th percentile. */
  p999: number;
  /** Largest sample. */
  max: number;
  /** Mean. */
  avg: number;
}

/**
 * Records up to `capacity` samples; later samples replace earlier ones at random positions
 * (reservoir sampling with an injected random source), so memory stays bounded.
 *
 * @example
 * ```ts
 * import { LatencyRecorder } from "./latency_recorder.ts";
 * const recorder = new LatencyRecorder(1000);
 * for (let i = 1; i <= 100; i++) recorder.record(i);
 * const s = recorder.summary();
 * if (s.p50 !== 50 || s.max !== 100 || s.p99 !== 99) throw new Error(JSON.stringify(s));
 * ```
 */
export class LatencyRecorder {
  readonly #samples: Float64Array;
  readonly #random: () => number;
  #count = 0;
  #max = 0;
  #sum = 0;

  /** Creates a recorder holding at most `capacity` samples. */
  constructor(capacity: number, random: () => number = Math.random) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Cannot create the recorder as capacity must be a positive integer: current value is ${capacity}`,
      );
    }
    this.#samples = new Float64Array(capacity);
    this.#random = random;
  }

  /** Samples seen so far. */
  get count(): number {
    return this.#count;
  }

  /** Mean and largest sample so far, without sorting (for a progress line). */
  get running(): { avg: number; max: number } {
    return { avg: this.#count === 0 ? 0 : this.#sum / this.#count, max: this.#max };
  }

  /** Adds one latency in milliseconds. */
  record(latencyMs: number): void {
    this.#sum += latencyMs;
    if (latencyMs > this.#max) this.#max = latencyMs;
    if (this.#count < this.#samples.length) {
      this.#samples[this.#count] = latencyMs;
    } else {
      const slot = Math.floor(this.#random() * (this.#count + 1));
      if (slot < this.#samples.length) this.#samples[slot] = latencyMs;
    }
    this.#count += 1;
  }

  /** Nearest-rank percentiles; all zero before the first sample. */
  summary(): LatencySummary {
    const n = Math.min(this.#count, this.#samples.length);
    if (n === 0) return { p50: 0, p99: 0, p999: 0, max: 0, avg: 0 };
    const sorted = this.#samples.slice(0, n).sort();
    const at = (q: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
    return {
      p50: at(0.5),
      p99: at(0.99),
      p999: at(0.999),
      max: this.#max,
      avg: this.#sum / this.#count,
    };
  }
}
