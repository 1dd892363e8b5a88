/**
 * A small in-process fake of the BigQuery REST API (v2), enough for the real
 * `@google-cloud/bigquery` client pointed at it with `apiEndpoint` to get and create tables and
 * stream rows. There is no BigQuery emulator here and no outside network.
 *
 * Implemented, under `/bigquery/v2/projects/P/datasets/D`:
 * - `GET tables/T` (404 when absent) and `POST tables` (409 when present): tables.get / insert
 * - `POST tables/T/insertAll`: rows with `insertId` are deduplicated, as BigQuery's best-effort
 *   deduplication does; rows with unknown fields fail unless `ignoreUnknownValues`; any failed
 *   row fails the whole request unless `skipInvalidRows` (the others answer `stopped`), as the
 *   real service does.
 *
 * `GET /_fake/stats` answers the row count per table, for a fake in another process.
 *
 * Faults to inject: a status (503, 429, ...) for the next N requests, a delay for the next N
 * requests (to provoke client timeouts), and a per-row predicate that marks rows invalid.
 *
 * @module
 */

/** A row the fake stored. */
export interface StoredRow {
  readonly insertId: string | undefined;
  readonly json: Record<string, unknown>;
}

/** A running fake BigQuery server. */
export interface FakeBigQueryServer {
  /** "http://127.0.0.1:PORT", for the client's `apiEndpoint`. */
  readonly apiEndpoint: string;
  /** Rows kept per `project.dataset.table`. */
  rows(table: string): StoredRow[];
  /** The stored table resource (with `schema`), or undefined. */
  table(table: string): Record<string, unknown> | undefined;
  /** Creates a table up front. */
  createTable(table: string, schema?: { fields: { name: string; type: string }[] }): void;
  /** insertAll rows dropped because their insertId was seen before. */
  readonly deduplicated: () => number;
  /** The dropped duplicates themselves, to check that a copy carried the same content. */
  readonly duplicates: () => StoredRow[];
  /** Requests seen per kind: `tables.get`, `tables.insert`, `insertAll`. */
  readonly requestCounts: Map<string, number>;
  /** The next `count` requests answer `status` without being served. */
  failNext(count: number, status: number): void;
  /** The next `count` requests wait `ms` (after their body is read) before they are served. */
  delayNext(count: number, ms: number): void;
  /** Requests being held by a delay right now. */
  held(): number;
  /** Drops the delays not yet used. */
  clearDelays(): void;
  /** Rows for which this returns a reason are refused with `invalid` and that message. */
  rejectRowsWhere(pred: ((json: Record<string, unknown>) => string | undefined) | null): void;
  stop(): Promise<void>;
}

interface _Table {
  resource: Record<string, unknown>;
  rows: StoredRow[];
  ids: Set<string>;
}

/**
 * Starts the fake on 127.0.0.1 with a kernel-chosen port.
 *
 * @example
 * ```ts ignore
 * const bq = await startFakeBigQueryServer();
 * try { console.log(bq.apiEndpoint); } finally { await bq.stop(); }
 * ```
 */
export function startFakeBigQueryServer(
  options: { port?: number; keepRows?: boolean } = {},
): FakeBigQueryServer {
  const keepRows = options.keepRows ?? true;
  const tables = new Map<string, _Table>();
  const requestCounts = new Map<string, number>();
  const faults: { status: number }[] = [];
  const delays: number[] = [];
  let reject: ((json: Record<string, unknown>) => string | undefined) | null = null;
  const dups: StoredRow[] = [];
  const count = (k: string) => requestCounts.set(k, (requestCounts.get(k) ?? 0) + 1);

  let held = 0;
  const handler = async (req: Request): Promise<Response> => {
    // The body is read before any delay, so a client that dies while its request is held still
    // gets its rows written: the case where an insert lands but its offsets are never committed.
    const body = req.method === "POST" ? await req.text() : "";
    const delay = delays.shift();
    if (delay !== undefined) {
      held++;
      await new Promise((r) => setTimeout(r, delay));
      held--;
    }
    const fault = faults.shift();
    if (fault !== undefined) {
      return _error(fault.status, fault.status === 429 ? "rateLimitExceeded" : "backendError");
    }
    const url = new URL(req.url);
    if (url.pathname === "/_fake/stats") {
      const rows = Object.fromEntries([...tables].map(([k, t]) => [k, t.rows.length]));
      return Response.json({ rows, deduplicated: dups.length });
    }
    const m = url.pathname.match(
      /^\/bigquery\/v2\/projects\/([^/]+)\/datasets\/([^/]+)\/tables(?:\/([^/]+))?(\/insertAll)?$/,
    );
    if (m === null) return _error(404, "notFound", `no route ${req.method} ${url.pathname}`);
    const [, project, dataset, tableId, insertAll] = m;
    if (req.method === "POST" && tableId === undefined) {
      count("tables.insert");
      const table = JSON.parse(body) as Record<string, unknown>;
      const ref = table.tableReference as { tableId: string };
      const key = `${project}.${dataset}.${ref.tableId}`;
      if (tables.has(key)) return _error(409, "duplicate", `Already Exists: Table ${key}`);
      tables.set(key, { resource: { ...table, id: key }, rows: [], ids: new Set() });
      return Response.json({ kind: "bigquery#table", ...table, id: key });
    }
    const key = `${project}.${dataset}.${tableId}`;
    const t = tables.get(key);
    if (req.method === "GET" && insertAll === undefined) {
      count("tables.get");
      if (t === undefined) return _error(404, "notFound", `Not found: Table ${key}`);
      return Response.json({ kind: "bigquery#table", ...t.resource });
    }
    if (req.method === "POST" && insertAll !== undefined) {
      count("insertAll");
      if (t === undefined) return _error(404, "notFound", `Not found: Table ${key}`);
      return Response.json(_insertAll(t, JSON.parse(body), reject, (r) => dups.push(r), keepRows));
    }
    return _error(405, "invalid", `method ${req.method} not supported here`);
  };

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen: () => {} },
    handler,
  );
  const addr = server.addr as Deno.NetAddr;
  return {
    apiEndpoint: `http://127.0.0.1:${addr.port}`,
    rows: (table) => [...(tables.get(table)?.rows ?? [])],
    table: (table) => tables.get(table)?.resource,
    createTable(table, schema) {
      const [projectId, datasetId, tableId] = table.split(".");
      tables.set(table, {
        resource: { id: table, tableReference: { projectId, datasetId, tableId }, schema },
        rows: [],
        ids: new Set(),
      });
    },
    deduplicated: () => dups.length,
    duplicates: () => [...dups],
    requestCounts,
    failNext(n, status) {
      for (let i = 0; i < n; i++) faults.push({ status });
    },
    delayNext(n, ms) {
      for (let i = 0; i < n; i++) delays.push(ms);
    },
    held: () => held,
    clearDelays() {
      delays.length = 0;
    },
    rejectRowsWhere(pred) {
      reject = pred;
    },
    stop: () => server.shutdown(),
  };
}

interface _InsertBody {
  rows?: { insertId?: string; json: Record<string, unknown> }[];
  skipInvalidRows?: boolean;
  ignoreUnknownValues?: boolean;
}

function _insertAll(
  t: _Table,
  body: _InsertBody,
  reject: ((json: Record<string, unknown>) => string | undefined) | null,
  onDedup: (row: StoredRow) => void,
  keepRows: boolean,
): Record<string, unknown> {
  const rows = body.rows ?? [];
  const known = _knownFields(t.resource);
  const insertErrors: { index: number; errors: { reason: string; message: string }[] }[] = [];
  rows.forEach((row, index) => {
    let why = reject?.(row.json);
    if (why === undefined && known !== null && body.ignoreUnknownValues !== true) {
      const unknown = Object.keys(row.json).find((k) => !known.has(k));
      if (unknown !== undefined) why = `no such field: ${unknown}.`;
    }
    if (why !== undefined) {
      insertErrors.push({ index, errors: [{ reason: "invalid", message: why }] });
    }
  });
  if (insertErrors.length > 0 && body.skipInvalidRows !== true) {
    const bad = new Set(insertErrors.map((e) => e.index));
    rows.forEach((_, index) => {
      if (!bad.has(index)) {
        insertErrors.push({ index, errors: [{ reason: "stopped", message: "" }] });
      }
    });
    insertErrors.sort((a, b) => a.index - b.index);
    return { kind: "bigquery#tableDataInsertAllResponse", insertErrors };
  }
  const bad = new Set(insertErrors.map((e) => e.index));
  rows.forEach((row, index) => {
    if (bad.has(index)) return;
    if (row.insertId !== undefined && t.ids.has(row.insertId)) {
      return onDedup({ insertId: row.insertId, json: row.json });
    }
    if (row.insertId !== undefined) t.ids.add(row.insertId);
    // A benchmark keeps only the ids and a count, so the fake's memory does not limit the run.
    t.rows.push(keepRows ? { insertId: row.insertId, json: _pruned(row.json, known) } : _EMPTY);
  });
  return insertErrors.length > 0
    ? { kind: "bigquery#tableDataInsertAllResponse", insertErrors }
    : { kind: "bigquery#tableDataInsertAllResponse" };
}

const _EMPTY: StoredRow = { insertId: undefined, json: {} };

function _knownFields(resource: Record<string, unknown>): Set<string> | null {
  const fields = (resource.schema as { fields?: { name: string }[] } | undefined)?.fields;
  return fields === undefined ? null : new Set(fields.map((f) => f.name));
}

function _pruned(
  json: Record<string, unknown>,
  known: Set<string> | null,
): Record<string, unknown> {
  if (known === null) return json;
  return Object.fromEntries(Object.entries(json).filter(([k]) => known.has(k)));
}

function _error(status: number, reason: string, message = reason): Response {
  return Response.json({
    error: { code: status, message, errors: [{ reason, message }], status: reason },
  }, { status });
}
