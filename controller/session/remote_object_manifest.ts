/**
 * {@linkcode ObjectManifest} backed by the controller quorum. Commits go through the Raft log and
 * resolve once the broker's cache shows them, so an uploader's commit is readable at once by the
 * same broker; lookups are served from the cache.
 *
 * @module
 */

import type {
  LocatedRange,
  ManifestObject,
  ObjectManifest,
  PartitionTierState,
} from "../../model/object_manifest.ts";
import type { ControllerSession } from "./controller_session.ts";

/** The object manifest from the controllers. */
export class RemoteObjectManifest implements ObjectManifest {
  readonly #s: ControllerSession;

  constructor(session: ControllerSession) {
    this.#s = session;
  }

  async commitUpload(obj: ManifestObject): Promise<void> {
    await this.#s.write("Propose", { v: 1, cmd: { v: 1, op: "commit_upload", object: obj } });
  }

  async commitCompaction(
    added: readonly ManifestObject[],
    removed: readonly string[],
  ): Promise<void> {
    await this.#s.write("Propose", {
      v: 1,
      cmd: { v: 1, op: "commit_compaction", added: [...added], removed: [...removed] },
    });
  }

  async advanceLogStart(key: string, offset: number): Promise<string[]> {
    const r = await this.#s.write<{ dropped: string[] }>("Propose", {
      v: 1,
      cmd: { v: 1, op: "advance_log_start", key, offset },
    });
    return r.dropped;
  }

  async removePartition(key: string): Promise<string[]> {
    const r = await this.#s.write<{ dropped: string[] }>("Propose", {
      v: 1,
      cmd: { v: 1, op: "remove_partition", key },
    });
    return r.dropped;
  }

  partition(key: string): PartitionTierState | undefined {
    return this.#s.cache.manifest.partition(key);
  }

  ranges(key: string): readonly LocatedRange[] {
    return this.#s.cache.manifest.ranges(key);
  }

  objects(): readonly ManifestObject[] {
    return this.#s.cache.manifest.objects();
  }

  has(objectKey: string): boolean {
    return this.#s.cache.manifest.has(objectKey);
  }
}
