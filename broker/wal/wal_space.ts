/**
 * Segment accounting: which segments exist, which streams each one holds data for, what has
 * been checkpointed, and so which whole segments can be reclaimed. Pure bookkeeping; the driver
 * deletes the files.
 *
 * Capacity is counted in whole segments: a segment reserves `segmentBytes` from
 * `capacityBytes` when it is created, whatever it ends up holding, because that is what it may
 * grow to on disk.
 *
 * @module
 */

interface SegmentInfo {
  id: number;
  sealed: boolean;
  writesInFlight: number;
  reclaiming: boolean;
  /** Highest base offset per stream in this segment. */
  streams: Map<number, bigint>;
}

/** Options for {@linkcode SegmentSpace}. */
export interface SegmentSpaceOptions {
  /** Total bytes all segments may take. */
  capacityBytes: number;
  /** Size of one segment. */
  segmentBytes: number;
  /**
   * Segment slots kept out of use for zero-filled spare files, within the capacity.
   * @default 0
   */
  spareSegments?: number;
}

/**
 * Tracks segments and checkpoints.
 *
 * @example
 * ```ts
 * import { SegmentSpace } from "./wal_space.ts";
 * const space = new SegmentSpace({ capacityBytes: 2 << 20, segmentBytes: 1 << 20 });
 * space.open(1);
 * space.recordEntry(1, 7, 0n);
 * space.seal(1);
 * space.checkpoint(7, 1n);
 * console.assert(space.reclaimable()[0] === 1);
 * ```
 */
export class SegmentSpace {
  #segments = new Map<number, SegmentInfo>();
  #checkpoints = new Map<number, bigint>();
  #segmentBytes: number;
  #segmentsMax: number;
  #spareSegments: number;

  /** @throws {RangeError} when capacity holds fewer than two segments */
  constructor(options: SegmentSpaceOptions) {
    this.#segmentBytes = options.segmentBytes;
    this.#segmentsMax = Math.floor(options.capacityBytes / options.segmentBytes);
    this.#spareSegments = options.spareSegments ?? 0;
    if (this.#segmentsMax - this.#spareSegments < 2) {
      throw new RangeError(
        `Cannot size the WAL as capacityBytes must hold at least 2 segments (plus spares): current value is ` +
          `${options.capacityBytes} for segments of ${options.segmentBytes} bytes`,
      );
    }
  }

  /** Bytes reserved by existing segments and spare slots. */
  get usedBytes(): number {
    return (this.#segments.size + this.#spareSegments) * this.#segmentBytes;
  }

  /** The capacity, rounded down to whole segments. */
  get capacityBytes(): number {
    return this.#segmentsMax * this.#segmentBytes;
  }

  /** Number of segments. */
  get segmentCount(): number {
    return this.#segments.size;
  }

  /** Whether one more segment fits. */
  canOpen(): boolean {
    return this.#segments.size + this.#spareSegments < this.#segmentsMax;
  }

  /**
   * Registers a segment. Recovered segments may exceed the capacity (it may have been lowered);
   * new ones are refused when it is reached.
   *
   * @returns false when no segment fits
   */
  open(id: number, options: { recovered?: boolean } = {}): boolean {
    if (this.#segments.has(id)) throw new Error(`segment ${id} is registered twice`);
    if (!(options.recovered ?? false) && !this.canOpen()) return false;
    this.#segments.set(id, {
      id,
      sealed: options.recovered ?? false,
      writesInFlight: 0,
      reclaiming: false,
      streams: new Map(),
    });
    return true;
  }

  /** Notes that segment `id` holds an entry of `streamId` at `baseOffset`. */
  recordEntry(id: number, streamId: number, baseOffset: bigint): void {
    const segment = this.#get(id);
    const previous = segment.streams.get(streamId);
    if (previous === undefined || baseOffset > previous) segment.streams.set(streamId, baseOffset);
  }

  /** Marks that a write into segment `id` started (+1) or finished (-1). */
  writeInFlight(id: number, delta: 1 | -1): void {
    const segment = this.#get(id);
    segment.writesInFlight += delta;
    if (segment.writesInFlight < 0) throw new Error(`segment ${id}: negative writes in flight`);
  }

  /** Marks segment `id` as no longer receiving new writes. */
  seal(id: number): void {
    this.#get(id).sealed = true;
  }

  /**
   * Records that every entry of `streamId` with a base offset below `offset` is safe to drop.
   * Checkpoints only move forward; a lower value is ignored.
   */
  checkpoint(streamId: number, offset: bigint): void {
    const previous = this.#checkpoints.get(streamId);
    if (previous === undefined || offset > previous) this.#checkpoints.set(streamId, offset);
  }

  /**
   * Segments that can be deleted now: sealed, no write in flight, and every stream in them
   * checkpointed past its highest base offset there. They are marked as being reclaimed, so
   * each is returned once; call {@linkcode release} after deleting the file.
   */
  reclaimable(): number[] {
    const out: number[] = [];
    for (const segment of this.#segments.values()) {
      if (!segment.sealed || segment.reclaiming || segment.writesInFlight > 0) continue;
      if (!this.#allCheckpointed(segment)) continue;
      segment.reclaiming = true;
      out.push(segment.id);
    }
    return out.sort((a, b) => a - b);
  }

  /** Forgets segment `id` (its file is gone), freeing its capacity. */
  release(id: number): void {
    this.#get(id);
    this.#segments.delete(id);
  }

  /** Undoes `reclaiming` when deleting the file failed, so it is retried later. */
  reclaimFailed(id: number): void {
    this.#get(id).reclaiming = false;
  }

  #allCheckpointed(segment: SegmentInfo): boolean {
    for (const [stream, maxBase] of segment.streams) {
      const checkpoint = this.#checkpoints.get(stream);
      if (checkpoint === undefined || maxBase >= checkpoint) return false;
    }
    return true;
  }

  #get(id: number): SegmentInfo {
    const segment = this.#segments.get(id);
    if (segment === undefined) throw new Error(`segment ${id} is not registered`);
    return segment;
  }
}
