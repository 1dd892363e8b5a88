/**
 * Writes through the BigQuery Storage Write API with the real `@google-cloud/bigquery-storage`
 * managed writer, on the table's `_default` stream. Rows become protobuf messages through the
 * client's own helpers: the table schema from GetWriteStream, `adapt` to a proto2 descriptor, and
 * `JSONWriter` to encode.
 *
 * The default stream has no offsets, so it is at least once: after a crash, records whose rows
 * were appended before their Kafka offsets were committed are appended again. The exactly-once
 * mode is {@linkcode ./committed_stream_writer.ts}.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { adapt, managedwriter } from "@google-cloud/bigquery-storage";
import { InsertError, type InsertOutcome, type RowWriter } from "./bigquery_writer.ts";
import type { KeyedRow, SchemaField } from "./row_mapping.ts";
import type { SubscriberConfig } from "./subscriber_config.ts";

type _Options = ConstructorParameters<typeof managedwriter.WriterClient>[0];
type _Json = ConstructorParameters<typeof managedwriter.JSONWriter>[0];

/** gRPC codes worth another try: the service asks us to come back, or the call never finished. */
export const STORAGE_RETRIABLE: ReadonlySet<number> = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.INTERNAL,
  grpc.status.ABORTED,
  grpc.status.UNKNOWN,
]);

/**
 * Client options: `BIGQUERY_STORAGE_ENDPOINT` (`host:port`) overrides the endpoint; with
 * `AUTH_METHOD=none` the channel is plain text with no credentials (emulators and tests only).
 */
export function storageClientOptions(cfg: SubscriberConfig): _Options {
  const opts: Record<string, unknown> = { projectId: cfg.projectId };
  if (cfg.storageEndpoint !== "") {
    const m = cfg.storageEndpoint.match(/^\[?([^\]]*?)\]?:(\d+)$/)!;
    opts.apiEndpoint = m[1];
    opts.port = Number(m[2]);
  }
  if (cfg.authMethod === "none") opts.sslCreds = grpc.credentials.createInsecure();
  if (cfg.authMethod === "service_account") opts.keyFilename = cfg.credentialsFile;
  return opts as _Options;
}

/** A {@linkcode RowWriter} on the Storage Write API's default stream. */
export class DefaultStreamWriter implements RowWriter {
  readonly #cfg: SubscriberConfig;
  readonly #tables: RowWriter;
  readonly #client: managedwriter.WriterClient;
  #writer: managedwriter.JSONWriter | null = null;
  /** Top-level column names of the table, learned with the schema. */
  #columns: ReadonlySet<string> = new Set();

  /** `tables` makes sure the table exists (the REST API: tables.get and tables.insert). */
  constructor(cfg: SubscriberConfig, tables: RowWriter) {
    this.#cfg = cfg;
    this.#tables = tables;
    this.#client = new managedwriter.WriterClient(storageClientOptions(cfg));
  }

  async ensureTable(schema: () => SchemaField[]): Promise<void> {
    await this.#tables.ensureTable(schema);
  }

  async insert(rows: readonly KeyedRow[]): Promise<InsertOutcome> {
    const writer = this.#writer ?? await this.#open();
    // The protobuf encoding would drop a field the table lacks without a word; refuse the row
    // instead, as insertAll does without ignore_unknown_values.
    const unknown = new Map<number, string>();
    rows.forEach((r, i) => {
      const extra = Object.keys(r.json).filter((k) => !this.#columns.has(k));
      if (extra.length > 0) unknown.set(i, `no such field: ${extra.join(", ")}`);
    });
    if (unknown.size > 0) {
      return { rejected: unknown, stopped: rows.map((_, i) => i).filter((i) => !unknown.has(i)) };
    }
    let res;
    try {
      res = await writer.appendRows(rows.map((r) => r.json as _JsonRow)).getResult();
    } catch (err) {
      this.#reset(); // the connection broke; the next attempt opens a new one
      throw storageError(err, "append rows");
    }
    if (res.rowErrors !== undefined && res.rowErrors !== null && res.rowErrors.length > 0) {
      // BigQuery appends none of a request with a bad row: refuse the bad, resend the rest.
      const rejected = new Map<number, string>();
      for (const e of res.rowErrors) rejected.set(Number(e.index), `${e.code}: ${e.message}`);
      const stopped = rows.map((_, i) => i).filter((i) => !rejected.has(i));
      return { rejected, stopped };
    }
    if (res.error !== undefined && res.error !== null) {
      const code = res.error.code ?? grpc.status.UNKNOWN;
      throw new InsertError(
        `Cannot append rows to the default stream: gRPC ${code} ${res.error.message}`,
        STORAGE_RETRIABLE.has(code),
        code,
      );
    }
    return { rejected: new Map(), stopped: [] };
  }

  /** Closes the stream connection and the client. */
  close(): void {
    this.#reset();
    this.#client.close();
  }

  async #open(): Promise<managedwriter.JSONWriter> {
    const table =
      `projects/${this.#cfg.projectId}/datasets/${this.#cfg.dataset}/tables/${this.#cfg.table}`;
    try {
      // FULL view (2) carries the table schema the descriptor is built from.
      const ws = await this.#client.getWriteStream({
        streamId: `${table}/streams/_default`,
        view: 2,
      });
      const protoDescriptor = adapt.convertStorageSchemaToProto2Descriptor(ws.tableSchema!, "root");
      this.#columns = new Set((ws.tableSchema!.fields ?? []).map((f) => f.name!));
      const connection = await this.#client.createStreamConnection({ streamId: ws.name! });
      this.#writer = new managedwriter.JSONWriter({ connection, protoDescriptor } as _Json);
      return this.#writer;
    } catch (err) {
      throw storageError(err, "open the default stream");
    }
  }

  #reset(): void {
    this.#writer?.close();
    this.#writer = null;
  }
}

type _JsonRow = Parameters<managedwriter.JSONWriter["appendRows"]>[0][number];

/** A Storage Write API failure as an {@linkcode InsertError}, retriable by its gRPC code. */
export function storageError(err: unknown, action: string): InsertError {
  if (err instanceof InsertError) return err;
  const code = (err as { code?: unknown }).code;
  const status = typeof code === "number" ? code : undefined;
  return new InsertError(
    `Cannot ${action} through the Storage Write API: ${status ?? "network"} ${
      (err as Error).message
    }`,
    status === undefined || STORAGE_RETRIABLE.has(status),
    status,
    err,
  );
}
