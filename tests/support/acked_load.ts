/**
 * Produce load at acks=all for scaling tests: one idempotent SDK producer writes unique values
 * round-robin over a topic's partitions and records each acknowledgement and each failed send,
 * then {@linkcode consumeAll} reads everything back so a test can check that no acknowledged
 * value went missing.
 *
 * @module
 */

import { RustMqClient } from "../../mod.ts";

/** One acknowledged value. */
export interface Ack {
  value: string;
  partition: number;
  offset: number;
  /** Milliseconds from send to acknowledgement. */
  latencyMs: number;
  /** `performance.now()` at send. */
  sentAt: number;
}

/** What a load run produced. */
export interface LoadResult {
  acks: Ack[];
  /** Sends that failed after the producer's own retries, with their errors. */
  failures: string[];
}

/** What {@linkcode AckedLoad.start} writes and how. */
export interface LoadOptions {
  partitions: number;
  /** Sends outstanding. @default 4 */
  window?: number;
  pauseMs?: number;
  /** The client's retry backoff ceiling (it bounds how long a producer waits after a leader moves). */
  retryBackoffMaxMs?: number;
}

/** A running producer; {@linkcode AckedLoad.stop} ends it. */
export class AckedLoad {
  #stopped = false;
  readonly #done: Promise<LoadResult>;

  private constructor(run: (stop: () => boolean) => Promise<LoadResult>) {
    this.#done = run(() => this.#stopped);
  }

  /** Starts writing to `topic` (`partitions` partitions), `window` sends outstanding. */
  static start(
    bootstrap: readonly string[],
    topic: string,
    options: LoadOptions,
  ): AckedLoad {
    return new AckedLoad((stop) => _produce(bootstrap, topic, options, stop));
  }

  /** Acknowledgements so far are not exposed; stop and wait for the result. */
  async stop(): Promise<LoadResult> {
    this.#stopped = true;
    return await this.#done;
  }
}

async function _produce(
  bootstrap: readonly string[],
  topic: string,
  options: LoadOptions,
  stop: () => boolean,
): Promise<LoadResult> {
  const client = await RustMqClient.connect({
    brokers: bootstrap.map((b) => `tcp://${b}`),
    clientId: "scaling-load",
    requestTimeoutMs: 5000,
    connectTimeoutMs: 3000,
    ...(options.retryBackoffMaxMs === undefined ? {} : {
      retryBackoffMs: Math.min(100, options.retryBackoffMaxMs),
      retryBackoffMaxMs: options.retryBackoffMaxMs,
    }),
  });
  const producer = client.producer({
    ackLevel: "All",
    idempotent: true,
    deliveryTimeoutMs: 60_000,
    lingerMs: 2,
  });
  const result: LoadResult = { acks: [], failures: [] };
  const inFlight = new Set<Promise<unknown>>();
  try {
    for (let seq = 0; !stop(); seq++) {
      const value = `v-${seq}`;
      const partition = seq % options.partitions;
      const t0 = performance.now();
      const sending = producer.send({ topic, partition, value }).then(
        (r) =>
          result.acks.push({
            value,
            partition: r.partition,
            offset: r.offset,
            latencyMs: performance.now() - t0,
            sentAt: t0,
          }),
        (err) => result.failures.push(`${value}: ${(err as Error).message}`),
      ).finally(() => inFlight.delete(sending));
      inFlight.add(sending);
      if (inFlight.size >= (options.window ?? 4)) await Promise.race(inFlight);
      if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
    await Promise.all(inFlight);
  } finally {
    await client.close().catch(() => {});
  }
  return result;
}

/** Reads every partition of `topic` from the start to its end; value to partition/offset. */
export async function consumeAll(
  bootstrap: readonly string[],
  topic: string,
  partitions: number,
): Promise<Map<string, { partition: number; offset: number }>> {
  const client = await RustMqClient.connect({
    brokers: bootstrap.map((b) => `tcp://${b}`),
    clientId: "scaling-check",
  });
  const out = new Map<string, { partition: number; offset: number }>();
  try {
    const consumer = client.consumer({ autoOffsetReset: "earliest", maxWaitMs: 200 });
    const tps = Array.from({ length: partitions }, (_, partition) => ({ topic, partition }));
    consumer.assign(tps);
    for (const tp of tps) await consumer.seek(tp, "earliest");
    const ends = await consumer.endOffsets(tps);
    const dec = new TextDecoder();
    const deadline = Date.now() + 30_000;
    const done = new Set(tps.filter((_, i) => ends[i]! === 0).map((tp) => tp.partition));
    while (done.size < partitions && Date.now() < deadline) {
      for (const r of await consumer.poll({ timeoutMs: 500, maxRecords: 5000 })) {
        out.set(dec.decode(r.value!), { partition: r.partition, offset: r.offset });
        if (r.offset + 1 >= ends[r.partition]!) done.add(r.partition);
      }
    }
    if (done.size < partitions) throw new Error(`timed out consuming ${topic}: ends ${ends}`);
    await consumer.close();
  } finally {
    await client.close();
  }
  return out;
}

/** Acknowledged values missing from `log`, or found elsewhere than acknowledged. */
export function lostAcks(
  acks: readonly Ack[],
  log: ReadonlyMap<string, { partition: number; offset: number }>,
): string[] {
  const problems: string[] = [];
  for (const a of acks) {
    const at = log.get(a.value);
    if (at === undefined) problems.push(`missing ${a.value} (acked at ${a.partition}/${a.offset})`);
    else if (at.partition !== a.partition || at.offset !== a.offset) {
      problems.push(
        `${a.value} acked at ${a.partition}/${a.offset}, found at ${at.partition}/${at.offset}`,
      );
    }
  }
  return problems;
}
