import assert from "node:assert/strict";
import { buildAssemblyScript } from "./testing/asc.ts";
import { validateModule } from "./module_validation.ts";
import { type EtlModule, EtlPool } from "./worker_pool.ts";
import type { EtlOutcome } from "./chain_runner.ts";
import type { EtlRecordData } from "./abi_instance.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const MIB = 1024 * 1024;

// Building with asc takes a few seconds, so each example is built once for the file.
const built = new Map<string, Promise<EtlModule>>();
function example(name: string): Promise<EtlModule> {
  let p = built.get(name);
  if (!p) {
    p = (async () => {
      const bytes = await buildAssemblyScript(`examples/${name}.ts`);
      const v = await validateModule(bytes, { memoryLimitBytes: 16 * MIB });
      return { name, sha256: v.sha256, bytes };
    })();
    built.set(name, p);
  }
  return p;
}

const rec = (key: string | null, value: string | null): EtlRecordData => ({
  key: key === null ? null : enc.encode(key),
  value: value === null ? null : enc.encode(value),
});
const text = (o: EtlOutcome) =>
  "failure" in o
    ? `failed:${o.failure.kind}`
    : o.records.map((r) => `${r.key && dec.decode(r.key)}=${r.value && dec.decode(r.value)}`)
      .join("|");

function pool(): EtlPool {
  return new EtlPool({
    maxConcurrentExecutions: 1,
    executionTimeoutMs: 5000,
    memoryLimitBytes: 16 * MIB,
    batchSize: 1000,
  });
}

Deno.test("AssemblyScript pii_scrubber masks e-mail addresses and long numbers", async () => {
  const p = pool();
  try {
    const out = await p.run([await example("pii_scrubber")], [
      rec("u1", "mail ann.lee+x@example.com, card 4111111111111111, order 1234"),
      rec(null, "nothing here"),
      rec("t", null),
    ]);
    assert.deepEqual(out.map(text), [
      "u1=mail [email], card [number], order 1234",
      "null=nothing here",
      "t=null",
    ]);
  } finally {
    p.close();
  }
});

Deno.test("AssemblyScript filter drops debug records and tombstones", async () => {
  const p = pool();
  try {
    const out = await p.run([await example("filter")], [
      rec("a", '{"level":"info","msg":"up"}'),
      rec("b", '{"level":"debug","msg":"noise"}'),
      rec("c", null),
    ]);
    assert.deepEqual(out.map(text), ['a={"level":"info","msg":"up"}', "", ""]);
  } finally {
    p.close();
  }
});

Deno.test("AssemblyScript json_enricher adds fields and fails non-objects", async () => {
  const p = pool();
  try {
    const out = await p.run([await example("json_enricher")], [
      rec("k", '{"id":1}'),
      rec("k", "{}"),
      rec("k", "plain text"),
    ]);
    assert.deepEqual(out.map(text), [
      'k={"id":1,"etl":"rustmq","bytes":8}',
      'k={"etl":"rustmq","bytes":2}',
      "failed:non_zero_return",
    ]);
  } finally {
    p.close();
  }
});

Deno.test("AssemblyScript chain filter -> pii_scrubber -> json_enricher stays within memory", async () => {
  const p = pool();
  try {
    const chain = await Promise.all(["filter", "pii_scrubber", "json_enricher"].map(example));
    const input = Array.from(
      { length: 20_000 },
      (_, i) => rec(`k${i}`, `{"level":"${i % 2 ? "debug" : "info"}","to":"u${i}@ex.org"}`),
    );
    // 20k records through a 16 MiB limit: a per-record leak in the helper would fail this.
    const out = await p.run(chain, input);
    assert.equal(out.length, input.length);
    // The enricher counts the bytes it received: the scrubbed value, 31 bytes.
    assert.equal(text(out[0]!), 'k0={"level":"info","to":"[email]","etl":"rustmq","bytes":31}');
    assert.equal(text(out[1]!), "");
    assert.equal(out.filter((o) => "records" in o && o.records.length === 1).length, 10_000);
  } finally {
    p.close();
  }
});
