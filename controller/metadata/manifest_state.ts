/**
 * The object manifest as part of the replicated metadata state: the same rules as
 * `LocalObjectManifest` (broker/tiering/local_object_manifest.ts), written as pure functions over a
 * plain state object so the Raft state machine can apply them deterministically and snapshot
 * them as JSON.
 *
 * @module
 */

import type {
  LocatedRange,
  ManifestObject,
  PartitionTierState,
} from "../../model/object_manifest.ts";
import { MetadataError } from "./errors.ts";

/** The manifest's replicated state. */
export interface ManifestState {
  partitions: Record<string, PartitionTierState>;
  objects: ManifestObject[];
}

/** What one manifest change touched, for deltas to brokers. */
export interface ManifestChange {
  partitions: Set<string>;
  objectsAdded: ManifestObject[];
  objectsRemoved: string[];
}

/** An empty manifest. */
export function emptyManifest(): ManifestState {
  return { partitions: {}, objects: [] };
}

/** Records a new object and advances the uploaded end of each partition it covers. */
export function manifestCommitUpload(
  state: ManifestState,
  obj: ManifestObject,
  change: ManifestChange,
): void {
  const existing = state.objects.find((o) => o.objectKey === obj.objectKey);
  if (existing !== undefined) {
    // A retried commit whose first attempt did land: succeed without a second change.
    if (_rangeSet([existing]) === _rangeSet([obj])) return;
    throw new MetadataError(
      "MANIFEST_CONFLICT",
      `Cannot commit object ${obj.objectKey} as another object with that key is in the manifest`,
    );
  }
  const next: Record<string, PartitionTierState> = {};
  for (const r of obj.ranges) {
    const p = next[r.key] ?? state.partitions[r.key] ??
      { logStartOffset: r.baseOffset, uploadedEndOffset: r.baseOffset };
    if (r.baseOffset !== p.uploadedEndOffset) {
      throw new MetadataError(
        "MANIFEST_CONFLICT",
        `Cannot commit object ${obj.objectKey} as ${r.key} continues at ${r.baseOffset}, not at the uploaded end ${p.uploadedEndOffset}`,
      );
    }
    next[r.key] = { ...p, uploadedEndOffset: r.lastOffset + 1 };
  }
  // Validation came first, so a rejected commit changes nothing.
  for (const [key, p] of Object.entries(next)) {
    state.partitions[key] = p;
    change.partitions.add(key);
  }
  state.objects.push(obj);
  change.objectsAdded.push(obj);
}

/** Replaces `removed` objects by `added` ones holding exactly the same ranges. */
export function manifestCommitCompaction(
  state: ManifestState,
  added: readonly ManifestObject[],
  removed: readonly string[],
  change: ManifestChange,
): void {
  const gone = new Set(removed);
  const before = _rangeSet(state.objects.filter((o) => gone.has(o.objectKey)));
  const after = _rangeSet(added);
  if (before !== after || state.objects.filter((o) => gone.has(o.objectKey)).length !== gone.size) {
    throw new MetadataError(
      "MANIFEST_CONFLICT",
      "Cannot commit compaction as the new objects do not hold exactly the removed ranges",
    );
  }
  state.objects = [...state.objects.filter((o) => !gone.has(o.objectKey)), ...added];
  change.objectsRemoved.push(...removed);
  change.objectsAdded.push(...added);
}

/** Advances a partition's log start; returns objects no longer referenced by anything. */
export function manifestAdvanceLogStart(
  state: ManifestState,
  key: string,
  offset: number,
  change: ManifestChange,
): string[] {
  const p = state.partitions[key];
  if (p === undefined || offset <= p.logStartOffset) return [];
  state.partitions[key] = { ...p, logStartOffset: offset };
  change.partitions.add(key);
  return _dropUnreferenced(state, change);
}

/** Forgets a partition; returns objects no longer referenced. */
export function manifestRemovePartition(
  state: ManifestState,
  key: string,
  change: ManifestChange,
): string[] {
  if (!(key in state.partitions)) return [];
  delete state.partitions[key];
  change.partitions.add(key);
  return _dropUnreferenced(state, change);
}

function _dropUnreferenced(state: ManifestState, change: ManifestChange): string[] {
  const live = (o: ManifestObject) =>
    o.ranges.some((r) => {
      const p = state.partitions[r.key];
      return p !== undefined && r.lastOffset >= p.logStartOffset;
    });
  const dropped = state.objects.filter((o) => !live(o)).map((o) => o.objectKey);
  state.objects = state.objects.filter(live);
  change.objectsRemoved.push(...dropped);
  return dropped;
}

function _rangeSet(objects: readonly ManifestObject[]): string {
  return objects.flatMap((o) => o.ranges.map((r) => `${r.key}:${r.baseOffset}-${r.lastOffset}`))
    .sort().join(",");
}

/**
 * A read-only index of a manifest for serving `ranges()`: per partition, located ranges in offset
 * order. Rebuilt incrementally from deltas on brokers, wholesale from snapshots.
 */
export class ManifestIndex {
  #partitions = new Map<string, PartitionTierState>();
  #objects = new Map<string, ManifestObject>();
  #byKey = new Map<string, LocatedRange[]>();
  #dirty = true;

  /** Replaces everything with `state`. */
  reset(state: ManifestState): void {
    this.#partitions = new Map(Object.entries(state.partitions));
    this.#objects = new Map(state.objects.map((o) => [o.objectKey, o]));
    this.#dirty = true;
  }

  /** Applies one change set, as a delta carries it. */
  applyDelta(delta: {
    partitions: Record<string, PartitionTierState | null>;
    objectsAdded: readonly ManifestObject[];
    objectsRemoved: readonly string[];
  }): void {
    for (const [key, p] of Object.entries(delta.partitions)) {
      if (p === null) this.#partitions.delete(key);
      else this.#partitions.set(key, p);
    }
    for (const k of delta.objectsRemoved) this.#objects.delete(k);
    for (const o of delta.objectsAdded) this.#objects.set(o.objectKey, o);
    this.#dirty = true;
  }

  partition(key: string): PartitionTierState | undefined {
    return this.#partitions.get(key);
  }

  ranges(key: string): readonly LocatedRange[] {
    if (this.#dirty) this.#reindex();
    const start = this.#partitions.get(key)?.logStartOffset ?? 0;
    return (this.#byKey.get(key) ?? []).filter((r) => r.range.lastOffset >= start);
  }

  objects(): readonly ManifestObject[] {
    return [...this.#objects.values()];
  }

  has(objectKey: string): boolean {
    return this.#objects.has(objectKey);
  }

  #reindex(): void {
    this.#byKey.clear();
    for (const o of this.#objects.values()) {
      for (const range of o.ranges) {
        let list = this.#byKey.get(range.key);
        if (list === undefined) this.#byKey.set(range.key, list = []);
        list.push({ objectKey: o.objectKey, range });
      }
    }
    for (const list of this.#byKey.values()) {
      list.sort((a, b) => a.range.baseOffset - b.range.baseOffset);
    }
    this.#dirty = false;
  }
}
