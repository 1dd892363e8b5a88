/**
 * One {@linkcode ReplicaFetcher} per leader broker: the broker tells it which partitions it
 * follows from whom (from the controller's metadata), and it starts, moves and stops fetchers
 * so that each leader gets exactly one connection carrying all of this broker's partitions.
 *
 * @module
 */

import { partitionKey } from "../log/log_cache.ts";
import type { ReplicaFetcher } from "./replica_fetcher.ts";

/** Builds a fetcher for a leader (options other than the leader come from the broker). */
export type ReplicaFetcherFactory = (leaderId: number, url: string) => ReplicaFetcher;

/**
 * Routes followed partitions to per-leader fetchers.
 *
 * @example
 * ```ts ignore
 * const manager = new ReplicaFetcherManager((leaderId, url) =>
 *   new ReplicaFetcher({ nodeId, leaderId, url, connect, sink, clock: systemClock, logger })
 * );
 * manager.follow("orders", 0, { leaderId: 1, url: "tcp://b1:9093", leaderEpoch: 4 });
 * manager.unfollow("orders", 0); // became leader, or the replica moved away
 * await manager.stop();
 * ```
 */
export class ReplicaFetcherManager {
  readonly #factory: ReplicaFetcherFactory;
  readonly #fetchers = new Map<number, { fetcher: ReplicaFetcher; url: string }>();
  readonly #leaderOf = new Map<string, number>();
  readonly #stopping = new Set<Promise<void>>();

  constructor(factory: ReplicaFetcherFactory) {
    this.#factory = factory;
  }

  /** Leaders with a running fetcher. */
  get leaders(): number[] {
    return [...this.#fetchers.keys()];
  }

  /** The fetcher following `leaderId`, if any. */
  fetcher(leaderId: number): ReplicaFetcher | undefined {
    return this.#fetchers.get(leaderId)?.fetcher;
  }

  /**
   * Follows a partition from a leader at an epoch; moves it when the leader changed, and makes
   * it truncate again when only the epoch changed. A caller moving a partition to another
   * leader should first `await` {@linkcode unfollow}, so the old fetcher's last append is not
   * applied while the new one truncates.
   */
  follow(
    topic: string,
    partition: number,
    leader: { readonly leaderId: number; readonly url: string; readonly leaderEpoch: number },
  ): void {
    const key = partitionKey(topic, partition);
    const previous = this.#leaderOf.get(key);
    if (previous !== undefined && previous !== leader.leaderId) {
      void this.unfollow(topic, partition);
    }
    let entry = this.#fetchers.get(leader.leaderId);
    let moved: ReturnType<ReplicaFetcher["followed"]> = [];
    if (entry !== undefined && entry.url !== leader.url) {
      // The leader moved to another address: its partitions follow on a new connection.
      moved = entry.fetcher.followed();
      this.#retire(leader.leaderId);
      entry = undefined;
    }
    if (entry === undefined) {
      entry = { fetcher: this.#factory(leader.leaderId, leader.url), url: leader.url };
      this.#fetchers.set(leader.leaderId, entry);
      for (const m of moved) {
        entry.fetcher.addPartition(m.topic, m.partition, m.leaderEpoch);
        this.#leaderOf.set(partitionKey(m.topic, m.partition), leader.leaderId);
      }
      entry.fetcher.start();
    }
    entry.fetcher.addPartition(topic, partition, leader.leaderEpoch);
    this.#leaderOf.set(key, leader.leaderId);
  }

  /**
   * Stops following a partition; a fetcher left with nothing to follow is stopped. Resolves
   * once the partition's in-flight append (if any) has finished: see
   * {@linkcode ReplicaFetcher.removePartition}.
   */
  unfollow(topic: string, partition: number): Promise<void> {
    const key = partitionKey(topic, partition);
    const leaderId = this.#leaderOf.get(key);
    if (leaderId === undefined) return Promise.resolve();
    this.#leaderOf.delete(key);
    const entry = this.#fetchers.get(leaderId);
    const removed = entry?.fetcher.removePartition(topic, partition) ?? Promise.resolve();
    if (entry !== undefined && entry.fetcher.partitionCount === 0) this.#retire(leaderId);
    return removed;
  }

  /** Stops every fetcher. */
  async stop(): Promise<void> {
    for (const leaderId of [...this.#fetchers.keys()]) this.#retire(leaderId);
    this.#leaderOf.clear();
    await Promise.all(this.#stopping);
  }

  #retire(leaderId: number): void {
    const entry = this.#fetchers.get(leaderId);
    if (entry === undefined) return;
    this.#fetchers.delete(leaderId);
    for (const [key, id] of [...this.#leaderOf]) if (id === leaderId) this.#leaderOf.delete(key);
    const stopped = entry.fetcher.stop();
    this.#stopping.add(stopped);
    stopped.finally(() => this.#stopping.delete(stopped));
  }
}
