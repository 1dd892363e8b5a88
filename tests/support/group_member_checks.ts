/**
 * Bookkeeping for consumer-group tests: who owns which partition right now (from rebalance
 * callbacks), and which partitions each member owned in each generation.
 *
 * @module
 */

import type { TopicPartition } from "../../client/mod.ts";

/** Records ownership and reports violations instead of throwing inside consumer callbacks. */
export class OwnershipLog {
  /** "topic/partition" to the member that owns it now. */
  readonly owners: Map<string, string> = new Map();
  /** generation -> member -> partitions it owned in that generation. */
  readonly byGeneration: Map<number, Map<string, string[]>> = new Map();
  /** Human-readable descriptions of every violation seen. */
  readonly violations: string[] = [];

  /** A member got `tps`; `generationId` and `full` describe its whole assignment now. */
  assigned(
    member: string,
    tps: readonly TopicPartition[],
    generationId: number,
    full: readonly TopicPartition[],
  ): void {
    for (const tp of tps) {
      const key = `${tp.topic}/${tp.partition}`;
      const other = this.owners.get(key);
      if (other !== undefined && other !== member) {
        this.violations.push(`${key} given to ${member} while ${other} still owns it`);
      }
      this.owners.set(key, member);
    }
    const gen = this.byGeneration.get(generationId) ?? new Map<string, string[]>();
    gen.set(member, full.map((tp) => `${tp.topic}/${tp.partition}`));
    this.byGeneration.set(generationId, gen);
  }

  /** A member gave up `tps`. */
  revoked(member: string, tps: readonly TopicPartition[]): void {
    for (const tp of tps) {
      const key = `${tp.topic}/${tp.partition}`;
      if (this.owners.get(key) === member) this.owners.delete(key);
    }
  }

  /** A member received a record of `tp`: it must own it. */
  consumed(member: string, tp: TopicPartition): void {
    const key = `${tp.topic}/${tp.partition}`;
    const owner = this.owners.get(key);
    if (owner !== member) this.violations.push(`${member} consumed ${key} owned by ${owner}`);
  }

  /** Violations of "one owner per partition per generation". */
  generationOverlaps(): string[] {
    const out: string[] = [];
    for (const [generation, members] of this.byGeneration) {
      const seen = new Map<string, string>();
      for (const [member, keys] of members) {
        for (const key of keys) {
          const other = seen.get(key);
          if (other !== undefined) {
            out.push(`generation ${generation}: ${key} owned by ${other} and ${member}`);
          }
          seen.set(key, member);
        }
      }
    }
    return out;
  }
}

/** Polls `done` every 20 ms until it holds or `timeoutMs` passes; throws on timeout. */
export async function waitUntil(
  done: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
