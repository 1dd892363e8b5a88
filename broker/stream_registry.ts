/**
 * Maps partitions to the numeric stream ids the WAL stores with each entry. Ids are never
 * reused: a topic deleted and created again gets new ids, so stale WAL entries of the old topic
 * can never be mistaken for the new one's. The mapping is written (fsync, then rename) before
 * the first append of a new stream, so every WAL entry's stream id is known after a crash.
 *
 * @module
 */

import type { MetadataPersistence } from "./metadata/local_metadata.ts";

interface _State {
  v: 1;
  next: number;
  streams: Record<string, number>;
}

/** Partition key ("topic/partition") to WAL stream id. */
export class StreamRegistry {
  readonly #store: MetadataPersistence;
  #state: _State;
  #byId = new Map<number, string>();
  #chain: Promise<void> = Promise.resolve();

  private constructor(store: MetadataPersistence, state: _State) {
    this.#store = store;
    this.#state = state;
    for (const [key, id] of Object.entries(state.streams)) this.#byId.set(id, key);
  }

  /** Loads the registry (empty when the file does not exist). */
  static async open(store: MetadataPersistence): Promise<StreamRegistry> {
    const text = await store.load();
    const state: _State = text === null ? { v: 1, next: 1, streams: {} } : JSON.parse(text);
    if (state.v !== 1) throw new RangeError(`Cannot read stream registry version ${state.v}`);
    return new StreamRegistry(store, state);
  }

  /** The stream id of `key`, if it has one. */
  idOf(key: string): number | undefined {
    return this.#state.streams[key];
  }

  /** The partition key of stream `id`, if it is still registered. */
  keyOf(id: number): string | undefined {
    return this.#byId.get(id);
  }

  /** Every registered partition key. */
  keys(): string[] {
    return Object.keys(this.#state.streams);
  }

  /** Returns the id of `key`, registering (durably) a new one when needed. */
  async ensure(key: string): Promise<number> {
    const existing = this.#state.streams[key];
    if (existing !== undefined) return existing;
    const id = this.#state.next++;
    if (id > 0xffffffff) throw new RangeError("Cannot register a stream as all 2^32 ids are used");
    this.#state.streams[key] = id;
    this.#byId.set(id, key);
    try {
      await this.#save();
    } catch (error) {
      // Not durable, so not registered: the next ensure saves again (under a new id, as ids
      // are never reused) rather than answering an id a crash could forget.
      delete this.#state.streams[key];
      this.#byId.delete(id);
      throw error;
    }
    return id;
  }

  /** Forgets `key` (its topic was deleted). */
  async remove(key: string): Promise<void> {
    const id = this.#state.streams[key];
    if (id === undefined) return;
    delete this.#state.streams[key];
    this.#byId.delete(id);
    await this.#save();
  }

  #save(): Promise<void> {
    const text = JSON.stringify(this.#state);
    // A failed save fails its caller only: the next save writes the whole newer state, so one
    // ENOSPC must not fail every later registration.
    const run = this.#chain.then(() => this.#store.save(text));
    this.#chain = run.catch(() => {});
    return run;
  }
}
