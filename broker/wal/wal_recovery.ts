/**
 * Recovery planning: from the bytes of every segment, decide which entries survive, what a torn
 * tail is to be cut, and whether the damage is instead corruption of acknowledged data.
 *
 * Pure: the driver reads the files, calls {@linkcode planRecovery}, then applies the plan
 * (truncate one file, remove the ones after it, sync the directory).
 *
 * The rule, following the `durableSeq` field described in `wal_format.ts`: reading in seq order,
 * the first unreadable or missing entry (seq S) is damage. If any readable entry after the damage
 * says `durableSeq >= S`, entry S had been acknowledged, so the WAL stops with
 * {@linkcode WalCorruptionError}. Otherwise nobody was told about S or anything after it (it was
 * in flight at the crash), and the log is cut just after the last good entry.
 *
 * @module
 */
import { WalCorruptionError } from "./wal_errors.ts";
import {
  decodeSegmentHeader,
  nextEntryStart,
  readEntryAt,
  SEGMENT_HEADER_BYTES,
  WAL_BLOCK_BYTES,
  type WalEntryRecord,
} from "./wal_format.ts";

/** One segment file as read from disk. */
export interface RecoverySegment {
  /** Id from the file name. */
  id: number;
  /** Path, for messages. */
  path: string;
  /** The whole file. */
  bytes: Uint8Array;
}

/** An entry that survived recovery, and where it lives. */
export interface RecoveredEntry extends WalEntryRecord {
  /** The segment holding it. */
  segmentId: number;
  /** Byte position of the entry in its segment file. */
  position: number;
}

/** What recovery decided. */
export interface RecoveryPlan {
  /** Surviving entries in seq order. Payloads are views into the segment bytes. */
  entries: RecoveredEntry[];
  /** Seq the next appended entry gets. */
  nextSeq: number;
  /** Id for the next segment created (higher than any seen, removed ones included). */
  nextSegmentId: number;
  /** Cut this file to this length (the torn tail), or null. */
  truncate: { path: string; segmentId: number; length: number } | null;
  /** Remove these segments entirely (torn tail that begins in or before them). */
  remove: { path: string; segmentId: number }[];
  /** Bytes discarded by `truncate` and `remove` together. */
  droppedBytes: number;
  /** Why the tail was cut, when it was. */
  tailReason: string | null;
}

interface Damage {
  index: number;
  position: number;
  reason: string;
}

interface ScanState {
  expected: number | null;
  entries: RecoveredEntry[];
  damage: Damage | null;
  laterDurableMax: number;
  lastGoodEnd: Map<number, number>;
}

/**
 * Plans recovery of segments (any order; sorted here by id).
 *
 * @throws {WalCorruptionError} when damage precedes entries that prove it was acknowledged
 *
 * @example
 * ```ts
 * import { planRecovery } from "./wal_recovery.ts";
 * const plan = planRecovery([]);
 * console.assert(plan.nextSeq === 1 && plan.entries.length === 0);
 * ```
 */
export function planRecovery(segments: RecoverySegment[]): RecoveryPlan {
  const sorted = [...segments].sort((a, b) => a.id - b.id);
  const state: ScanState = {
    expected: null,
    entries: [],
    damage: null,
    laterDurableMax: 0,
    lastGoodEnd: new Map(),
  };
  sorted.forEach((segment, index) => {
    _checkHeader(state, sorted, index);
    _scanEntries(state, segment, index);
  });
  const nextSegmentId = sorted.length === 0 ? 1 : sorted[sorted.length - 1]!.id + 1;
  const base = { entries: state.entries, nextSegmentId };
  if (state.damage === null) {
    const nextSeq = state.expected ?? 1;
    return { ...base, nextSeq, truncate: null, remove: [], droppedBytes: 0, tailReason: null };
  }
  const damage = state.damage;
  const missing = state.expected ?? 1;
  if (state.laterDurableMax >= missing) {
    const path = sorted[damage.index]!.path;
    throw new WalCorruptionError(
      path,
      damage.position,
      `${damage.reason}; entries written later record seq ${state.laterDurableMax} as durable, ` +
        `so seq ${missing} had been acknowledged`,
    );
  }
  return { ...base, nextSeq: missing, ..._cutTail(state, sorted, damage) };
}

function _checkHeader(state: ScanState, sorted: RecoverySegment[], index: number) {
  if (state.damage !== null) return;
  const segment = sorted[index]!;
  const header = decodeSegmentHeader(segment.bytes);
  if (header === null || header.segmentId !== segment.id) {
    state.damage = { index, position: 0, reason: "segment header is missing or damaged" };
    return;
  }
  if (state.expected === null || header.firstSeq === state.expected) {
    state.expected = header.firstSeq;
    return;
  }
  // A jump forward is expected only where whole segments were reclaimed (ids are missing).
  const previous = sorted[index - 1];
  const reclaimedBetween = previous !== undefined && previous.id !== segment.id - 1;
  if (header.firstSeq > state.expected && reclaimedBetween) {
    state.expected = header.firstSeq;
    return;
  }
  state.damage = {
    index,
    position: 0,
    reason: `segment starts at seq ${header.firstSeq} where seq ${state.expected} was expected`,
  };
}

function _scanEntries(state: ScanState, segment: RecoverySegment, index: number) {
  const bytes = segment.bytes;
  let pos = SEGMENT_HEADER_BYTES;
  while (pos < bytes.length) {
    const read = readEntryAt(bytes, pos);
    if (read.kind === "entry") {
      const entry = read.entry;
      if (state.damage === null && entry.seq === state.expected) {
        state.entries.push({ ...entry, segmentId: segment.id, position: pos });
        state.expected = entry.seq + 1;
        state.lastGoodEnd.set(index, read.end);
      } else {
        if (state.damage === null) {
          const reason = `found seq ${entry.seq} where seq ${state.expected} was expected`;
          state.damage = { index, position: pos, reason };
        }
        state.laterDurableMax = Math.max(state.laterDurableMax, entry.durableSeq);
      }
      pos = nextEntryStart(read.end);
      continue;
    }
    if (read.kind === "bad" && state.damage === null) {
      state.damage = { index, position: pos, reason: read.reason };
    }
    // Zeros (padding, or never written) or damage: every commit starts on a block boundary, so
    // the next readable entry, if any, does too.
    pos = (Math.floor(pos / WAL_BLOCK_BYTES) + 1) * WAL_BLOCK_BYTES;
  }
}

function _cutTail(state: ScanState, sorted: RecoverySegment[], damage: Damage) {
  const damaged = sorted[damage.index]!;
  const keep = state.lastGoodEnd.get(damage.index);
  const remove: { path: string; segmentId: number }[] = [];
  let droppedBytes = 0;
  let truncate: RecoveryPlan["truncate"] = null;
  if (keep === undefined) {
    remove.push({ path: damaged.path, segmentId: damaged.id });
    droppedBytes += damaged.bytes.length;
  } else if (keep < damaged.bytes.length) {
    truncate = { path: damaged.path, segmentId: damaged.id, length: keep };
    droppedBytes += damaged.bytes.length - keep;
  }
  for (const later of sorted.slice(damage.index + 1)) {
    remove.push({ path: later.path, segmentId: later.id });
    droppedBytes += later.bytes.length;
  }
  const tailReason = `${damage.reason} in ${damaged.path} at byte ${damage.position}`;
  return { truncate, remove, droppedBytes, tailReason };
}
