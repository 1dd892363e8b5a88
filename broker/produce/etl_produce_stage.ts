/**
 * The produce pipeline's ETL step for a running broker: finds a topic's chain in its config,
 * resolves each module's latest version from the cluster metadata, fetches and caches module
 * bytes by sha256, runs {@linkcode transformBatch} in the broker's pool, and applies the topic's
 * failure policy (`reject`, `skip`, `dead-letter`).
 *
 * Batches of one partition leave this stage in the order they entered it, even though the pool
 * runs them concurrently: an idempotent producer's pipelined batches must reach the sequence
 * check in the order it sent them.
 *
 * @module
 */

import {
  buildBatch,
  buildEmptyBatch,
  readBatchHeader,
  type RecordInput,
} from "../../protocol/record/record_batch.ts";
import { lastSequence } from "../../etl/batch_transform.ts";
import { EtlExecutionError } from "../../etl/etl_error.ts";
import { ETL_DISABLED_MESSAGE, etlPoolOptions } from "../../etl/etl_config.ts";
import type { BrokerConfig } from "../../config/schema.ts";
import { sha256Hex } from "../../etl/module_validation.ts";
import { type EtlModule, EtlPool } from "../../etl/worker_pool.ts";
import type { ClusterMetadata } from "../../model/cluster_metadata.ts";
import {
  ETL_DEAD_LETTER_TOPIC_KEY,
  ETL_ON_FAILURE_KEY,
  etlChainOf,
  type EtlFailurePolicy,
} from "../../model/etl_topic_config.ts";
import type { TopicConfig } from "../../model/topic_config.ts";
import { KafkaProtocolError } from "../broker_errors.ts";
import type { Logger } from "../../ops/logger.ts";
import { EtlMetrics } from "./etl_metrics.ts";
import { type FailedRecord, transformBatch } from "./transform_stage.ts";

/** What the stage made of a batch that has a chain. */
export interface StagedBatch {
  /** The batch to store, or null when nothing of it remains. */
  readonly batch: Uint8Array | null;
  /** Records the producer sent, which its sequence numbers count. */
  readonly recordsIn: number;
}

/** Writes a dead-letter batch to `topic`, for records that failed in partition `partition`. */
export type DeadLetterWriter = (
  topic: string,
  partition: number,
  batch: Uint8Array,
) => Promise<void>;

/** Options of {@linkcode EtlProduceStage}. */
export interface EtlProduceStageOptions {
  /** The pool built from `[etl]`, or null when `etl.enabled` is false. */
  readonly pool: EtlPool | null;
  readonly metadata: ClusterMetadata;
  readonly deadLetter: DeadLetterWriter;
  readonly logger: Logger;
  readonly metrics?: EtlMetrics;
  /** Module byte arrays kept by sha256. @default 64 */
  readonly modulesCachedMax?: number;
}

/** The ETL step of the produce pipeline. */
export class EtlProduceStage {
  readonly #o: EtlProduceStageOptions;
  readonly #bytes = new Map<string, Promise<Uint8Array>>();
  readonly #tails = new Map<string, Promise<void>>();
  // Dead letters are stored as they failed: the dead-letter topic's own chain does not run on
  // them, so two topics dead-lettering into each other cannot loop.
  readonly #deadLetters = new WeakSet<Uint8Array>();

  constructor(options: EtlProduceStageOptions) {
    this.#o = options;
  }

  /**
   * Runs the chain of a topic whose config is `config` on one batch; null when the topic has no
   * chain (the batch goes on untouched).
   *
   * @throws {KafkaProtocolError} POLICY_VIOLATION (ETL disabled, a module not deployed),
   *   MESSAGE_TOO_LARGE, REQUEST_TIMED_OUT (module bytes unreachable)
   * @throws {EtlExecutionError} a module failed under the `reject` policy
   */
  transform(
    topic: string,
    partition: number,
    config: Readonly<TopicConfig>,
    batch: Uint8Array,
  ): Promise<StagedBatch> | null {
    const names = etlChainOf(config);
    if (names.length === 0 || this.#deadLetters.has(batch)) return null;
    const key = `${topic}-${partition}`;
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const run = this.#run(topic, partition, config, names, batch);
    // Released only after the previous batch of the partition was, whichever finished first.
    const result = run.then((r) => prev.then(() => r), (e) => prev.then(() => Promise.reject(e)));
    const tail = result.then(() => {}, () => {});
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  async #run(
    topic: string,
    partition: number,
    config: Readonly<TopicConfig>,
    names: string[],
    batch: Uint8Array,
  ): Promise<StagedBatch> {
    const pool = this.#o.pool;
    if (pool === null) {
      throw new KafkaProtocolError(
        "POLICY_VIOLATION",
        `${ETL_DISABLED_MESSAGE}: topic '${topic}' has the chain ${names.join(",")}`,
      );
    }
    const chain = await Promise.all(names.map((n) => this.#module(topic, n)));
    const policy: EtlFailurePolicy = config[ETL_ON_FAILURE_KEY] ?? "reject";
    let r;
    try {
      r = await transformBatch(batch, chain, { pool, onFailure: policy });
    } catch (err) {
      if (err instanceof EtlExecutionError) {
        if (err.kind === "timeout" || err.kind === "memory") {
          this.#o.metrics?.batchFailed(err.module, err.kind);
        }
      }
      throw err;
    }
    if (r.failed.length > 0) await this.#handleFailed(topic, partition, config, policy, r.failed);
    if (r.batch !== null && r.batch.length > config["max.message.bytes"]) {
      throw new KafkaProtocolError(
        "MESSAGE_TOO_LARGE",
        `Cannot append the output of the ETL chain of topic '${topic}' as it is ${r.batch.length} bytes: max.message.bytes is ${
          config["max.message.bytes"]
        }`,
      );
    }
    if (r.batch === null) {
      // An idempotent producer's batch the chain dropped entirely is stored as an empty batch
      // that ends on its last sequence: a follower that becomes leader, or a restarted broker,
      // rebuilds producer state from stored headers, and without it would refuse the
      // producer's next batch as OUT_OF_ORDER_SEQUENCE_NUMBER (fatal for librdkafka).
      const input = readBatchHeader(batch);
      if (input.producerId >= 0 && input.baseSequence >= 0) {
        const last = lastSequence(input.baseSequence, input.recordCount);
        return { batch: buildEmptyBatch(input, last), recordsIn: r.recordsIn };
      }
    }
    return { batch: r.batch, recordsIn: r.recordsIn };
  }

  async #handleFailed(
    topic: string,
    partition: number,
    config: Readonly<TopicConfig>,
    policy: EtlFailurePolicy,
    failed: readonly FailedRecord[],
  ): Promise<void> {
    const first = failed[0]!;
    if (first.kind === "timeout" || first.kind === "memory") {
      this.#o.metrics?.batchFailed(first.module, first.kind);
    }
    this.#o.metrics?.failedRecords(topic, policy, failed.length);
    this.#o.logger.warn("ETL records failed", {
      topic,
      partition,
      policy,
      records: failed.length,
      module: first.module,
      kind: first.kind,
    });
    if (policy !== "dead-letter") return;
    const dlq = config[ETL_DEAD_LETTER_TOPIC_KEY];
    const letters = await buildBatch(failed.map((f) => _deadLetter(topic, partition, f)));
    this.#deadLetters.add(letters);
    try {
      await this.#o.deadLetter(dlq, partition, letters);
    } catch (err) {
      const e = err as { code?: string; retriable?: boolean; message?: string };
      throw new KafkaProtocolError(
        (e.code as KafkaProtocolError["code"] | undefined) ?? "UNKNOWN_SERVER_ERROR",
        `Cannot write ${failed.length} failed records of topic '${topic}' to dead-letter topic '${dlq}': ${e.message}`,
        { retriable: e.retriable ?? false, cause: err },
      );
    }
  }

  async #module(topic: string, name: string): Promise<EtlModule> {
    const ref = this.#o.metadata.etlModule?.(name);
    if (ref === undefined) {
      throw new KafkaProtocolError(
        "POLICY_VIOLATION",
        `Cannot run the ETL chain of topic '${topic}' as module '${name}' is not deployed`,
      );
    }
    return { name, sha256: ref.sha256, bytes: await this.#fetch(name, ref.sha256) };
  }

  #fetch(name: string, sha256: string): Promise<Uint8Array> {
    const cached = this.#bytes.get(sha256);
    if (cached !== undefined) return cached;
    const fetched = (async () => {
      let bytes: Uint8Array;
      try {
        bytes = await this.#o.metadata.etlModuleBytes!(sha256);
      } catch (err) {
        throw new KafkaProtocolError(
          "REQUEST_TIMED_OUT",
          `Cannot fetch ETL module '${name}' from the controllers: ${(err as Error).message}`,
          { retriable: true, cause: err },
        );
      }
      // Checked after the read: bytes that do not hash to the name they were asked by never run.
      const actual = await sha256Hex(bytes);
      if (actual !== sha256) {
        throw new Error(`assertion: module '${name}' fetched as ${sha256} hashes to ${actual}`);
      }
      return bytes;
    })();
    this.#bytes.set(sha256, fetched);
    fetched.catch(() => this.#bytes.delete(sha256));
    const max = this.#o.modulesCachedMax ?? 64;
    if (this.#bytes.size > max) this.#bytes.delete(this.#bytes.keys().next().value!);
    return fetched;
  }
}

const _enc = new TextEncoder();

/** The original record, with headers saying where it came from and why it failed. */
function _deadLetter(topic: string, partition: number, f: FailedRecord): RecordInput {
  return {
    key: f.record.key ?? null,
    value: f.record.value,
    timestamp: f.record.timestamp,
    headers: [
      ...(f.record.headers ?? []),
      { key: "rustmq.etl.source", value: _enc.encode(`${topic}-${partition}`) },
      { key: "rustmq.etl.module", value: _enc.encode(f.module) },
      { key: "rustmq.etl.failure", value: _enc.encode(f.kind) },
      { key: "rustmq.etl.error", value: _enc.encode(f.message.slice(0, 1024)) },
    ],
  };
}

/** The ETL step of a running broker, as {@linkcode startEtlStage} builds it. */
export interface EtlRuntime {
  readonly stage: EtlProduceStage;
  readonly metrics: EtlMetrics;
  /** Ends the pool's Workers; batches still running fail. */
  close(): void;
}

/**
 * Builds the ETL step from the `[etl]` keys: the pool (at most `max_concurrent_executions`
 * Workers, `execution_timeout_ms` per batch, `memory_limit_bytes` per instance, `batch_size`
 * records per call), or no pool when `enabled` is false, so chains are refused. Dead letters
 * go through {@linkcode deadLetterWriter}.
 */
export function startEtlStage(
  etl: BrokerConfig["etl"],
  options: {
    readonly metadata: ClusterMetadata;
    readonly logger: Logger;
    readonly produce: (topic: string, partition: number, batch: Uint8Array) => Promise<unknown>;
  },
): EtlRuntime {
  const metrics = new EtlMetrics();
  const poolOptions = etlPoolOptions(etl);
  const pool = poolOptions === null ? null : new EtlPool({
    ...poolOptions,
    logger: options.logger,
    onStageStats: (stats) => metrics.observeStages(stats),
  });
  const deadLetter = deadLetterWriter(options.metadata, options.produce);
  const stage = new EtlProduceStage({
    pool,
    metadata: options.metadata,
    deadLetter,
    logger: options.logger,
    metrics,
  });
  return { stage, metrics, close: () => pool?.close() };
}

/**
 * Appends dead letters through `produce` (acks=-1, before the source batch is acknowledged) to
 * partition `partition % partitions` of the dead-letter topic, or, when this broker does not
 * lead that one, to the next partition it does lead.
 */
export function deadLetterWriter(
  metadata: ClusterMetadata,
  produce: (topic: string, partition: number, batch: Uint8Array) => Promise<unknown>,
): DeadLetterWriter {
  return async (topic, partition, batch) => {
    const t = metadata.topic(topic);
    if (t === undefined) {
      throw new KafkaProtocolError("UNKNOWN_TOPIC_OR_PARTITION", `topic '${topic}' does not exist`);
    }
    const n = t.partitions.length;
    for (let i = 0; i < n; i++) {
      try {
        await produce(topic, (partition + i) % n, batch);
        return;
      } catch (err) {
        // Refused before anything was appended: try the next partition.
        const code = (err as { code?: unknown }).code;
        if (code !== "NOT_LEADER_OR_FOLLOWER" && code !== "UNKNOWN_TOPIC_OR_PARTITION") throw err;
      }
    }
    throw new KafkaProtocolError(
      "NOT_LEADER_OR_FOLLOWER",
      `this broker leads none of the ${n} partitions of topic '${topic}'`,
      { retriable: true },
    );
  };
}
