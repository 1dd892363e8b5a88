import assert from "node:assert/strict";
import { type ModuleLimits, validateModule } from "./module_validation.ts";
import { EtlModuleInvalidError } from "./etl_error.ts";
import { abiModuleWat, watToWasm } from "./testing/wat.ts";

const MIB = 1024 * 1024;
const limits = { memoryLimitBytes: 2 * MIB };
const OK_BODY = "(i32.const 0)";

async function refused(
  wat: string | Uint8Array,
  pattern: RegExp,
  lim: ModuleLimits = limits,
): Promise<void> {
  const bytes = typeof wat === "string" ? await watToWasm(wat) : wat;
  await assert.rejects(validateModule(bytes, lim), (e: unknown) => {
    assert.ok(e instanceof EtlModuleInvalidError);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("validateModule accepts an ABI v1 module and gives its sha256 and size", async () => {
  const bytes = await watToWasm(abiModuleWat(OK_BODY, { memory: "1 8" }));
  const v = await validateModule(bytes, limits);
  assert.equal(v.sizeBytes, bytes.length);
  assert.match(v.sha256, /^[0-9a-f]{64}$/);
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  assert.equal(v.sha256, Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""));
});

Deno.test("validateModule refuses bytes that are not WebAssembly", async () => {
  await refused(new TextEncoder().encode("#!/bin/sh\necho hi\n"), /not a WebAssembly module/);
});

Deno.test("validateModule refuses a module missing transform, alloc or memory", async () => {
  await refused(
    `(module (memory (export "memory") 1) (func (export "alloc") (param i32) (result i32) i32.const 0))`,
    /needs an export 'transform'/,
  );
  await refused(
    `(module (memory (export "memory") 1)
      (func (export "transform") (param i32 i32 i32 i32) (result i32) i32.const 0))`,
    /needs an export 'alloc'/,
  );
  await refused(
    `(module (memory 1) (func (export "alloc") (param i32) (result i32) i32.const 0)
      (func (export "transform") (param i32 i32 i32 i32) (result i32) i32.const 0))`,
    /needs an export 'memory'/,
  );
  await refused(
    `(module (memory 1) (global (export "memory") i32 (i32.const 0))
      (func (export "alloc") (param i32) (result i32) i32.const 0)
      (func (export "transform") (param i32 i32 i32 i32) (result i32) i32.const 0))`,
    /export 'memory' must be a memory: it is a global/,
  );
});

Deno.test("validateModule refuses imports outside rustmq and unknown rustmq imports", async () => {
  const wasi = abiModuleWat(OK_BODY).replace(
    '(import "rustmq" "log"',
    '(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))\n(import "rustmq" "log"',
  );
  await refused(wasi, /only from "rustmq": it imports "wasi_snapshot_preview1"."fd_write"/);
  const other = abiModuleWat(OK_BODY).replace(
    '(import "rustmq" "log"',
    '(import "rustmq" "now" (func (result i64)))\n(import "rustmq" "log"',
  );
  await refused(other, /provides only the functions emit and log: it imports function "now"/);
});

Deno.test("validateModule refuses a declared memory above etl.memory_limit_bytes", async () => {
  // 64 pages = 4 MiB > 2 MiB.
  await refused(
    abiModuleWat(OK_BODY, { memory: "1 64" }),
    /declared memory maximum .* 4194304 bytes/,
  );
  await refused(abiModuleWat(OK_BODY, { memory: "40" }), /declared memory initial size/);
  // 32 pages = exactly 2 MiB is allowed.
  await validateModule(await watToWasm(abiModuleWat(OK_BODY, { memory: "1 32" })), limits);
});

Deno.test("validateModule refuses a module larger than the size limit", async () => {
  const bytes = await watToWasm(abiModuleWat(OK_BODY));
  await refused(bytes, /larger than 64 bytes: current size is \d+/, {
    ...limits,
    sizeBytesMax: 64,
  });
});
