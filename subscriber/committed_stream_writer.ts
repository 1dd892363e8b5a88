/**
 * Exactly-once writes through the Storage Write API: one COMMITTED stream per partition, rows
 * appended in record order with explicit offsets, and a checkpoint in the Kafka offset commit's
 * metadata (see {@linkcode ./committed_checkpoint.ts} for the arithmetic).
 *
 * - Appends of a partition are serialized, and this writer does its own retries: the sink's
 *   would reorder them. `insert` takes its place in each partition's queue when it is called.
 * - When a partition is opened, the checkpoint committed with its offset is read back, the stream
 *   it names is finalized (a writer still appending to it is fenced off) and the replayed rows
 *   already in the table are skipped.
 * - A row taken and then not appended (BigQuery refused it, a column the table lacks, retries ran
 *   out) becomes a gap, and the checkpoint is committed before the partition's next append; a new
 *   stream is checkpointed before its first append.
 * - When retries run out the outcome of the last append is unknown: the stream is finalized, its
 *   row count says whether the append landed, and the partition goes on in a new stream.
 *
 * @module
 */

import { adapt, managedwriter } from "@google-cloud/bigquery-storage";
import type { Clock, Random } from "../client/mod.ts";
import { sleep } from "../ops/clock.ts";
import type { Logger } from "../ops/logger.ts";
import {
  InsertError,
  type InsertOutcome,
  type OrderedSinkHooks,
  type RowWriter,
} from "./bigquery_writer.ts";
import {
  decodeCheckpoint,
  encodeCheckpoint,
  PartitionLedger,
  rowKey,
  type StreamCheckpoint,
} from "./committed_checkpoint.ts";
import { backoffMs } from "./row_batcher.ts";
import { inferSchema, type KeyedRow, type SchemaField } from "./row_mapping.ts";
import { STORAGE_RETRIABLE, storageClientOptions, storageError } from "./storage_write_writer.ts";
import type { SubscriberConfig } from "./subscriber_config.ts";

type _Json = ConstructorParameters<typeof managedwriter.JSONWriter>[0];
type _JsonRow = Parameters<managedwriter.JSONWriter["appendRows"]>[0][number];

/** A committed offset and its metadata, as the group answers it. */
export interface CommittedAt {
  readonly offset: number;
  readonly metadata: string;
}

/** The parts a {@linkcode CommittedStreamWriter} needs. */
export interface CommittedWriterDeps {
  readonly cfg: SubscriberConfig;
  /** Makes sure the table exists (the REST API). */
  readonly tables: RowWriter;
  /** The group's committed offset and metadata of a partition. */
  readonly committed: (topic: string, partition: number) => Promise<CommittedAt>;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
}

/** The fate of one row: done, a reason it was refused, or left unsettled (fenced). */
type _Fate = true | string | null;

interface _Part {
  readonly topic: string;
  readonly partition: number;
  /** Where the replay starts: the committed offset, or the first record seen. */
  base: number;
  ledger: PartitionLedger | null;
  ready: Promise<PartitionLedger | null>;
  chain: Promise<unknown>;
  /** A gap or a new stream is not in a committed checkpoint yet. */
  dirty: boolean;
  /** Another writer finalized our stream: this member no longer owns the partition. */
  fenced: boolean;
  gone: boolean;
  connection: managedwriter.JSONWriter | null;
}

const _ALREADY_EXISTS = 6;
const _FAILED_PRECONDITION = 9;
const _NOT_FOUND = 5;

/** A {@linkcode RowWriter} that writes each row exactly once into COMMITTED streams. */
export class CommittedStreamWriter implements RowWriter {
  /** Rows must reach {@linkcode insert} in the order they were taken; the sink does not retry. */
  readonly ordered = true;
  readonly #d: CommittedWriterDeps;
  readonly #client: managedwriter.WriterClient;
  readonly #parts = new Map<string, _Part>();
  readonly #tableName: string;
  #sink: OrderedSinkHooks | null = null;
  #table: Promise<void> | null = null;
  #columns: ReadonlySet<string> = new Set();

  constructor(deps: CommittedWriterDeps) {
    this.#d = deps;
    this.#client = new managedwriter.WriterClient(storageClientOptions(deps.cfg));
    const c = deps.cfg;
    this.#tableName = `projects/${c.projectId}/datasets/${c.dataset}/tables/${c.table}`;
  }

  /** The sink's hooks: commit one partition's {@linkcode checkpoint} now, count a retry. */
  bindSink(hooks: OrderedSinkHooks): void {
    this.#sink = hooks;
  }

  /** Starts resuming a partition when its first record (at `firstOffset`) is consumed. */
  open(topic: string, partition: number, firstOffset: number): void {
    const key = `${topic}\0${partition}`;
    if (this.#parts.has(key)) return;
    const part: _Part = {
      topic,
      partition,
      base: firstOffset,
      ledger: null,
      ready: Promise.resolve(null),
      chain: Promise.resolve(),
      dirty: false,
      fenced: false,
      gone: false,
      connection: null,
    };
    part.ready = this.#resume(part);
    part.chain = part.ready;
    this.#parts.set(key, part);
  }

  /**
   * The offset and metadata to commit for a partition whose records below `settled` are done
   * (-1: none yet); null until the partition has resumed, so no commit overwrites the old
   * checkpoint before it was read.
   */
  checkpoint(
    topic: string,
    partition: number,
    settled: number,
  ): { offset: number; metadata: string } | null {
    const p = this.#parts.get(`${topic}\0${partition}`);
    if (p === undefined || p.ledger === null) return null;
    const k = Math.max(settled, p.base);
    return { offset: k, metadata: encodeCheckpoint(p.ledger.checkpoint(k)) };
  }

  /** Forgets a revoked partition; its stream is left for the next owner to finalize. */
  forget(topic: string, partition: number): void {
    const key = `${topic}\0${partition}`;
    const p = this.#parts.get(key);
    if (p === undefined) return;
    p.gone = true;
    p.connection?.close();
    this.#parts.delete(key);
  }

  async ensureTable(schema: () => SchemaField[]): Promise<void> {
    await this.#d.tables.ensureTable(schema);
  }

  /** Queues rows behind earlier ones of their partitions; resolves when all are settled. */
  insert(rows: readonly KeyedRow[]): Promise<InsertOutcome> {
    const groups = new Map<_Part, number[]>();
    rows.forEach((r, i) => {
      const [topic, partition, offset] = r.insertId.split("/");
      this.open(topic!, Number(partition), Number(offset));
      const part = this.#parts.get(`${topic}\0${partition}`)!;
      groups.set(part, [...groups.get(part) ?? [], i]);
    });
    const runs = [...groups].map(([part, idx]) => {
      const run = part.chain.then(() => this.#write(part, idx.map((i) => rows[i]!), rows));
      part.chain = run.catch(() => {});
      return run.then((fates) => ({ idx, fates }));
    });
    return Promise.all(runs).then((all) => {
      const rejected = new Map<number, string>();
      const stopped: number[] = [];
      for (const { idx, fates } of all) {
        fates.forEach((f, j) => {
          if (typeof f === "string") rejected.set(idx[j]!, f);
          else if (f === null) stopped.push(idx[j]!);
        });
      }
      return { rejected, stopped };
    });
  }

  /** Closes every stream connection and the client; streams stay for the next start to finalize. */
  close(): void {
    for (const p of this.#parts.values()) {
      p.gone = true;
      p.connection?.close();
    }
    this.#parts.clear();
    this.#client.close();
  }

  /** Reads the checkpoint back and finalizes its stream; retries until it can, or is forgotten. */
  async #resume(part: _Part): Promise<PartitionLedger | null> {
    for (let attempt = 0; !part.gone; attempt++) {
      try {
        const at = await this.#d.committed(part.topic, part.partition);
        if (at.offset >= 0) part.base = at.offset;
        const found = this.#parse(part, at.metadata);
        const rowCount = found === null || found.s === "" ? 0 : await this.#finalize(found);
        const ledger = new PartitionLedger(found, rowCount);
        this.#d.logger.info("resuming partition", {
          topic: part.topic,
          partition: part.partition,
          offset: part.base,
          old_stream: found?.s ?? "",
          old_stream_rows: rowCount,
          skip_rows: ledger.skipping,
          gaps: found?.gaps.length ?? 0,
        });
        part.ledger = ledger;
        return ledger;
      } catch (err) {
        this.#d.logger.warn("cannot resume partition yet; retrying", {
          topic: part.topic,
          partition: part.partition,
          error: (err as Error).message,
        });
        await this.#backoff(attempt);
      }
    }
    return null;
  }

  #parse(part: _Part, metadata: string): StreamCheckpoint | null {
    try {
      return decodeCheckpoint(metadata);
    } catch (err) {
      // Metadata someone else committed (a tool, another sink): nothing of ours to resume.
      this.#d.logger.warn("committed metadata is not a stream checkpoint; starting without one", {
        topic: part.topic,
        partition: part.partition,
        error: (err as Error).message,
      });
      return null;
    }
  }

  /** The row count of a checkpoint's stream once finalized (no writer can add to it after). */
  async #finalize(found: StreamCheckpoint): Promise<number> {
    try {
      const res = await this.#client.finalizeWriteStream({ name: found.s });
      return Number(res?.rowCount ?? 0);
    } catch (err) {
      if ((err as { code?: unknown }).code !== _NOT_FOUND) throw err;
      // Gone (BigQuery drops old streams): assume nothing past the checkpoint was kept there.
      this.#d.logger.error("the checkpoint's stream no longer exists; resuming from its count", {
        stream: found.s,
      });
      return found.x;
    }
  }

  /** Writes one partition's share of a batch, in order; answers each row's fate. */
  async #write(part: _Part, rows: KeyedRow[], batch: readonly KeyedRow[]): Promise<_Fate[]> {
    const ledger = await part.ready;
    const fates: _Fate[] = rows.map(() => null);
    if (ledger === null || part.fenced || part.gone) return fates;
    const toSend: number[] = [];
    rows.forEach((r, i) => {
      const { key, offset } = rowKey(r.insertId);
      const fate = ledger.classify(key, offset);
      if (fate === "skip") fates[i] = true; // in the table already, from before the restart
      else if (fate === "gap") fates[i] = "refused before a restart (see its first dead-letter)";
      else toSend.push(i);
    });
    if (toSend.length === 0) return fates;
    const drop = (list: number[], reason: string) => {
      for (const i of list) {
        ledger.dropped(rowKey(rows[i]!.insertId).key);
        fates[i] = reason;
      }
      if (list.length > 0) part.dirty = true;
    };
    const ready = await this.#prepare(part, ledger, batch);
    if (ready !== null) {
      drop(toSend, ready);
      return fates;
    }
    // The protobuf encoding would drop a field the table lacks without a word: refuse the row.
    const unknown = new Set(
      toSend.filter((i) => Object.keys(rows[i]!.json).some((k) => !this.#columns.has(k))),
    );
    drop([...unknown], "no such field in the table");
    let left = toSend.filter((i) => !unknown.has(i));
    while (left.length > 0 && !part.gone) {
      if (part.dirty) await this.#checkpointNow(part);
      if (part.gone) break;
      const out = await this.#append(part, ledger, left.map((i) => rows[i]!));
      if (out === "fenced") {
        part.fenced = true;
        break;
      }
      if (out === true) {
        for (const i of left) fates[i] = true;
        break;
      }
      if (typeof out === "string") {
        drop(left, out);
        break;
      }
      // BigQuery appended none of them: refuse the bad rows, send the rest again.
      for (const [j, reason] of out) {
        ledger.dropped(rowKey(rows[left[j]!]!.insertId).key);
        fates[left[j]!] = `BigQuery refused the row: ${reason}`;
        part.dirty = true;
      }
      left = left.filter((_, j) => !out.has(j));
    }
    return fates;
  }

  /**
   * Makes sure the table and the partition's stream exist; answers null, or why the rows must
   * be refused (after the retries).
   */
  async #prepare(
    part: _Part,
    ledger: PartitionLedger,
    batch: readonly KeyedRow[],
  ): Promise<string | null> {
    for (let attempt = 0;; attempt++) {
      try {
        await (this.#table ??= this.#ensureTable(batch).catch((err) => {
          this.#table = null;
          throw err;
        }));
        if (ledger.stream === "") {
          const name = await this.#client.createWriteStream({
            streamType: managedwriter.CommittedStream,
            destinationTable: this.#tableName,
          });
          ledger.switchTo(name);
          part.dirty = true;
        }
        return null;
      } catch (err) {
        const e = storageError(err, "create the committed stream");
        if (!e.retriable || attempt >= this.#d.cfg.maxRetries) return e.message;
        await this.#backoff(attempt);
      }
    }
  }

  async #ensureTable(batch: readonly KeyedRow[]): Promise<void> {
    const file = this.#d.cfg.tableSchema;
    await this.#d.tables.ensureTable(() =>
      file !== null ? [...file] as unknown as SchemaField[] : inferSchema(batch.map((r) => r.json))
    );
    // FULL view (2) carries the table schema.
    const ws = await this.#client.getWriteStream({
      streamId: `${this.#tableName}/streams/_default`,
      view: 2,
    });
    this.#columns = new Set((ws.tableSchema!.fields ?? []).map((f) => f.name!));
  }

  /** Commits the partition's checkpoint; retries until it lands or the partition is forgotten. */
  async #checkpointNow(part: _Part): Promise<void> {
    for (let attempt = 0; !part.gone; attempt++) {
      try {
        await this.#sink!.commit(part.topic, part.partition);
        part.dirty = false;
        return;
      } catch (err) {
        this.#d.logger.warn("cannot commit the stream checkpoint; holding the partition", {
          topic: part.topic,
          partition: part.partition,
          error: (err as Error).message,
        });
        await this.#backoff(attempt);
      }
    }
  }

  /**
   * Appends rows at the stream's next offset. Answers true, row errors by position, a reason
   * they are not in the table, or "fenced".
   */
  async #append(
    part: _Part,
    ledger: PartitionLedger,
    rows: KeyedRow[],
  ): Promise<true | string | "fenced" | Map<number, string>> {
    const offset = ledger.next;
    const landed = () => {
      ledger.appended(rows.map((r) => rowKey(r.insertId).offset));
      return true as const;
    };
    for (let attempt = 0;; attempt++) {
      let err: InsertError;
      try {
        const w = part.connection ?? await this.#connect(part, ledger.stream);
        const res = await w.appendRows(rows.map((r) => r.json as _JsonRow), offset).getResult();
        if (res.rowErrors !== undefined && res.rowErrors !== null && res.rowErrors.length > 0) {
          return new Map(res.rowErrors.map((e) => [Number(e.index), `${e.code}: ${e.message}`]));
        }
        const code = res.error?.code ?? 0;
        // Our offsets are the stream's end by our own count: ALREADY_EXISTS means an earlier
        // attempt of this very append landed.
        if (res.error === undefined || res.error === null || code === _ALREADY_EXISTS) {
          return landed();
        }
        if (code === _FAILED_PRECONDITION) {
          this.#d.logger.error(
            "our stream was finalized by another writer; leaving the partition",
            {
              topic: part.topic,
              partition: part.partition,
              stream: ledger.stream,
            },
          );
          return "fenced";
        }
        err = new InsertError(
          `Cannot append to the committed stream: gRPC ${code} ${res.error.message}`,
          STORAGE_RETRIABLE.has(code),
          code,
        );
      } catch (e) {
        err = storageError(e, "append to the committed stream");
      }
      part.connection?.close();
      part.connection = null;
      if (err.retriable && attempt < this.#d.cfg.maxRetries) {
        this.#d.logger.warn("append failed; retrying", { error: err.message, attempt });
        this.#sink?.retried(err.message);
        await this.#backoff(attempt);
        continue;
      }
      return await this.#abandonStream(part, ledger, offset + rows.length, landed, err);
    }
  }

  /** After an append of unknown outcome: finalize the stream, learn whether it landed, move on. */
  async #abandonStream(
    part: _Part,
    ledger: PartitionLedger,
    end: number,
    landed: () => true,
    err: InsertError,
  ): Promise<true | string> {
    for (let attempt = 0;; attempt++) {
      try {
        const res = await this.#client.finalizeWriteStream({ name: ledger.stream });
        const did = Number(res?.rowCount ?? 0) >= end;
        const out = did ? landed() : `gave up: ${err.message}`;
        const stream = ledger.stream;
        ledger.switchTo(""); // the next append creates (and checkpoints) a new stream
        part.dirty = true;
        this.#d.logger.error("gave up on an append; finalized its stream", {
          stream,
          error: err.message,
          landed: did,
        });
        return out;
      } catch (e) {
        // Until the stream is finalized nobody knows what it holds: the partition waits.
        this.#d.logger.error("cannot finalize the stream; holding the partition", {
          error: (e as Error).message,
        });
        await this.#backoff(attempt);
      }
    }
  }

  async #connect(part: _Part, stream: string): Promise<managedwriter.JSONWriter> {
    const ws = await this.#client.getWriteStream({ streamId: stream, view: 2 });
    const protoDescriptor = adapt.convertStorageSchemaToProto2Descriptor(ws.tableSchema!, "root");
    const connection = await this.#client.createStreamConnection({ streamId: stream });
    part.connection = new managedwriter.JSONWriter({ connection, protoDescriptor } as _Json);
    return part.connection;
  }

  async #backoff(attempt: number): Promise<void> {
    const c = this.#d.cfg;
    await sleep(
      this.#d.clock,
      backoffMs(Math.min(attempt, 16), c.retryBaseMs, c.retryMaxMs, () => this.#d.random.next()),
    );
  }
}
