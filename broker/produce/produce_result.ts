/**
 * What a produce to one partition answers, from whichever stage ends it: the acknowledge stage
 * for a stored batch, the sequence stage for a retry or a batch the transform dropped.
 *
 * @module
 */

import type { AssignedOffsets } from "../log/partition_log.ts";

/** The result of a produce to one partition. */
export interface ProduceResult extends AssignedOffsets {
  readonly logStartOffset: number;
  /** True when the batch was a retry of one already appended. */
  readonly duplicate: boolean;
}

/**
 * The offsets of a batch of `lastOffsetDelta + 1` records at `baseOffset`, never stamped.
 *
 * @example
 * ```ts
 * import { offsetsOf } from "./produce_result.ts";
 * console.assert(offsetsOf(10, 2).lastOffset === 12);
 * ```
 */
export function offsetsOf(baseOffset: number, lastOffsetDelta: number): AssignedOffsets {
  return { baseOffset, lastOffset: baseOffset + lastOffsetDelta, logAppendTimeMs: -1 };
}
