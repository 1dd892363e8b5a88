/**
 * The load a broker reports in its controller heartbeats (CPU, memory, network bytes, and the
 * records each partition it leads takes in), shared by the broker that measures it
 * (broker/load_sampler.ts) and the controller that balances on it (controller/auto_balancer.ts).
 *
 * @module
 */
/** What one partition the broker leads takes in. */
export interface PartitionLoad {
  readonly topic: string;
  readonly partition: number;
  /** Records committed per second since the previous report. */
  readonly recordsInPerSec: number;
}

/** One broker's load report. */
export interface BrokerLoad {
  /** The broker process's CPU use, as a fraction of all cores (0..1). */
  readonly cpu: number;
  /** Resident memory as a fraction of the machine's (0..1). */
  readonly memory: number;
  /** Bytes read from and written to clients per second. */
  readonly bytesInPerSec: number;
  readonly bytesOutPerSec: number;
  /** The partitions this broker leads. */
  readonly partitions: readonly PartitionLoad[];
}

/**
 * Why `x` is not a load report, or null. Reports cross the network, so they are checked like
 * any other input and a bad one is dropped, never trusted.
 *
 * @example
 * ```ts
 * const ok = { cpu: 0.5, memory: 0.2, bytesInPerSec: 10, bytesOutPerSec: 0, partitions: [] };
 * if (loadProblem(ok) !== null || loadProblem({ cpu: 2 }) === null) throw new Error("unreachable");
 * ```
 */
export function loadProblem(x: unknown): string | null {
  if (typeof x !== "object" || x === null) return "a load report must be an object";
  const r = x as Record<string, unknown>;
  for (const k of ["cpu", "memory"]) {
    const v = r[k];
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) return `'${k}' must be a number in 0..1`;
  }
  for (const k of ["bytesInPerSec", "bytesOutPerSec"]) {
    const v = r[k];
    if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v)) {
      return `'${k}' must be a finite number >= 0`;
    }
  }
  if (!Array.isArray(r.partitions)) return "'partitions' must be a list";
  for (const p of r.partitions as unknown[]) {
    const q = p as Record<string, unknown>;
    if (
      typeof q !== "object" || q === null || typeof q.topic !== "string" ||
      !Number.isInteger(q.partition) || typeof q.recordsInPerSec !== "number" ||
      !(q.recordsInPerSec >= 0) || !Number.isFinite(q.recordsInPerSec)
    ) {
      return "each partition must be {topic, partition, recordsInPerSec >= 0}";
    }
  }
  return null;
}
