/**
 * A broker's copy of the cluster metadata, kept current from a `WatchMetadata` stream: an image
 * replaces everything, a delta patches what one applied command changed. Readers get plain
 * synchronous lookups; writers can wait until the copy has caught up with their own write.
 *
 * @module
 */

import type { MetadataImage } from "../metadata/image.ts";
import { ManifestIndex } from "../metadata/manifest_state.ts";
import type {
  BrokerRecord,
  MetadataDelta,
  TopicRecord,
  WasmModuleSummary,
} from "../metadata/state_machine.ts";
import type { AclBinding, ScramUsers } from "../../model/security_metadata.ts";

/** The cached metadata. */
export class MetadataCache {
  #index = -1;
  #clusterId = "";
  #brokers: BrokerRecord[] = [];
  #topics = new Map<string, TopicRecord>();
  #wasmModules = new Map<string, WasmModuleSummary>();
  #users: Readonly<ScramUsers> = {};
  #acls: readonly AclBinding[] = [];
  readonly manifest: ManifestIndex = new ManifestIndex();
  #waiters: { index: number; resolve(): void }[] = [];
  #listeners: ((topics: readonly string[], brokersChanged: boolean) => void)[] = [];

  /** The log index the cache reflects; -1 before the first image. */
  get index(): number {
    return this.#index;
  }

  get clusterId(): string {
    return this.#clusterId;
  }

  brokers(): readonly BrokerRecord[] {
    return this.#brokers;
  }

  topics(): readonly TopicRecord[] {
    return [...this.#topics.values()];
  }

  topic(name: string): TopicRecord | undefined {
    return this.#topics.get(name);
  }

  /** A deployed WebAssembly module's latest version (its bytes are fetched by sha256). */
  wasmModule(name: string): WasmModuleSummary | undefined {
    return this.#wasmModules.get(name);
  }

  /** SCRAM users (salts and keys only), as the controllers last sent them. */
  users(): Readonly<ScramUsers> {
    return this.#users;
  }

  /** ACL bindings, as the controllers last sent them. */
  acls(): readonly AclBinding[] {
    return this.#acls;
  }

  /** Calls `listener` after each change with the topics that changed. */
  onChange(listener: (topics: readonly string[], brokersChanged: boolean) => void): void {
    this.#listeners.push(listener);
  }

  /** Replaces the whole cache. */
  applyImage(image: MetadataImage): void {
    const changed = new Set(this.#topics.keys());
    this.#clusterId = image.clusterId;
    this.#brokers = image.brokers;
    this.#topics = new Map(image.topics.map((t) => [t.name, t]));
    this.#wasmModules = new Map((image.wasmModules ?? []).map((m) => [m.name, m]));
    this.#users = image.users ?? {};
    this.#acls = image.acls ?? [];
    for (const name of this.#topics.keys()) changed.add(name);
    this.manifest.reset(image.manifest);
    this.#advance(image.index, [...changed], true);
  }

  /** Applies one delta; older ones (already reflected) are ignored. */
  applyDelta(delta: MetadataDelta): void {
    if (delta.index <= this.#index) return;
    if (delta.clusterId !== undefined) this.#clusterId = delta.clusterId;
    if (delta.brokers !== undefined) this.#brokers = delta.brokers;
    if (delta.wasmModules !== undefined) {
      this.#wasmModules = new Map(delta.wasmModules.map((m) => [m.name, m]));
    }
    if (delta.security !== undefined) {
      this.#users = delta.security.users;
      this.#acls = delta.security.acls;
    }
    for (const [name, t] of Object.entries(delta.topics)) {
      if (t === null) this.#topics.delete(name);
      else this.#topics.set(name, t);
    }
    if (delta.manifest !== undefined) this.manifest.applyDelta(delta.manifest);
    this.#advance(delta.index, Object.keys(delta.topics), delta.brokers !== undefined);
  }

  /** Resolves when the cache reflects `index`, or after `timeoutMs` (false then). */
  waitIndex(index: number, timeoutMs: number): Promise<boolean> {
    if (this.#index >= index) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        index,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Releases every waiter (on close). */
  releaseWaiters(): void {
    for (const w of this.#waiters.splice(0)) w.resolve();
  }

  #advance(index: number, topics: string[], brokersChanged: boolean): void {
    this.#index = index;
    const ready = this.#waiters.filter((w) => w.index <= index);
    this.#waiters = this.#waiters.filter((w) => w.index > index);
    for (const w of ready) w.resolve();
    if (topics.length === 0 && !brokersChanged) return;
    for (const l of this.#listeners) l(topics, brokersChanged);
  }
}
