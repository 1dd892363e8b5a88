/**
 * Which offsets may be committed: per partition, records are tracked in the order they were
 * consumed and marked done when all their rows are acknowledged by BigQuery or dead-lettered.
 * The committable offset is one past the longest done prefix, so a batch that finishes early
 * never lets the group skip a record of an earlier batch still in flight.
 *
 * @module
 */

import type { TopicPartitionOffset } from "../client/mod.ts";

interface _Partition {
  readonly topic: string;
  readonly partition: number;
  /** Offsets in consumption order, from `head`. */
  readonly offsets: number[];
  head: number;
  readonly done: Set<number>;
  /** Next offset to commit (one past the done prefix), or -1 before any record. */
  next: number;
  /** Last offset handed out by `advanced`. */
  committed: number;
}

/** Tracks done records and answers which offsets can be committed. */
export class OffsetTracker {
  readonly #parts = new Map<string, _Partition>();

  /** Registers a consumed record; offsets of one partition must increase. */
  track(topic: string, partition: number, offset: number): void {
    const p = this.#part(topic, partition);
    const last = p.offsets[p.offsets.length - 1];
    if (last !== undefined && offset <= last) {
      throw new RangeError(
        `Cannot track ${topic}/${partition}/${offset} as it does not follow ${last}`,
      );
    }
    p.offsets.push(offset);
  }

  /** Marks a tracked record done. */
  done(topic: string, partition: number, offset: number): void {
    const p = this.#part(topic, partition);
    p.done.add(offset);
    while (p.head < p.offsets.length && p.done.has(p.offsets[p.head]!)) {
      const o = p.offsets[p.head]!;
      p.done.delete(o);
      p.next = o + 1;
      p.head++;
    }
    if (p.head > 1024 && p.head * 2 > p.offsets.length) {
      p.offsets.splice(0, p.head); // keep the queue from growing without bound
      p.head = 0;
    }
  }

  /** Records tracked and not yet done, over all partitions: the backlog. */
  pending(): number {
    let n = 0;
    for (const p of this.#parts.values()) n += p.offsets.length - p.head;
    return n;
  }

  /** Offsets that moved since the last call, as the group expects them (next to read). */
  advanced(): TopicPartitionOffset[] {
    const out: TopicPartitionOffset[] = [];
    for (const p of this.#parts.values()) {
      if (p.next > p.committed) {
        out.push({ topic: p.topic, partition: p.partition, offset: p.next });
        p.committed = p.next;
      }
    }
    return out;
  }

  /** One past the done prefix of a partition (-1 before any record is done). */
  settled(topic: string, partition: number): number {
    return this.#parts.get(`${topic}\0${partition}`)?.next ?? -1;
  }

  /** Forgets partitions this member no longer owns. */
  forget(topic: string, partition: number): void {
    this.#parts.delete(`${topic}\0${partition}`);
  }

  #part(topic: string, partition: number): _Partition {
    const key = `${topic}\0${partition}`;
    let p = this.#parts.get(key);
    if (p === undefined) {
      p = { topic, partition, offsets: [], head: 0, done: new Set(), next: -1, committed: -1 };
      this.#parts.set(key, p);
    }
    return p;
  }
}
