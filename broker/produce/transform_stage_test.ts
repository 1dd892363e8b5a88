import assert from "node:assert/strict";
import { rebasedSequence, transformBatch } from "./transform_stage.ts";
import {
  batchCompression,
  buildBatch,
  decodeRecords,
  validateBatch,
} from "../../protocol/record/record_batch.ts";
import { type EtlModule, EtlPool } from "../../etl/worker_pool.ts";
import { EtlExecutionError } from "../../etl/etl_error.ts";
import { sha256Hex } from "../../etl/module_validation.ts";
import { abiModuleWat, watToWasm } from "../../etl/testing/wat.ts";
import { crc32c } from "../../protocol/crc32c.ts";
import { CorruptRecordError } from "../../protocol/record/record_errors.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const EMIT_ALL = "(call $emit (local.get $kp) (local.get $kl) (local.get $vp) (local.get $vl))";

async function mod(name: string, body: string): Promise<EtlModule> {
  const bytes = await watToWasm(abiModuleWat(body));
  return { name, sha256: await sha256Hex(bytes), bytes };
}
// Drops values starting with 'x'; traps on values starting with 't'.
const FILTER =
  `(if (i32.eq (i32.load8_u (local.get $vp)) (i32.const 120)) (then (return (i32.const 0))))
  (if (i32.eq (i32.load8_u (local.get $vp)) (i32.const 116)) (then unreachable))
  ${EMIT_ALL} (i32.const 0)`;
// Emits each record twice.
const DOUBLE = `${EMIT_ALL} ${EMIT_ALL} (i32.const 0)`;

function newPool(): EtlPool {
  return new EtlPool({
    maxConcurrentExecutions: 1,
    executionTimeoutMs: 10_000,
    memoryLimitBytes: 1 << 20,
    batchSize: 100,
  });
}

async function input(values: string[]): Promise<Uint8Array> {
  return await buildBatch(
    values.map((v, i) => ({
      key: enc.encode(`k${i}`),
      value: enc.encode(v),
      timestamp: 1000 + i,
      headers: [{ key: "trace", value: enc.encode(`t${i}`) }],
    })),
    { producerId: 42, producerEpoch: 3, baseSequence: 17, compression: "gzip" },
  );
}

Deno.test("transformBatch re-encodes the chain's output with a valid CRC and the producer fields", async () => {
  const pool = newPool();
  try {
    const chain = [await mod("filter", FILTER), await mod("double", DOUBLE)];
    const r = await transformBatch(await input(["a", "xdrop", "b"]), chain, { pool });
    assert.equal(r.recordsIn, 3);
    assert.equal(r.recordsOut, 4);
    const header = validateBatch(r.batch!);
    assert.equal(batchCompression(header), "gzip");
    // The input held sequences 17..19; the 4 stored records end on 19 so that state rebuilt
    // from stored headers expects 20 next.
    assert.deepEqual([header.producerId, header.producerEpoch, header.baseSequence], [42, 3, 16]);
    assert.equal(header.recordCount, 4);
    const { records } = await decodeRecords(r.batch!);
    assert.deepEqual(
      records.map((
        x,
      ) => [
        dec.decode(x.key!),
        dec.decode(x.value!),
        x.timestamp,
        dec.decode(x.headers[0]!.value!),
      ]),
      [
        ["k0", "a", 1000, "t0"],
        ["k0", "a", 1000, "t0"],
        ["k2", "b", 1002, "t2"],
        ["k2", "b", 1002, "t2"],
      ],
    );
  } finally {
    pool.close();
  }
});

Deno.test("transformBatch passes a batch through an empty chain and drops a fully filtered one", async () => {
  const pool = newPool();
  try {
    const batch = await input(["a"]);
    assert.equal((await transformBatch(batch, [], { pool })).batch, batch);
    const r = await transformBatch(await input(["x1", "x2"]), [await mod("filter", FILTER)], {
      pool,
    });
    assert.deepEqual(r, { batch: null, recordsIn: 2, recordsOut: 0, failed: [] });
  } finally {
    pool.close();
  }
});

Deno.test("transformBatch rejects the whole batch naming the failing module", async () => {
  const pool = newPool();
  try {
    await assert.rejects(
      transformBatch(await input(["a", "trap"]), [await mod("filter", FILTER)], { pool }),
      (e: unknown) => {
        assert.ok(e instanceof EtlExecutionError);
        assert.equal(e.kind, "trap");
        assert.match(e.message, /^Cannot transform with module 'filter' as it failed \(trap\)/);
        return true;
      },
    );
  } finally {
    pool.close();
  }
});

Deno.test("transformBatch skips or lists failing records under skip and dead-letter", async () => {
  const pool = newPool();
  try {
    const chain = [await mod("filter", FILTER)];
    for (const onFailure of ["skip", "dead-letter"] as const) {
      const r = await transformBatch(await input(["a", "trap", "b"]), chain, { pool, onFailure });
      assert.equal(r.recordsOut, 2);
      const { records } = await decodeRecords(r.batch!);
      assert.deepEqual(records.map((x) => dec.decode(x.value!)), ["a", "b"]);
      assert.equal(r.failed.length, 1);
      assert.equal(r.failed[0]!.kind, "trap");
      assert.equal(r.failed[0]!.module, "filter");
      assert.equal(dec.decode(r.failed[0]!.record.value!), "trap");
      assert.equal(r.failed[0]!.record.timestamp, 1001);
    }
  } finally {
    pool.close();
  }
});

Deno.test("transformBatch drops what a record emitted before it failed, and writes what buildBatch would", async () => {
  const pool = newPool();
  try {
    // Emits the record, then traps on values starting with 't': the emitted copy must go too.
    const chain = [
      await mod(
        "late-trap",
        `${EMIT_ALL} (if (i32.eq (i32.load8_u (local.get $vp)) (i32.const 116)) (then unreachable))
      (i32.const 0)`,
      ),
    ];
    const records = ["a", "tx", "b"].map((v, i) => ({
      key: enc.encode(`k${i}`),
      value: enc.encode(v),
      timestamp: 1000 + i,
      headers: [{ key: "trace", value: enc.encode(`t${i}`) }],
    }));
    const producer = { producerId: 42, producerEpoch: 3 };
    const batch = await buildBatch(records, { ...producer, baseSequence: 17 });
    const r = await transformBatch(batch, chain, { pool, onFailure: "skip" });
    assert.deepEqual([r.recordsOut, r.failed.length, r.failed[0]?.kind], [2, 1, "trap"]);
    // Uncompressed, the Worker writes the output in place: byte for byte what buildBatch makes.
    const expected = await buildBatch([records[0]!, records[2]!], {
      ...producer,
      baseSequence: 18,
    });
    assert.deepEqual(r.batch, expected);
  } finally {
    pool.close();
  }
});

Deno.test("rebasedSequence ends the stored records on the producer's last sequence, wrapping", () => {
  assert.equal(rebasedSequence(19, 4), 16);
  assert.equal(rebasedSequence(19, 1), 19);
  assert.equal(rebasedSequence(1, 4), 2147483646);
});

Deno.test("transformBatch runs a batch larger than batch_size in slices with the same result", async () => {
  const pool = new EtlPool({
    maxConcurrentExecutions: 1,
    executionTimeoutMs: 10_000,
    memoryLimitBytes: 1 << 20,
    batchSize: 2,
  });
  try {
    const chain = [await mod("filter", FILTER), await mod("double", DOUBLE)];
    const r = await transformBatch(await input(["a", "xdrop", "b", "c", "trap"]), chain, {
      pool,
      onFailure: "skip",
    });
    assert.equal(pool.batchSize, 2);
    assert.deepEqual([r.recordsIn, r.recordsOut, r.failed.length], [5, 6, 1]);
    const header = validateBatch(r.batch!);
    assert.equal(batchCompression(header), "gzip");
    // Sequences 17..21 in; six stored records end on 21.
    assert.equal(header.baseSequence, 16);
    const { records } = await decodeRecords(r.batch!);
    assert.deepEqual(records.map((x) => dec.decode(x.value!)), ["a", "a", "b", "b", "c", "c"]);
  } finally {
    pool.close();
  }
});

Deno.test("transformBatch answers a batch whose compressed body does not decode with CorruptRecordError", async () => {
  const pool = newPool();
  try {
    const batch = await input(["a", "b"]);
    // Damage the gzip body, then give the batch a matching CRC: it passes validation but its
    // records cannot be decoded, which the Worker must report rather than die on.
    batch[batch.length - 10]! ^= 0xff;
    new DataView(batch.buffer, batch.byteOffset).setUint32(17, crc32c(batch.subarray(21)));
    validateBatch(batch);
    await assert.rejects(
      transformBatch(batch, [await mod("filter", FILTER)], { pool }),
      CorruptRecordError,
    );
    // The Worker still serves the next batch.
    const ok = await transformBatch(await input(["c"]), [await mod("filter", FILTER)], { pool });
    assert.equal(ok.recordsOut, 1);
  } finally {
    pool.close();
  }
});
