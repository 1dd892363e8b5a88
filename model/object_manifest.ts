/**
 * The object manifest: which objects exist in object storage, which offset ranges of which
 * partitions each holds, and each partition's log start offset and uploaded end offset. It is
 * the only thing that makes an object visible to readers, so every change is one atomic commit:
 * an upload becomes readable (and its WAL space reclaimable) only once committed, and
 * compaction swaps old objects for new ones in a single step, so readers never see a range
 * twice.
 *
 * `LocalObjectManifest` (broker/tiering/local_object_manifest.ts) keeps it in a JSON file (fsync, then rename); in a cluster the
 * controller's Raft state machine takes its place behind the same interface.
 *
 * @module
 */

/** Where one partition's batches sit in an object. */
export interface ObjectRange {
  /** Partition key, `topic/partition`. */
  readonly key: string;
  readonly baseOffset: number;
  readonly lastOffset: number;
  /** Byte position of the first batch in the object. */
  readonly position: number;
  readonly length: number;
  /** Largest record timestamp in the range, for time-based retention and ListOffsets. */
  readonly maxTimestamp: number;
}

/** An object as the manifest records it. */
export interface ManifestObject {
  /** The object's key in the store. */
  readonly objectKey: string;
  readonly sizeBytes: number;
  readonly createdMs: number;
  readonly ranges: readonly ObjectRange[];
}

/** A partition's tiering state. */
export interface PartitionTierState {
  /** First offset still retained. */
  readonly logStartOffset: number;
  /** First offset not yet in object storage. */
  readonly uploadedEndOffset: number;
}

/** A range and the object holding it. */
export interface LocatedRange {
  readonly objectKey: string;
  readonly range: ObjectRange;
}

/** The manifest's operations. Commits are atomic and durable when they resolve. */
export interface ObjectManifest {
  /** Records a new object and advances the uploaded end of each partition it covers. */
  commitUpload(obj: ManifestObject): Promise<void>;
  /** Replaces `removed` objects by `added` ones holding exactly the same ranges. */
  commitCompaction(added: readonly ManifestObject[], removed: readonly string[]): Promise<void>;
  /** Advances a partition's log start; returns objects no longer referenced by anything. */
  advanceLogStart(key: string, offset: number): Promise<string[]>;
  /** Forgets a partition (topic deleted); returns objects no longer referenced. */
  removePartition(key: string): Promise<string[]>;
  partition(key: string): PartitionTierState | undefined;
  /** The partition's ranges at or above its log start, in offset order. */
  ranges(key: string): readonly LocatedRange[];
  objects(): readonly ManifestObject[];
  has(objectKey: string): boolean;
}
