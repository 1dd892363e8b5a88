/**
 * A fake BigQuery Storage Write API (gRPC, `google.cloud.bigquery.storage.v1.BigQueryWrite`) for
 * tests, served by `@grpc/grpc-js` and driven through the real `@google-cloud/bigquery-storage`
 * client with an endpoint override and insecure credentials. It implements only what the
 * client's managed writer calls: CreateWriteStream, GetWriteStream, AppendRows (a bidi stream),
 * FinalizeWriteStream and BatchCommitWriteStreams.
 *
 * Rows are decoded with the writer schema each AppendRows connection sends, the way BigQuery
 * does. Offsets follow the service: an append at the stream's length succeeds, below it answers
 * ALREADY_EXISTS, above it OUT_OF_RANGE, and a finalized stream refuses appends. Faults:
 * appends can fail with a gRPC code (with or without storing their rows first, to model a lost
 * answer), and rows can be refused with `row_errors`.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { adapt, protos } from "@google-cloud/bigquery-storage";
import protobuf from "protobufjs";

const _V1 = protos.google.cloud.bigquery.storage.v1;
const _SERVICE = "/google.cloud.bigquery.storage.v1.BigQueryWrite/";

/** gRPC status codes the fake answers with (google.rpc.Code). */
export const GrpcCode = { ALREADY_EXISTS: 6, OUT_OF_RANGE: 11, FAILED_PRECONDITION: 9 } as const;

/** A BigQuery table schema in the Storage API's shape (`TableSchema`). */
export interface StorageTableSchema {
  fields: { name: string; type: string; mode?: string }[];
}

/** One stream the fake holds. */
export interface FakeWriteStream {
  readonly name: string;
  readonly table: string;
  readonly type: string;
  readonly rows: Record<string, unknown>[];
  finalized: boolean;
  committed: boolean;
}

/** A running fake. */
export interface FakeStorageWriteServer {
  /** `127.0.0.1`; pass as the client's `apiEndpoint` together with {@linkcode port}. */
  readonly host: string;
  readonly port: number;
  /** Every stream by name, the `_default` streams included once written. */
  readonly streams: ReadonlyMap<string, FakeWriteStream>;
  /** Rows visible in a table (`projects/P/datasets/D/tables/T`): committed and default streams. */
  visibleRows(table: string): Record<string, unknown>[];
  /** Holds every append this long before it is stored and answered (0: none). */
  setAppendDelay(ms: number): void;
  /**
   * The next `n` appends answer gRPC `code`. With `stored`, the rows are stored first (an
   * append that landed but whose answer was lost); without it nothing is stored.
   */
  failAppends(n: number, code: number, stored?: boolean): void;
  /**
   * Rows (decoded) for which `pred` is true are refused as BigQuery does: the answer carries
   * `row_errors` with their indexes, and none of the request's rows are stored.
   */
  rejectRowsWhere(pred: ((row: Record<string, unknown>) => boolean) | null): void;
  /**
   * Stops gracefully (open sessions are let go, not torn down): `forceShutdown` with a client
   * session still open has aborted Deno inside nghttp2 (`find_stream_on_goaway_func`).
   */
  stop(): Promise<void>;
}

type _Obj = Record<string, unknown>;

function _method(name: string, req: _Codec, res: _Codec, streaming = false) {
  return {
    path: _SERVICE + name,
    requestStream: streaming,
    responseStream: streaming,
    requestSerialize: (x: _Obj) => Buffer.from(req.encode(req.fromObject(x)).finish()),
    requestDeserialize: (b: Uint8Array) => req.decode(b),
    responseSerialize: (x: _Obj) => Buffer.from(res.encode(res.fromObject(x)).finish()),
    responseDeserialize: (b: Uint8Array) => res.decode(b),
  };
}

interface _Codec {
  encode(m: unknown): { finish(): Uint8Array };
  decode(b: Uint8Array): unknown;
  fromObject(o: _Obj): unknown;
}

/**
 * Starts the fake on 127.0.0.1 with a random port. `schemaOf` answers a table's schema (null:
 * the table does not exist), so a test can share tables with the REST fake.
 */
export async function startFakeStorageWriteServer(
  schemaOf: (table: string) => StorageTableSchema | null,
): Promise<FakeStorageWriteServer> {
  const streams = new Map<string, FakeWriteStream>();
  let seq = 0;
  const delay: _Faults = { ms: 0, fail: [], reject: null };
  const server = new grpc.Server();
  const c = (t: unknown) => t as _Codec;
  const definition = {
    CreateWriteStream: _method(
      "CreateWriteStream",
      c(_V1.CreateWriteStreamRequest),
      c(_V1.WriteStream),
    ),
    GetWriteStream: _method("GetWriteStream", c(_V1.GetWriteStreamRequest), c(_V1.WriteStream)),
    AppendRows: _method("AppendRows", c(_V1.AppendRowsRequest), c(_V1.AppendRowsResponse), true),
    FinalizeWriteStream: _method(
      "FinalizeWriteStream",
      c(_V1.FinalizeWriteStreamRequest),
      c(_V1.FinalizeWriteStreamResponse),
    ),
    BatchCommitWriteStreams: _method(
      "BatchCommitWriteStreams",
      c(_V1.BatchCommitWriteStreamsRequest),
      c(_V1.BatchCommitWriteStreamsResponse),
    ),
  };
  const notFound = (what: string) => ({
    code: grpc.status.NOT_FOUND,
    details: `${what} not found`,
  });
  const stream = (name: string): FakeWriteStream | null => {
    const known = streams.get(name);
    if (known !== undefined) return known;
    const m = name.match(/^(.*)\/streams\/_default$/);
    if (m === null || schemaOf(m[1]!) === null) return null;
    const s = {
      name,
      table: m[1]!,
      type: "COMMITTED",
      rows: [],
      finalized: false,
      committed: true,
    };
    streams.set(name, s);
    return s;
  };
  const view = (s: FakeWriteStream) => ({
    name: s.name,
    type: s.type,
    tableSchema: schemaOf(s.table),
  });
  type _Cb = (err: Partial<grpc.StatusObject> | null, res?: _Obj) => void;
  type _Unary = { request: _Obj };
  server.addService(definition as unknown as grpc.ServiceDefinition, {
    CreateWriteStream(call: _Unary, cb: _Cb) {
      const table = call.request.parent as string;
      if (schemaOf(table) === null) return cb(notFound(`table ${table}`));
      const type = (call.request.writeStream as { type?: unknown } | undefined)?.type;
      const typeName = typeof type === "number" ? _V1.WriteStream.Type[type]! : String(type);
      const s: FakeWriteStream = {
        name: `${table}/streams/fake-${++seq}`,
        table,
        type: typeName,
        rows: [],
        finalized: false,
        committed: typeName === "COMMITTED",
      };
      streams.set(s.name, s);
      cb(null, view(s));
    },
    GetWriteStream(call: _Unary, cb: _Cb) {
      const s = stream(call.request.name as string);
      return s === null ? cb(notFound(`stream ${call.request.name}`)) : cb(null, view(s));
    },
    FinalizeWriteStream(call: _Unary, cb: _Cb) {
      const s = stream(call.request.name as string);
      if (s === null) return cb(notFound(`stream ${call.request.name}`));
      s.finalized = true;
      cb(null, { rowCount: s.rows.length });
    },
    BatchCommitWriteStreams(call: _Unary, cb: _Cb) {
      for (const name of call.request.writeStreams as string[]) {
        const s = streams.get(name);
        if (s === undefined) return cb(notFound(`stream ${name}`));
        if (!s.finalized) {
          return cb(null, {
            streamErrors: [{ code: 4, entity: name, errorMessage: "stream is not finalized" }],
          });
        }
        s.committed = true;
      }
      cb(null, { commitTime: { seconds: Math.floor(Date.now() / 1000) } });
    },
    AppendRows(call: grpc.ServerDuplexStream<_Obj, _Obj>) {
      _serveAppends(call, stream, delay);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      "127.0.0.1:0",
      grpc.ServerCredentials.createInsecure(),
      (err, p) => err ? reject(err) : resolve(p),
    )
  );
  return {
    host: "127.0.0.1",
    port,
    streams,
    visibleRows: (table) =>
      [...streams.values()].filter((s) => s.table === table && s.committed).flatMap((s) => s.rows),
    setAppendDelay: (ms) => {
      delay.ms = ms;
    },
    failAppends: (n, code, stored = false) => {
      for (let i = 0; i < n; i++) delay.fail.push({ code, stored });
    },
    rejectRowsWhere: (pred) => {
      delay.reject = pred;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
      }),
  };
}

interface _Faults {
  ms: number;
  fail: { code: number; stored: boolean }[];
  reject: ((row: Record<string, unknown>) => boolean) | null;
}

/** One AppendRows connection: the first request names the stream and carries the schema. */
function _serveAppends(
  call: grpc.ServerDuplexStream<_Obj, _Obj>,
  stream: (name: string) => FakeWriteStream | null,
  delay: _Faults,
): void {
  let name = "";
  let type: protobuf.Type | null = null;
  // Requests of one connection are answered in order, as the service does.
  let queue: Promise<unknown> = Promise.resolve();
  call.on("data", (req: _Obj) => {
    const ms = delay.ms;
    queue = queue.then(() => ms > 0 ? new Promise((r) => setTimeout(r, ms)) : undefined)
      .then(() => handle(req));
  });
  const handle = (req: _Obj) => {
    if (typeof req.writeStream === "string" && req.writeStream !== "") name = req.writeStream;
    const data = req.protoRows as
      | { writerSchema?: { protoDescriptor?: unknown }; rows?: { serializedRows?: Uint8Array[] } }
      | undefined;
    if (data?.writerSchema?.protoDescriptor !== undefined) {
      const d = new protos.google.protobuf.DescriptorProto(
        data.writerSchema.protoDescriptor as protos.google.protobuf.IDescriptorProto,
      );
      type = protobuf.Type.fromDescriptor(adapt.normalizeDescriptor(d));
    }
    const s = stream(name);
    const fail = (code: number, message: string) => call.write({ error: { code, message } });
    if (s === null) return fail(grpc.status.NOT_FOUND, `stream ${name} not found`);
    if (type === null) return fail(grpc.status.INVALID_ARGUMENT, "no writer schema was sent");
    if (s.finalized) return fail(GrpcCode.FAILED_PRECONDITION, `stream ${name} is finalized`);
    // An unstored failure comes before any check, as a broken connection would.
    const fault = delay.fail.shift();
    if (fault?.stored === false) return fail(fault.code, "injected failure");
    const offset = req.offset === null || req.offset === undefined
      ? s.rows.length
      : Number((req.offset as { value: unknown }).value);
    if (offset < s.rows.length) {
      return fail(GrpcCode.ALREADY_EXISTS, `offset ${offset} is below the end ${s.rows.length}`);
    }
    if (offset > s.rows.length) {
      return fail(GrpcCode.OUT_OF_RANGE, `offset ${offset} is past the end ${s.rows.length}`);
    }
    const t = type as protobuf.Type;
    const rows = (data?.rows?.serializedRows ?? []).map((b) =>
      t.toObject(t.decode(b), { longs: String }) as Record<string, unknown>
    );
    const bad = delay.reject === null ? [] : rows.flatMap((r, i) => delay.reject!(r) ? [i] : []);
    if (bad.length > 0) {
      return call.write({
        error: { code: grpc.status.INVALID_ARGUMENT, message: "some rows are invalid" },
        rowErrors: bad.map((index) => ({ index, code: 1, message: `row ${index} is invalid` })),
      });
    }
    if (fault?.stored === true) s.rows.push(...rows);
    if (fault !== undefined) return fail(fault.code, "injected failure");
    s.rows.push(...rows);
    call.write({ appendResult: { offset: { value: offset } }, writeStream: name });
  };
  call.on("end", () => queue.then(() => call.end()));
}
