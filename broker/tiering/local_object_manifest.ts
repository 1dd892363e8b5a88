/**
 * The object manifest kept in a local JSON file (fsync, then rename), for `standalone`. In a
 * cluster the controller's Raft state machine takes its place behind the same interface.
 *
 * @module
 */

import type { MetadataPersistence } from "../metadata/local_metadata.ts";
import type {
  LocatedRange,
  ManifestObject,
  ObjectManifest,
  PartitionTierState,
} from "../../model/object_manifest.ts";

interface _State {
  v: 1;
  partitions: Record<string, { logStartOffset: number; uploadedEndOffset: number }>;
  objects: ManifestObject[];
}

/** A manifest kept in a local file. */
export class LocalObjectManifest implements ObjectManifest {
  readonly #store: MetadataPersistence;
  #state: _State;
  #byKey = new Map<string, LocatedRange[]>();
  #chain: Promise<void> = Promise.resolve();

  private constructor(store: MetadataPersistence, state: _State) {
    this.#store = store;
    this.#state = state;
    this.#reindex();
  }

  /** Loads the manifest (empty when the file does not exist). */
  static async open(store: MetadataPersistence): Promise<LocalObjectManifest> {
    const text = await store.load();
    const state: _State = text === null ? { v: 1, partitions: {}, objects: [] } : JSON.parse(text);
    if (state.v !== 1) throw new RangeError(`Cannot read object manifest version ${state.v}`);
    return new LocalObjectManifest(store, state);
  }

  partition(key: string): PartitionTierState | undefined {
    return this.#state.partitions[key];
  }

  ranges(key: string): readonly LocatedRange[] {
    const start = this.#state.partitions[key]?.logStartOffset ?? 0;
    return (this.#byKey.get(key) ?? []).filter((r) => r.range.lastOffset >= start);
  }

  objects(): readonly ManifestObject[] {
    return this.#state.objects;
  }

  has(objectKey: string): boolean {
    return this.#state.objects.some((o) => o.objectKey === objectKey);
  }

  async commitUpload(obj: ManifestObject): Promise<void> {
    for (const r of obj.ranges) {
      const p = this.#state.partitions[r.key] ??
        { logStartOffset: r.baseOffset, uploadedEndOffset: r.baseOffset };
      if (r.baseOffset !== p.uploadedEndOffset) {
        throw new RangeError(
          `Cannot commit object ${obj.objectKey} as ${r.key} continues at ${r.baseOffset}, not at the uploaded end ${p.uploadedEndOffset}`,
        );
      }
      this.#state.partitions[r.key] = { ...p, uploadedEndOffset: r.lastOffset + 1 };
    }
    this.#state.objects = [...this.#state.objects, obj];
    await this.#save();
  }

  async commitCompaction(
    added: readonly ManifestObject[],
    removed: readonly string[],
  ): Promise<void> {
    const gone = new Set(removed);
    const before = _rangeSet(this.#state.objects.filter((o) => gone.has(o.objectKey)));
    const after = _rangeSet(added);
    if (before !== after) {
      throw new RangeError(
        "Cannot commit compaction as the new objects do not hold exactly the removed ranges",
      );
    }
    this.#state.objects = [...this.#state.objects.filter((o) => !gone.has(o.objectKey)), ...added];
    await this.#save();
  }

  async advanceLogStart(key: string, offset: number): Promise<string[]> {
    const p = this.#state.partitions[key];
    if (p === undefined || offset <= p.logStartOffset) return [];
    this.#state.partitions[key] = { ...p, logStartOffset: offset };
    return await this.#dropUnreferenced();
  }

  async removePartition(key: string): Promise<string[]> {
    if (!(key in this.#state.partitions)) return [];
    delete this.#state.partitions[key];
    return await this.#dropUnreferenced();
  }

  async #dropUnreferenced(): Promise<string[]> {
    const live = (o: ManifestObject) =>
      o.ranges.some((r) => {
        const p = this.#state.partitions[r.key];
        return p !== undefined && r.lastOffset >= p.logStartOffset;
      });
    const dropped = this.#state.objects.filter((o) => !live(o)).map((o) => o.objectKey);
    this.#state.objects = this.#state.objects.filter(live);
    await this.#save();
    return dropped;
  }

  #reindex(): void {
    this.#byKey.clear();
    for (const o of this.#state.objects) {
      for (const range of o.ranges) {
        let list = this.#byKey.get(range.key);
        if (list === undefined) this.#byKey.set(range.key, list = []);
        list.push({ objectKey: o.objectKey, range });
      }
    }
    for (const list of this.#byKey.values()) {
      list.sort((a, b) => a.range.baseOffset - b.range.baseOffset);
    }
  }

  #save(): Promise<void> {
    this.#reindex();
    const text = JSON.stringify(this.#state);
    // A failed save fails its caller only: the next save writes the whole newer state.
    const run = this.#chain.then(() => this.#store.save(text));
    this.#chain = run.catch(() => {});
    return run;
  }
}

function _rangeSet(objects: readonly ManifestObject[]): string {
  return objects.flatMap((o) => o.ranges.map((r) => `${r.key}:${r.baseOffset}-${r.lastOffset}`))
    .sort().join(",");
}
