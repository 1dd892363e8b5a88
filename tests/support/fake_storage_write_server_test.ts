import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { adapt, managedwriter } from "@google-cloud/bigquery-storage";
import { GrpcCode, startFakeStorageWriteServer } from "./fake_storage_write_server.ts";

type WriteStreamType = Parameters<managedwriter.WriterClient["createWriteStream"]>[0]["streamType"];

const TABLE = "projects/p/datasets/d/tables/t";
const SCHEMA = {
  fields: [{ name: "id", type: "INT64", mode: "REQUIRED" }, { name: "name", type: "STRING" }],
};

async function setup() {
  const fake = await startFakeStorageWriteServer((t) => t === TABLE ? SCHEMA : null);
  // The real client, pointed at the fake: endpoint and port override, no TLS, no credentials.
  const client = new managedwriter.WriterClient(
    {
      apiEndpoint: fake.host,
      port: fake.port,
      sslCreds: grpc.credentials.createInsecure(),
      projectId: "p",
    } as ConstructorParameters<typeof managedwriter.WriterClient>[0],
  );
  const open = async (streamType: WriteStreamType) => {
    const ws = streamType === managedwriter.DefaultStream
      ? await client.getWriteStream({ streamId: `${TABLE}/streams/_default`, view: 2 })
      : await client.createWriteStreamFullResponse({ streamType, destinationTable: TABLE });
    const descriptor = adapt.convertStorageSchemaToProto2Descriptor(ws.tableSchema!, "root");
    const connection = await client.createStreamConnection({ streamId: ws.name! });
    return {
      name: ws.name!,
      writer: new managedwriter.JSONWriter({ connection, protoDescriptor: descriptor }),
    };
  };
  return {
    fake,
    client,
    open,
    async [Symbol.asyncDispose]() {
      client.close();
      await fake.stop();
    },
  };
}

Deno.test("FakeStorageWrite: a committed stream enforces offsets and finalize fences it", async () => {
  await using s = await setup();
  const { name, writer } = await s.open(managedwriter.CommittedStream);
  const first = await writer.appendRows([{ id: 1, name: "a" }, { id: 2, name: "b" }], 0)
    .getResult();
  assert.equal(first.error ?? null, null);
  assert.equal(Number(first.appendResult?.offset?.value), 0);
  // The same offset again is a duplicate the service refuses, and nothing is stored twice.
  const again = await writer.appendRows([{ id: 1, name: "a" }], 0).getResult();
  assert.equal(again.error?.code, GrpcCode.ALREADY_EXISTS);
  const gap = await writer.appendRows([{ id: 9, name: "z" }], 5).getResult();
  assert.equal(gap.error?.code, GrpcCode.OUT_OF_RANGE);
  const next = await writer.appendRows([{ id: 3, name: null }], 2).getResult();
  assert.equal(Number(next.appendResult?.offset?.value), 2);
  const fin = await s.client.finalizeWriteStream({ name });
  assert.equal(Number(fin.rowCount), 3);
  const late = await writer.appendRows([{ id: 4, name: "d" }], 3).getResult();
  assert.equal(late.error?.code, GrpcCode.FAILED_PRECONDITION);
  writer.close();
  // Rows were decoded with the writer schema the client built from the table schema.
  assert.deepEqual(s.fake.visibleRows(TABLE), [
    { id: "1", name: "a" },
    { id: "2", name: "b" },
    { id: "3" },
  ]);
});

Deno.test("FakeStorageWrite: default-stream rows are visible; pending ones only after a commit", async () => {
  await using s = await setup();
  const def = await s.open(managedwriter.DefaultStream);
  assert.equal((await def.writer.appendRows([{ id: 7 }]).getResult()).error ?? null, null);
  const pending = await s.open(managedwriter.PendingStream);
  assert.equal((await pending.writer.appendRows([{ id: 8 }], 0).getResult()).error ?? null, null);
  assert.deepEqual(s.fake.visibleRows(TABLE), [{ id: "7" }]);
  await s.client.finalizeWriteStream({ name: pending.name });
  const res = await s.client.batchCommitWriteStream({
    parent: TABLE,
    writeStreams: [pending.name],
  });
  assert.equal(res.streamErrors?.length ?? 0, 0);
  assert.deepEqual(s.fake.visibleRows(TABLE), [{ id: "7" }, { id: "8" }]);
  def.writer.close();
  pending.writer.close();
});

Deno.test("FakeStorageWrite: an unknown table is NOT_FOUND through the client", async () => {
  await using s = await setup();
  await assert.rejects(
    s.client.createWriteStream({
      streamType: managedwriter.CommittedStream,
      destinationTable: "projects/p/datasets/d/tables/missing",
    }),
    (err: { code?: number }) => err.code === grpc.status.NOT_FOUND,
  );
});
