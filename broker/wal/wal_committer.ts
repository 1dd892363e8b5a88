/**
 * The group-commit core: turns a queue of appends into block-aligned writes, numbers entries,
 * tracks the writes in flight and says which appends are acknowledged when writes complete.
 * Sans-IO: the driver encodes, writes and syncs.
 *
 * Batching policy: when nothing is in flight, a write is cut at once (lowest latency); if at
 * least half of `bufferBytes` is queued then (a burst), it takes half of it, and the rest goes
 * out as a second write at once, so two writes overlap on the device (1 KiB x 64 writers: 159 to
 * 177 MiB/s against 125 to 131 with one write). While writes are in flight, another is cut only
 * when a slot is free and at least a quarter of `bufferBytes` is queued; otherwise appends pile
 * up and leave together in the next write, up to `bufferBytes`. Under heavy load writes grow
 * (fewer syncs, less padding). No timer is involved: the completion of a write is what releases
 * the next one.
 *
 * Acknowledgement: writes may complete in any order, but an entry is acknowledged only when
 * every write before it has completed, so the acknowledged prefix never has holes.
 *
 * @module
 */
import {
  alignUp,
  entrySlotBytes,
  SEGMENT_HEADER_BYTES,
  type WalEntryData,
  type WalEntryRecord,
} from "./wal_format.ts";
import type { SegmentSpace } from "./wal_space.ts";

/** Options for {@linkcode GroupCommitter}. */
export interface GroupCommitterOptions {
  /** Coalesce at most this many bytes into one write (a single larger entry goes alone). */
  bufferBytes: number;
  /** Writes in flight at once. */
  inflightMax: number;
  /** Segment size. */
  segmentBytes: number;
  /** Seq of the next entry. */
  nextSeq: number;
  /** Id of the next segment to create. */
  nextSegmentId: number;
  /** Segment bookkeeping shared with the driver. */
  space: SegmentSpace;
}

/** One entry placed in a write, with the caller's token. */
export interface PlannedEntry<T> {
  /** The entry as it goes to disk. */
  record: WalEntryRecord;
  /** Whatever the driver attached at `enqueue`. */
  token: T;
}

/** A write the driver must perform. */
export interface PlannedWrite<T> {
  /** Identifies the write in `complete`/`fail`. */
  writeId: number;
  /** Target segment. */
  segmentId: number;
  /** Whether this write creates the segment and begins with its header block. */
  createsSegment: boolean;
  /** File position (block-aligned). */
  position: number;
  /** Bytes to write (block-aligned, padding included). */
  length: number;
  /** Entries in order. */
  entries: PlannedEntry<T>[];
}

interface InFlight<T> {
  write: PlannedWrite<T>;
  state: "writing" | "done" | "failed";
}

/** What to undo after a failed write before appending again. */
export interface RepairPlan<T> {
  /** Appends lost with the failed write and everything after it. */
  rejected: T[];
  /** Cut these segments back to these lengths (end of the last acknowledged write). */
  truncate: { segmentId: number; length: number }[];
  /** Delete these segments (created by a rejected write). */
  remove: number[];
}

/**
 * Plans group-commit writes.
 *
 * @example
 * ```ts
 * import { GroupCommitter } from "./wal_committer.ts";
 * import { SegmentSpace } from "./wal_space.ts";
 * const space = new SegmentSpace({ capacityBytes: 1 << 22, segmentBytes: 1 << 20 });
 * const c = new GroupCommitter<string>({
 *   bufferBytes: 65536, inflightMax: 1, segmentBytes: 1 << 20, nextSeq: 1, nextSegmentId: 1, space,
 * });
 * c.enqueue({ streamId: 1, baseOffset: 0n, payload: new Uint8Array(10) }, "a");
 * c.enqueue({ streamId: 1, baseOffset: 1n, payload: new Uint8Array(10) }, "b");
 * const write = c.plan();
 * console.assert(write !== null && write !== "full" && write.entries.length === 2);
 * ```
 */
export class GroupCommitter<T> {
  #options: GroupCommitterOptions;
  #queue: { entry: WalEntryData; token: T }[] = [];
  #queueHead = 0;
  #queuedBytes = 0;
  #inflight: InFlight<T>[] = [];
  #nextSeq: number;
  #nextSegmentId: number;
  #nextWriteId = 1;
  #active: { id: number; end: number } | null = null;
  #ackedSeq: number;
  #durableSeq: number;
  #failing = false;

  /** @throws {RangeError} on invalid sizes */
  constructor(options: GroupCommitterOptions) {
    if (options.segmentBytes % SEGMENT_HEADER_BYTES !== 0) {
      throw new RangeError(`Cannot use segmentBytes ${options.segmentBytes}: not 4096-aligned`);
    }
    if (!Number.isInteger(options.inflightMax) || options.inflightMax < 1) {
      throw new RangeError(`Cannot use inflightMax ${options.inflightMax}: must be >= 1`);
    }
    this.#options = options;
    this.#nextSeq = options.nextSeq;
    this.#nextSegmentId = options.nextSegmentId;
    this.#ackedSeq = options.nextSeq - 1;
    this.#durableSeq = options.nextSeq - 1;
  }

  /** Largest payload one entry may carry: one entry must fit a fresh segment. */
  static payloadBytesMax(segmentBytes: number): number {
    return segmentBytes - SEGMENT_HEADER_BYTES - entrySlotBytes(0);
  }

  /** Highest seq whose write and every earlier write completed. */
  get ackedSeq(): number {
    return this.#ackedSeq;
  }

  /** Highest seq known durable (stamped into new entries as `durableSeq`). */
  get durableSeq(): number {
    return this.#durableSeq;
  }

  /** Appends queued and not yet placed in a write. */
  get queuedCount(): number {
    return this.#queue.length - this.#queueHead;
  }

  /** Writes in flight. */
  get inflightCount(): number {
    return this.#inflight.length;
  }

  /** Queues an append. The caller validated its size against {@linkcode payloadBytesMax}. */
  enqueue(entry: WalEntryData, token: T): void {
    this.#queue.push({ entry, token });
    this.#queuedBytes += entrySlotBytes(entry.payload.length);
  }

  /** The token of the oldest queued append, if any. */
  peekQueued(): T | undefined {
    return this.#queue[this.#queueHead]?.token;
  }

  /** Removes queued (not yet written) appends for which `predicate` holds; returns them. */
  dropQueued(predicate: (token: T) => boolean): T[] {
    const dropped: T[] = [];
    const kept = this.#queue.slice(this.#queueHead).filter((item) => {
      if (!predicate(item.token)) return true;
      dropped.push(item.token);
      this.#queuedBytes -= entrySlotBytes(item.entry.payload.length);
      return false;
    });
    this.#queue = kept;
    this.#queueHead = 0;
    return dropped;
  }

  /**
   * The next write to issue: null when there is nothing to write or no free slot, `"full"`
   * when a new segment is needed and the capacity does not allow one.
   */
  plan(): PlannedWrite<T> | "full" | null {
    if (this.#failing || this.queuedCount === 0) return null;
    if (this.#inflight.length >= this.#options.inflightMax) return null;
    // With a write already in flight, a second one is worth its sync only once it carries a
    // fair share of a buffer; smaller crumbs wait to join the next write.
    if (this.#inflight.length > 0 && this.#queuedBytes < this.#options.bufferBytes / 4) return null;
    const first = this.#queue[this.#queueHead]!;
    const segment = this.#segmentFor(entrySlotBytes(first.entry.payload.length));
    if (segment === null) return "full";
    // An idle WAL facing a burst splits it in two, so two writes overlap on the device.
    const cap = this.#inflight.length === 0 && this.#queuedBytes >= this.#options.bufferBytes / 2
      ? Math.ceil(this.#queuedBytes / 2)
      : this.#options.bufferBytes;
    const write = this.#fill(segment.id, segment.end, segment.end === 0, cap);
    segment.end += write.length;
    this.#options.space.writeInFlight(segment.id, 1);
    this.#inflight.push({ write, state: "writing" });
    return write;
  }

  #segmentFor(firstSlot: number): { id: number; end: number } | null {
    const active = this.#active;
    if (active !== null && active.end + firstSlot <= this.#options.segmentBytes) return active;
    const { space } = this.#options;
    if (!space.canOpen()) return null;
    if (active !== null) space.seal(active.id);
    const id = this.#nextSegmentId++;
    space.open(id);
    this.#active = { id, end: 0 };
    return this.#active;
  }

  #fill(
    segmentId: number,
    position: number,
    createsSegment: boolean,
    bufferBytes: number,
  ): PlannedWrite<T> {
    const { segmentBytes, space } = this.#options;
    const header = createsSegment ? SEGMENT_HEADER_BYTES : 0;
    const room = segmentBytes - position - header;
    const entries: PlannedEntry<T>[] = [];
    let used = 0;
    while (this.#queueHead < this.#queue.length) {
      const item = this.#queue[this.#queueHead]!;
      const slot = entrySlotBytes(item.entry.payload.length);
      const fits = used + slot <= room && (used + slot <= bufferBytes || entries.length === 0);
      if (!fits) break;
      const record = { ...item.entry, seq: this.#nextSeq++, durableSeq: this.#durableSeq };
      entries.push({ record, token: item.token });
      space.recordEntry(segmentId, record.streamId, record.baseOffset);
      used += slot;
      this.#queuedBytes -= slot;
      this.#queueHead++;
    }
    this.#compactQueue();
    const length = alignUp(header + used);
    return { writeId: this.#nextWriteId++, segmentId, createsSegment, position, length, entries };
  }

  #compactQueue() {
    // Amortised O(1) dequeue: drop the consumed prefix once it dominates the array.
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
  }

  /**
   * Records that write `writeId` completed. Returns the entries acknowledged by it, in order
   * (possibly none, if an earlier write is still running).
   *
   * @param durable whether the completed write is also durable (fsync-on-write)
   */
  complete(writeId: number, durable: boolean): PlannedEntry<T>[] {
    const slot = this.#find(writeId);
    slot.state = "done";
    this.#options.space.writeInFlight(slot.write.segmentId, -1);
    // Even while failing, writes before the failed one still form an intact prefix.
    const acked: PlannedEntry<T>[] = [];
    while (this.#inflight.length > 0 && this.#inflight[0]!.state === "done") {
      const { write } = this.#inflight.shift()!;
      acked.push(...write.entries);
      this.#ackedSeq = write.entries[write.entries.length - 1]!.record.seq;
    }
    if (durable) this.#durableSeq = this.#ackedSeq;
    return acked;
  }

  /** Records that every acknowledged entry up to `seq` is now durable (periodic flush). */
  synced(seq: number): void {
    if (seq > this.#ackedSeq) {
      throw new Error(`synced ${seq} beyond acknowledged ${this.#ackedSeq}`);
    }
    this.#durableSeq = Math.max(this.#durableSeq, seq);
  }

  /**
   * Records that write `writeId` failed. Planning stops; once no write is left running,
   * {@linkcode repair} says what to undo.
   */
  fail(writeId: number): void {
    const slot = this.#find(writeId);
    slot.state = "failed";
    this.#options.space.writeInFlight(slot.write.segmentId, -1);
    this.#failing = true;
  }

  /** Whether a failure waits for {@linkcode repair} (null while writes still run). */
  repairReady(): boolean {
    return this.#failing && this.#inflight.every((slot) => slot.state !== "writing");
  }

  /**
   * After a failure, once nothing is running: rewinds to the acknowledged prefix. Everything
   * from the first unacknowledged write on is rejected, its bytes are to be cut from disk (so
   * recovery never sees a hole followed by data), and appending resumes in a new segment with
   * the next seq after the acknowledged prefix.
   */
  repair(): RepairPlan<T> {
    if (!this.repairReady()) throw new Error("repair() called while writes are running");
    const plan: RepairPlan<T> = { rejected: [], truncate: [], remove: [] };
    const cut = new Map<number, number>();
    for (const { write } of this.#inflight) {
      plan.rejected.push(...write.entries.map((entry) => entry.token));
      if (write.createsSegment) plan.remove.push(write.segmentId);
      else if (!cut.has(write.segmentId)) cut.set(write.segmentId, write.position);
    }
    for (const [segmentId, length] of cut) {
      if (!plan.remove.includes(segmentId)) plan.truncate.push({ segmentId, length });
    }
    this.#inflight = [];
    if (this.#active !== null) this.#options.space.seal(this.#active.id);
    this.#active = null;
    this.#nextSeq = this.#ackedSeq + 1;
    this.#failing = false;
    return plan;
  }

  #find(writeId: number): InFlight<T> {
    const slot = this.#inflight.find((candidate) => candidate.write.writeId === writeId);
    if (slot === undefined || slot.state !== "writing") {
      throw new Error(`write ${writeId} is not in flight`);
    }
    return slot;
  }
}
