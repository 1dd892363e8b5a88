/**
 * The produce pipeline's "transform" stage as a partition leader runs it: the topic's ETL chain
 * (transform_stage.ts, run through etl_produce_stage.ts) on a validated batch, then a check that
 * the chain's run did not outlive this broker's leadership. Markers never pass through a chain.
 *
 * @module
 */

import type { ProduceTransform } from "./transform_stage.ts";
import type { HostedPartition } from "../hosted_partition.ts";
import type { LeaderReplication } from "../replication/leader_replication.ts";
import { KafkaProtocolError } from "../broker_errors.ts";

/** Options of {@linkcode transformForAppend}. */
export interface LeaderTransformOptions {
  /** The ETL step; undefined when the broker runs none. */
  readonly transform: ProduceTransform | undefined;
  /** True for a transaction marker, which no chain sees. */
  readonly marker: boolean;
  /** Whether `p` is still the hosted partition (it is replaced when re-hosted). */
  readonly stillHosted: (p: HostedPartition) => boolean;
  /**
   * True when `records` is a view of a buffer handed over to the append (a request frame, see
   * `FrameHandler`), which nothing else reads or writes afterwards. @default false
   */
  readonly owned?: boolean;
}

/**
 * An owned batch is kept as it is when the rest of its buffer is at most this share of it: the
 * log cache counts the batch's bytes only, so keeping a view of a much larger frame would hold
 * memory the cache does not see.
 */
const _KEEP_SLACK_SHARE = 1 / 16;

/** Whether `records` may be kept instead of copied. */
export function keepsBatch(records: Uint8Array, owned: boolean): boolean {
  return owned &&
    records.buffer.byteLength - records.byteLength <= records.byteLength * _KEEP_SLACK_SHARE;
}

/**
 * Runs `records` through the topic's chain. Returns the batch to append, or null when the chain
 * kept none of the records. An untransformed batch is copied (a caller's buffer must not be
 * pinned by the cache, nor mutated later) unless the caller owns it and it fills its buffer
 * ({@linkcode keepsBatch}): a 1 MiB produce request is then appended from its own frame, the
 * copy that took 8.6% of the broker's busy time in a 1 KiB ingest profile.
 *
 * @throws {KafkaProtocolError} NOT_LEADER_OR_FOLLOWER when leadership moved while the chain ran
 */
export async function transformForAppend(
  p: HostedPartition,
  leader: LeaderReplication,
  records: Uint8Array,
  options: LeaderTransformOptions,
): Promise<Uint8Array | null> {
  const staged = options.marker
    ? null
    : await options.transform?.(p.topic, p.partition, p.config, records) ?? null;
  if (staged === null) {
    return keepsBatch(records, options.owned === true) ? records : records.slice();
  }
  // A chain may run for up to etl.execution_timeout_ms: leadership may have moved meanwhile.
  if (!options.stillHosted(p) || p.leader !== leader) {
    throw new KafkaProtocolError(
      "NOT_LEADER_OR_FOLLOWER",
      `Cannot append to ${p.key} as its leadership changed while its ETL chain ran`,
      { retriable: true },
    );
  }
  return staged.batch;
}
