/**
 * Test helpers for tiering: counting stores and batch generators.
 *
 * @module
 */

import { systemClock } from "../../ops/clock.ts";
import { buildBatch } from "../../protocol/record/record_batch.ts";
import { MemoryObjectStore } from "../object_store/memory_object_store.ts";
import type { GetOptions, ObjectMetadata, ObjectStore } from "../object_store/object_store.ts";
import { LogCache } from "../log/log_cache.ts";
import { PartitionLog } from "../log/partition_log.ts";

/** A memory store that counts requests. */
export class CountingStore extends MemoryObjectStore {
  puts = 0;
  gets = 0;
  override put(key: string, bytes: Uint8Array): Promise<ObjectMetadata> {
    this.puts++;
    return super.put(key, bytes);
  }
  override get(key: string, options?: GetOptions): Promise<Uint8Array> {
    this.gets++;
    return super.get(key, options);
  }
}

/** A log cache with real timers and a generous budget. */
export function testCache(capacityBytes = 256 * 1024 * 1024): LogCache {
  return new LogCache({
    capacityBytes,
    waitTimeoutMs: 1000,
    clock: systemClock,
  });
}

/** A batch of `records` records of `valueBytes` each, with a given timestamp. */
export async function makeBatch(
  records: number,
  valueBytes: number,
  timestamp = 1_700_000_000_000,
): Promise<Uint8Array> {
  const value = new Uint8Array(valueBytes);
  for (let i = 0; i < valueBytes; i++) value[i] = (i * 31 + records) & 0xff;
  return await buildBatch(Array.from({ length: records }, () => ({ value, timestamp })));
}

/** Appends batches to a partition's log and cache, as the produce path does. */
export async function appendBatches(
  cache: LogCache,
  key: string,
  log: PartitionLog,
  batches: readonly Uint8Array[],
): Promise<void> {
  for (const b of batches) {
    log.assign(b);
    await cache.append(key, b);
  }
  log.advanceHighWatermark(log.logEndOffset);
}

/** A fresh partition log. */
export function newLog(): PartitionLog {
  return new PartitionLog({ nowMs: () => 0 });
}

export type { ObjectStore };
