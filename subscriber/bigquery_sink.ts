/**
 * The sink core: records in from a consumer group, rows out to BigQuery, offsets committed
 * only once every row of a record is acknowledged or the record is dead-lettered.
 *
 * - Batches are cut by {@linkcode RowBatcher}; up to `MAX_CONCURRENT_BATCHES` are in flight.
 *   While that many are in flight the sink does not poll, so fetching stops (backpressure).
 * - A batch is retried with jittered exponential backoff on retriable failures (429, 5xx,
 *   network, timeout) up to `MAX_RETRIES`; then, or at once for other failures, its records
 *   are dead-lettered, so a poison batch never blocks its partitions.
 * - Rows BigQuery refuses (`insertErrors`) dead-letter their record; rows it `stopped` because
 *   a sibling was invalid are sent again.
 * - insertIds are `topic/partition/offset[/index]`, so records redelivered after a crash are
 *   dropped by BigQuery's deduplication.
 * - An ordered writer (the exactly-once committed stream) gets each batch as soon as it is cut,
 *   in order, and retries by itself; offsets are then committed with its checkpoint as metadata,
 *   one commit at a time, and not before the writer has read the partition's old checkpoint.
 *
 * Time and randomness are injected, as in every core.
 *
 * @module
 */

import type { Clock, ConsumerRecord, Random, TopicPartitionOffset } from "../client/mod.ts";
import { sleep } from "../ops/clock.ts";
import type { Logger } from "../ops/logger.ts";
import { InsertError, type RowWriter } from "./bigquery_writer.ts";
import type { DeadLetter } from "./dead_letter.ts";
import { OffsetTracker } from "./offset_tracker.ts";
import { backoffMs, type Batch, RowBatcher } from "./row_batcher.ts";
import {
  inferSchema,
  type KeyedRow,
  type MappingSettings,
  mapRecord,
  type SchemaField,
} from "./row_mapping.ts";
import { healthOf, newCounters, type SinkCounters, type SinkHealth } from "./sink_metrics.ts";

/** What the sink needs from a consumer-group member. */
export interface SinkConsumer {
  poll(options: { timeoutMs: number }): Promise<ConsumerRecord[]>;
  commitOffsets(offsets: Iterable<TopicPartitionOffset>): Promise<void>;
}

/** The settings the core uses (a slice of the subscriber configuration). */
export interface SinkSettings extends MappingSettings {
  readonly maxRowsPerBatch: number;
  readonly maxBatchSizeBytes: number;
  readonly maxBatchLatencyMs: number;
  readonly maxConcurrentBatches: number;
  readonly maxRetries: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly gracefulShutdownTimeoutMs: number;
  readonly unhealthyAfterMs: number;
  /** Fields to create the table with; null infers them from the first batch. */
  readonly tableSchema: readonly Record<string, unknown>[] | null;
}

/** The parts the sink is built from. */
export interface SinkDeps {
  readonly settings: SinkSettings;
  readonly consumer: SinkConsumer;
  readonly writer: RowWriter;
  readonly deadLetter: DeadLetter;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
}

interface _Entry {
  readonly rec: ConsumerRecord;
  left: number;
  failed: string | null;
}

interface _Item {
  readonly row: KeyedRow;
  readonly entry: _Entry;
}

/** Longest single poll, so that stop and due batches are noticed promptly. */
const _POLL_MS = 200;

/** The BigQuery sink; {@linkcode BigQuerySink.run} drives it until stopped. */
export class BigQuerySink {
  /** The `/metrics` counters. */
  readonly counters: SinkCounters = newCounters();
  readonly #d: SinkDeps;
  readonly #s: SinkSettings;
  readonly #tracker = new OffsetTracker();
  readonly #batcher: RowBatcher<_Item>;
  readonly #inflight = new Set<Promise<void>>();
  readonly #startedAt: number;
  #tableReady = false;
  #lastSuccess: number | null = null;
  #failures = 0;
  #stopping = false;
  #abandon = false;
  #unsent: TopicPartitionOffset[] = [];
  /** Commits run one at a time, so a checkpoint computed later is never overwritten by an older one. */
  #commitChain: Promise<void> = Promise.resolve();
  readonly #ordered: boolean;

  constructor(deps: SinkDeps) {
    this.#d = deps;
    this.#s = deps.settings;
    this.#ordered = deps.writer.ordered === true;
    deps.writer.bindSink?.({
      commit: (topic, partition) => this.#commitPartition(topic, partition),
      retried: () => {
        this.counters.retries++;
        this.#failures++;
      },
    });
    this.#batcher = new RowBatcher({
      maxRows: this.#s.maxRowsPerBatch,
      maxBytes: this.#s.maxBatchSizeBytes,
      maxLatencyMs: this.#s.maxBatchLatencyMs,
    });
    this.#startedAt = deps.clock.nowMs();
  }

  /** The `/health` answer now. */
  health(): SinkHealth {
    return healthOf({
      nowMs: this.#d.clock.nowMs(),
      startedAtMs: this.#startedAt,
      lastSuccessMs: this.#lastSuccess,
      consecutiveFailures: this.#failures,
      backlog: this.#tracker.pending(),
      batchesInFlight: this.#inflight.size,
      unhealthyAfterMs: this.#s.unhealthyAfterMs,
    });
  }

  /** Asks {@linkcode run} to stop; it then flushes and commits within the shutdown timeout. */
  stop(): void {
    this.#stopping = true;
  }

  /**
   * Consumes until {@linkcode stop}, then flushes the open batch, waits for batches in flight
   * (at most `gracefulShutdownTimeoutMs`) and commits what they finished.
   */
  async run(): Promise<void> {
    while (!this.#stopping) {
      if (this.#inflight.size >= this.#s.maxConcurrentBatches) {
        await Promise.race(this.#inflight); // backpressure: no poll while the queue is full
      } else {
        const now = this.#d.clock.nowMs();
        const wait = Math.max(1, Math.min(_POLL_MS, this.#batcher.msUntilDue(now)));
        const records = await this.#d.consumer.poll({ timeoutMs: wait });
        await this.#absorb(records);
        const due = this.#batcher.due(this.#d.clock.nowMs());
        if (due !== null) this.#launch(due);
      }
      await this.#commit();
    }
    await this.#shutdown();
  }

  /**
   * Flushes the open batch and waits for every batch in flight, then commits (rebalance). After
   * {@linkcode stop} it only commits: shutdown already flushed within its own time limit, and
   * the consumer's close calls this again.
   */
  async drain(): Promise<void> {
    if (this.#stopping) return await this.#commit();
    const open = this.#batcher.flush();
    if (open !== null) this.#launch(open);
    while (this.#inflight.size > 0) await Promise.all(this.#inflight);
    await this.#commit();
  }

  /** Forgets a partition after it was revoked (call after {@linkcode drain}). */
  forget(topic: string, partition: number): void {
    this.#tracker.forget(topic, partition);
    this.#d.writer.forget?.(topic, partition);
  }

  async #shutdown(): Promise<void> {
    const open = this.#batcher.flush();
    if (open !== null) this.#launch(open);
    let timer: ReturnType<Clock["setTimer"]> | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = this.#d.clock.setTimer(this.#s.gracefulShutdownTimeoutMs, () => resolve("timeout"));
    });
    const all = (async () => {
      while (this.#inflight.size > 0) await Promise.all(this.#inflight);
    })();
    const outcome = await Promise.race([all, deadline]);
    this.#d.clock.clearTimer(timer!);
    if (outcome === "timeout") {
      this.#abandon = true; // whatever is still in flight is redelivered after the restart
      this.#d.logger.warn("graceful shutdown timed out; unfinished batches will be redelivered", {
        batches_in_flight: this.#inflight.size,
        timeout_ms: this.#s.gracefulShutdownTimeoutMs,
      });
    }
    await this.#commit();
  }

  async #absorb(records: readonly ConsumerRecord[]): Promise<void> {
    for (const rec of records) {
      this.counters.messages_received++;
      this.#tracker.track(rec.topic, rec.partition, rec.offset);
      if (this.#ordered) this.#d.writer.open!(rec.topic, rec.partition, rec.offset);
      const mapped = mapRecord(rec, this.#s, this.#d.clock.nowMs());
      if (!mapped.ok) {
        await this.#finish({ rec, left: 0, failed: mapped.reason });
        continue;
      }
      const entry: _Entry = { rec, left: mapped.rows.length, failed: null };
      const each = mapped.rows.length === 1 ? (rec.value?.byteLength ?? 0) : -1;
      for (const row of mapped.rows) {
        // A single row's size is its value's; only split records pay for a re-serialization.
        const bytes = (each >= 0 ? each : JSON.stringify(row.json).length) + row.insertId.length;
        for (const b of this.#batcher.add({ row, entry }, bytes, this.#d.clock.nowMs())) {
          this.#launch(b);
        }
      }
    }
  }

  #launch(batch: Batch<_Item>): void {
    const p: Promise<void> = this.#send(batch.items).finally(() => {
      this.#inflight.delete(p);
      this.counters.batches_in_flight = this.#inflight.size;
    });
    this.#inflight.add(p);
    this.counters.batches_in_flight = this.#inflight.size;
  }

  async #send(batch: _Item[]): Promise<void> {
    if (this.#ordered) return await this.#sendOrdered(batch);
    let items = batch;
    let attempt = 0;
    while (items.length > 0 && !this.#abandon) {
      try {
        if (!this.#tableReady) {
          const file = this.#s.tableSchema;
          await this.#d.writer.ensureTable(() =>
            file !== null
              ? [...file] as unknown as SchemaField[]
              : inferSchema(items.map((i) => i.row.json))
          );
          this.#tableReady = true;
        }
        const t0 = this.#d.clock.nowMs();
        const out = await this.#d.writer.insert(items.map((i) => i.row));
        this.#recordLatency(this.#d.clock.nowMs() - t0);
        this.counters.batches_sent++;
        const stopped = new Set(out.stopped);
        if (out.rejected.size === 0 && stopped.size > 0) {
          throw new InsertError("BigQuery stopped rows without naming an invalid one", true, 200);
        }
        for (const [i, item] of items.entries()) {
          const reason = out.rejected.get(i);
          if (reason !== undefined) {
            await this.#rowFailed(item, `BigQuery refused the row: ${reason}`);
          } else if (!stopped.has(i)) await this.#rowDone(item);
        }
        this.#lastSuccess = this.#d.clock.nowMs();
        this.#failures = 0;
        // Rows "stopped" only because a sibling was invalid go again, now without it.
        items = out.rejected.size > 0 ? items.filter((_, i) => stopped.has(i)) : [];
      } catch (err) {
        if (!(err instanceof InsertError)) throw err; // a bug, not an operating error
        this.#failures++;
        if (err.retriable && attempt < this.#s.maxRetries) {
          this.counters.retries++;
          const ms = backoffMs(
            attempt++,
            this.#s.retryBaseMs,
            this.#s.retryMaxMs,
            () => this.#d.random.next(),
          );
          this.#d.logger.warn("insert failed; retrying", { error: err.message, attempt, ms });
          await sleep(this.#d.clock, ms);
          continue;
        }
        const why = err.retriable
          ? `gave up after ${attempt} retries: ${err.message}`
          : err.message;
        this.#d.logger.error("insert failed; dead-lettering the batch", {
          error: why,
          rows: items.length,
        });
        for (const item of items) await this.#rowFailed(item, why);
        items = [];
      }
    }
  }

  #recordLatency(ms: number): void {
    this.counters.insert_latency_ms_sum += ms;
    this.counters.insert_latency_ms_count++;
    this.counters.insert_latency_ms_max = Math.max(this.counters.insert_latency_ms_max, ms);
  }

  async #rowDone(item: _Item): Promise<void> {
    this.counters.rows_inserted++;
    if (--item.entry.left === 0) await this.#finish(item.entry);
  }

  async #rowFailed(item: _Item, reason: string): Promise<void> {
    this.counters.rows_failed++;
    item.entry.failed ??= reason;
    if (--item.entry.left === 0) await this.#finish(item.entry);
  }

  /** A record is settled: dead-letter it if any row failed, then let its offset commit. */
  async #finish(entry: _Entry): Promise<void> {
    if (entry.failed !== null) {
      for (let attempt = 0;; attempt++) {
        try {
          await this.#d.deadLetter.send(entry.rec, entry.failed);
          break;
        } catch (err) {
          // Until it is dead-lettered the offset must not move; after a restart it comes again.
          if (this.#abandon) return;
          this.#d.logger.error("cannot dead-letter a record; retrying", {
            error: (err as Error).message,
            topic: entry.rec.topic,
            partition: entry.rec.partition,
            offset: entry.rec.offset,
          });
          const ms = backoffMs(
            attempt,
            this.#s.retryBaseMs,
            this.#s.retryMaxMs,
            () => this.#d.random.next(),
          );
          await sleep(this.#d.clock, ms);
        }
      }
      this.counters.dead_lettered++;
    }
    this.counters.messages_processed++;
    this.#tracker.done(entry.rec.topic, entry.rec.partition, entry.rec.offset);
  }

  /**
   * An ordered writer's batch: handed over at once (the writer keeps each partition's rows in
   * the order taken and retries by itself). Rows it leaves `stopped` stay unsettled.
   */
  async #sendOrdered(batch: _Item[]): Promise<void> {
    const t0 = this.#d.clock.nowMs();
    const out = await this.#d.writer.insert(batch.map((i) => i.row));
    this.#recordLatency(this.#d.clock.nowMs() - t0);
    this.counters.batches_sent++;
    const stopped = new Set(out.stopped);
    for (const [i, item] of batch.entries()) {
      const reason = out.rejected.get(i);
      if (reason !== undefined) await this.#rowFailed(item, reason);
      else if (!stopped.has(i)) await this.#rowDone(item);
    }
    if (out.rejected.size + stopped.size < batch.length) {
      this.#lastSuccess = this.#d.clock.nowMs();
      this.#failures = 0;
    } else this.#failures++;
  }

  async #commit(): Promise<void> {
    const run = this.#commitChain.then(() => this.#commitAdvanced());
    this.#commitChain = run.catch(() => {});
    await run;
  }

  async #commitAdvanced(): Promise<void> {
    const moved = new Map<string, TopicPartitionOffset>();
    for (const o of [...this.#unsent, ...this.#tracker.advanced()]) {
      moved.set(`${o.topic}\0${o.partition}`, o); // later offsets of a partition supersede
    }
    if (moved.size === 0) return;
    const offsets: TopicPartitionOffset[] = [];
    const deferred: TopicPartitionOffset[] = [];
    for (const o of moved.values()) {
      if (!this.#ordered) offsets.push(o);
      else {
        // Computed right before the commit is sent, so it describes the writer's state now.
        const c = this.#d.writer.checkpoint!(o.topic, o.partition, o.offset);
        if (c === null) deferred.push(o);
        else offsets.push({ ...o, offset: c.offset, metadata: c.metadata });
      }
    }
    try {
      if (offsets.length > 0) await this.#d.consumer.commitOffsets(offsets);
      this.#unsent = deferred;
    } catch (err) {
      // Kept for the next attempt (metadata is computed again then).
      this.#unsent = [...moved.values()];
      this.#d.logger.warn("offset commit failed; will retry", { error: (err as Error).message });
    }
  }

  /** Commits one partition's offset and checkpoint now, for an ordered writer; throws on failure. */
  #commitPartition(topic: string, partition: number): Promise<void> {
    const run = this.#commitChain.then(async () => {
      const c = this.#d.writer.checkpoint!(
        topic,
        partition,
        this.#tracker.settled(topic, partition),
      );
      if (c === null) throw new Error(`partition ${topic}/${partition} has not resumed yet`);
      await this.#d.consumer.commitOffsets([{ topic, partition, ...c }]);
    });
    this.#commitChain = run.catch(() => {});
    return run;
  }
}
