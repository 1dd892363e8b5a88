/**
 * Streaming inserts through the real `@google-cloud/bigquery` client: `table.insert` with raw
 * rows carrying our insertIds, `skipInvalidRows` and `ignoreUnknownValues`. The client's own
 * retries are off (`autoRetry: false`, `partialRetries: 0`) so that `MAX_RETRIES` and the
 * backoff in {@linkcode ./insert_retry.ts} are the only ones.
 *
 * @module
 */

import { BigQuery, type Table } from "@google-cloud/bigquery";
import { Compute } from "google-auth-library";
import type { KeyedRow, SchemaField } from "./row_mapping.ts";
import type { SubscriberConfig } from "./subscriber_config.ts";

/** The outcome of one insertAll: rows BigQuery refused, by index in the request. */
export interface InsertOutcome {
  /** Index → reason, for rows refused as invalid. */
  readonly rejected: ReadonlyMap<number, string>;
  /** Indexes BigQuery did not write because a sibling was invalid (`stopped`): resend them. */
  readonly stopped: readonly number[];
}

/** An insert that failed as a whole. `retriable` says whether trying again may succeed. */
export class InsertError extends Error {
  readonly code = "BIGQUERY_INSERT_FAILED";
  readonly retriable: boolean;
  readonly status: number | undefined;
  constructor(message: string, retriable: boolean, status: number | undefined, cause?: unknown) {
    super(message, { cause });
    this.name = "InsertError";
    this.retriable = retriable;
    this.status = status;
  }
}

/** What the sink offers an ordered writer. */
export interface OrderedSinkHooks {
  /** Commits one partition's offset with the writer's checkpoint now; throws on failure. */
  commit(topic: string, partition: number): Promise<void>;
  /** The writer retries after a failure (counted in `retries`; `/health` turns degraded). */
  retried(error: string): void;
}

/** What the sink needs from BigQuery; the tests drive the real one against the fake server. */
export interface RowWriter {
  /** Makes sure the table exists, creating it with `schema` when allowed. */
  ensureTable(schema: () => SchemaField[]): Promise<void>;
  /** Inserts rows; throws {@linkcode InsertError} when the request as a whole fails. */
  insert(rows: readonly KeyedRow[]): Promise<InsertOutcome>;
  /**
   * True for a writer that needs rows in the order they were taken (the exactly-once committed
   * stream): the sink then calls `insert` at once for each batch, never retries (the writer
   * does, and never throws), leaves `stopped` rows unsettled, and commits offsets with the
   * writer's `checkpoint` metadata.
   */
  readonly ordered?: boolean;
  /** An ordered writer: the first record of a partition was consumed at `offset`. */
  open?(topic: string, partition: number, offset: number): void;
  /**
   * An ordered writer: what to commit for a partition whose records below `settled` are done
   * (-1: none); null when nothing may be committed for it yet.
   */
  checkpoint?(
    topic: string,
    partition: number,
    settled: number,
  ): { offset: number; metadata: string } | null;
  /** An ordered writer: the sink's hooks (commit a checkpoint now, count a retry). */
  bindSink?(hooks: OrderedSinkHooks): void;
  /** An ordered writer: a partition was revoked. */
  forget?(topic: string, partition: number): void;
}

/**
 * Builds the client options for an auth method: `application_default` searches ADC
 * (GOOGLE_APPLICATION_CREDENTIALS, gcloud, the metadata server), `service_account` reads the key
 * file, `metadata_server` asks only the metadata server, `none` sends no credentials (allowed
 * only with an endpoint override, which the client then calls without auth).
 */
export function bigQueryClientOptions(cfg: SubscriberConfig): Record<string, unknown> {
  const opts: Record<string, unknown> = { projectId: cfg.projectId, autoRetry: false };
  if (cfg.apiEndpoint !== "") {
    opts.apiEndpoint = cfg.apiEndpoint;
    // With a custom endpoint the client skips auth unless told otherwise; only `none` wants that.
    if (cfg.authMethod !== "none") opts.useAuthWithCustomEndpoint = true;
  }
  if (cfg.authMethod === "service_account") opts.keyFilename = cfg.credentialsFile;
  // Straight to the GCE/GKE metadata server, skipping the rest of the ADC search (a stray key
  // file or gcloud login on the node is not used).
  if (cfg.authMethod === "metadata_server") opts.authClient = new Compute();
  return opts;
}

/** A {@linkcode RowWriter} on `@google-cloud/bigquery` streaming inserts. */
export class StreamingInsertWriter implements RowWriter {
  readonly #table: Table;
  readonly #cfg: SubscriberConfig;
  readonly #timeoutMs: number;

  constructor(cfg: SubscriberConfig, options: { timeoutMs?: number } = {}) {
    this.#cfg = cfg;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    const bq = new BigQuery(bigQueryClientOptions(cfg));
    this.#table = bq.dataset(cfg.dataset).table(cfg.table);
  }

  async ensureTable(schema: () => SchemaField[]): Promise<void> {
    try {
      await this.#table.get();
      return;
    } catch (err) {
      if (_status(err) !== 404 || !this.#cfg.autoCreateTable) throw _wrap(err, "get the table");
    }
    try {
      await this.#table.create({ schema: { fields: schema() } });
    } catch (err) {
      if (_status(err) !== 409) throw _wrap(err, "create the table");
    }
  }

  async insert(rows: readonly KeyedRow[]): Promise<InsertOutcome> {
    const raw = rows.map((r) => ({ insertId: r.insertId, json: r.json }));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new InsertError(`insertAll timed out after ${this.#timeoutMs} ms`, true, 0)),
        this.#timeoutMs,
      );
    });
    try {
      await Promise.race([
        this.#table.insert(raw, {
          raw: true,
          partialRetries: 0,
          skipInvalidRows: this.#cfg.skipInvalidRows,
          ignoreUnknownValues: this.#cfg.ignoreUnknownValues,
        }),
        timeout,
      ]);
      return { rejected: new Map(), stopped: [] };
    } catch (err) {
      if ((err as { name?: string }).name === "PartialFailureError") {
        return _partial(err as _Partial, raw);
      }
      throw _wrap(err, "insert rows");
    } finally {
      clearTimeout(timer);
    }
  }
}

interface _Partial {
  errors: { row: { insertId: string }; errors: { reason?: string; message?: string }[] }[];
}

function _partial(err: _Partial, raw: { insertId: string }[]): InsertOutcome {
  const index = new Map(raw.map((r, i) => [r.insertId, i]));
  const rejected = new Map<number, string>();
  const stopped: number[] = [];
  for (const e of err.errors) {
    const i = index.get(e.row.insertId);
    if (i === undefined) continue;
    if (e.errors.every((x) => x.reason === "stopped")) stopped.push(i);
    else {
      rejected.set(
        i,
        e.errors.filter((x) => x.reason !== "stopped").map((x) => `${x.reason}: ${x.message}`)
          .join("; "),
      );
    }
  }
  return { rejected, stopped };
}

function _status(err: unknown): number | undefined {
  const c = (err as { code?: unknown }).code;
  return typeof c === "number" ? c : undefined;
}

function _wrap(err: unknown, action: string): InsertError {
  if (err instanceof InsertError) return err;
  const status = _status(err);
  // 429 and 5xx are the service asking us to come back; no status means the network failed.
  const retriable = status === undefined || status === 429 || status >= 500;
  return new InsertError(
    `Cannot ${action} in BigQuery: ${status ?? "network"} ${(err as Error).message}`,
    retriable,
    status,
    err,
  );
}
