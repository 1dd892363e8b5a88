/**
 * Truncation in an append-only WAL. A follower that truncates its log (divergence after a
 * leader change) or resets it (the leader's log start moved past it) cannot rewrite the WAL,
 * so it appends a small *marker* entry to the partition's stream, and recovery filters the
 * recovered entries with {@linkcode applyTruncations} before `PartitionLog.recover`.
 *
 * A marker is an ordinary WAL entry (no WAL format change) whose payload is 24 bytes, which no
 * RecordBatch can be (a batch is at least 61 bytes), big-endian as Kafka's own formats:
 *
 * ```text
 * marker  = magic kind version reserved offset leaderEpoch      ; 24 bytes
 * magic   = "RMQCTRL" %x00     ; 8 bytes
 * kind    = %x01 / %x02        ; u8: 1 truncate (drop batches with lastOffset >= offset),
 *                              ;     2 reset (drop everything; the log restarts at offset)
 * version = %x00               ; u8
 * reserved = 2%x00             ; u16
 * offset  = int64              ; the truncation offset, or the new log start
 * leaderEpoch = int32          ; the follower's leader epoch when it truncated (for logs)
 * ```
 *
 * The entry's WAL `baseOffset` (what segment reclaim compares with checkpoints) is
 * {@linkcode markerWalBaseOffset}: the last offset the marker cancels. A segment is reclaimed
 * only once the checkpoint passes the highest base offset in it, so the marker's segment
 * outlives every entry the marker cancels unless all of them are below the checkpoint too,
 * which recovery drops anyway through `storedEndOffset`.
 *
 * Recovery rules, per stream in WAL order: a truncate marker drops the kept batches whose last
 * offset is at or after its offset; a reset marker drops them all and records the new start; a
 * batch drops kept batches it overlaps (a later write of an offset wins, which also covers a
 * marker lost to reclaim); batches wholly below the offset already in object storage are
 * dropped.
 *
 * @module
 */

import { readBatchHeader } from "../../protocol/record/record_batch.ts";

/** Size of a marker payload. */
export const TRUNCATION_MARKER_BYTES = 24;
const _MAGIC = [0x52, 0x4d, 0x51, 0x43, 0x54, 0x52, 0x4c, 0x00]; // "RMQCTRL\0"

/** A decoded marker. */
export interface TruncationMarker {
  /** truncate: drop batches with lastOffset >= offset; reset: drop all, restart at offset. */
  readonly kind: "truncate" | "reset";
  readonly offset: number;
  readonly leaderEpoch: number;
}

/**
 * Encodes a marker payload for `Wal.append(streamId, markerWalBaseOffset(...), payload)`.
 *
 * @example
 * ```ts
 * import { decodeTruncationMarker, encodeTruncationMarker } from "./wal_truncation.ts";
 * import assert from "node:assert/strict";
 * const m = { kind: "truncate", offset: 42, leaderEpoch: 3 } as const;
 * assert.deepEqual(decodeTruncationMarker(encodeTruncationMarker(m)), m);
 * ```
 */
export function encodeTruncationMarker(marker: TruncationMarker): Uint8Array {
  if (!Number.isSafeInteger(marker.offset) || marker.offset < 0) {
    throw new RangeError(
      `Cannot encode truncation marker as offset must be a non-negative integer: current value is ${marker.offset}`,
    );
  }
  const out = new Uint8Array(TRUNCATION_MARKER_BYTES);
  out.set(_MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint8(8, marker.kind === "truncate" ? 1 : 2);
  view.setBigInt64(12, BigInt(marker.offset));
  view.setInt32(20, marker.leaderEpoch);
  return out;
}

/** The marker in a WAL payload, or null when the payload is not a marker (a RecordBatch). */
export function decodeTruncationMarker(payload: Uint8Array): TruncationMarker | null {
  if (payload.length !== TRUNCATION_MARKER_BYTES) return null;
  for (let i = 0; i < _MAGIC.length; i++) if (payload[i] !== _MAGIC[i]) return null;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  const kindByte = view.getUint8(8);
  if ((kindByte !== 1 && kindByte !== 2) || view.getUint8(9) !== 0) return null;
  return {
    kind: kindByte === 1 ? "truncate" : "reset",
    offset: Number(view.getBigInt64(12)),
    leaderEpoch: view.getInt32(20),
  };
}

/**
 * The WAL base offset to give a marker: the last offset it cancels (see the module comment),
 * so reclaim keeps it as long as anything it cancels may remain.
 *
 * @param offset the marker's offset (truncation point, or new log start)
 * @param previousLogEndOffset the log end offset before the truncation or reset
 */
export function markerWalBaseOffset(offset: number, previousLogEndOffset: number): bigint {
  return BigInt(Math.max(0, Math.max(offset, previousLogEndOffset) - 1));
}

/** The part of a recovered WAL entry {@linkcode applyTruncations} reads. */
export interface TruncatableEntry {
  readonly streamId: number;
  readonly payload: Uint8Array;
}

/** Options of {@linkcode applyTruncations}. */
export interface ApplyTruncationsOptions {
  /**
   * The offset below which a stream's data is already in object storage (from the object
   * manifest): batches wholly below it are dropped, so a reclaimed segment in the middle of a
   * stream does not look like a gap. @default none: nothing dropped for this reason
   */
  readonly storedEndOffset?: (streamId: number) => number | undefined;
}

/** What {@linkcode applyTruncations} returns. */
export interface AppliedTruncations<T> {
  /** Surviving data entries (markers removed), in WAL order, gapless per stream. */
  readonly entries: T[];
  /** Streams whose log was reset, and the log start offset they restart at (the last reset). */
  readonly resets: Map<number, number>;
}

/**
 * Filters recovered WAL entries by the truncation markers among them (rules in the module
 * comment). Pure: entries are not copied or changed.
 *
 * @example
 * ```ts
 * import { applyTruncations, encodeTruncationMarker } from "./wal_truncation.ts";
 * import { buildBatch } from "../../protocol/record/record_batch.ts";
 * import assert from "node:assert/strict";
 * const batch = (baseOffset: number) => buildBatch([{ value: null, timestamp: 0 }], { baseOffset });
 * const entries = [
 *   { streamId: 1, payload: await batch(0) },
 *   { streamId: 1, payload: await batch(1) }, // divergent: truncated below
 *   { streamId: 1, payload: encodeTruncationMarker({ kind: "truncate", offset: 1, leaderEpoch: 2 }) },
 *   { streamId: 1, payload: await batch(1) }, // the new leader's record 1
 * ];
 * const { entries: kept } = applyTruncations(entries);
 * assert.deepEqual(kept, [entries[0], entries[3]]);
 * ```
 */
export function applyTruncations<T extends TruncatableEntry>(
  entries: readonly T[],
  options: ApplyTruncationsOptions = {},
): AppliedTruncations<T> {
  const kept = new Map<number, { entry: T; lastOffset: number }[]>();
  const resets = new Map<number, number>();
  for (const entry of entries) {
    let stream = kept.get(entry.streamId);
    if (stream === undefined) kept.set(entry.streamId, stream = []);
    const marker = decodeTruncationMarker(entry.payload);
    if (marker?.kind === "reset") {
      stream.length = 0;
      resets.set(entry.streamId, marker.offset);
      continue;
    }
    const header = marker === null ? readBatchHeader(entry.payload) : null;
    const cut = marker?.offset ?? header!.baseOffset;
    // Kept batches are in offset order, so the ones cancelled form a suffix.
    while (stream.length > 0 && stream.at(-1)!.lastOffset >= cut) stream.pop();
    if (header !== null) stream.push({ entry, lastOffset: header.lastOffset });
  }
  const survivors = new Set<T>();
  for (const [streamId, stream] of kept) {
    const storedEnd = options.storedEndOffset?.(streamId) ?? -1;
    for (const k of stream) if (k.lastOffset >= storedEnd) survivors.add(k.entry);
  }
  return { entries: entries.filter((e) => survivors.has(e)), resets };
}
