/**
 * Test helper: compiles WebAssembly text with npm `wabt`, so ETL tests need no system tools.
 *
 * @module
 */

import wabtInit from "wabt";

let _wabt: ReturnType<typeof wabtInit> | undefined;

/** Compiles `wat` (WebAssembly text) to a binary module. */
export async function watToWasm(wat: string): Promise<Uint8Array> {
  _wabt ??= wabtInit();
  const wabt = await _wabt;
  const parsed = wabt.parseWat("module.wat", wat);
  try {
    return parsed.toBinary({}).buffer;
  } finally {
    parsed.destroy();
  }
}

/**
 * An ABI v1 module whose `transform` body is `body` (WAT instructions returning i32). `alloc`
 * hands out a fixed area at 1024, enough for test records; the parameters are
 * `$kp $kl $vp $vl`.
 */
export function abiModuleWat(
  body: string,
  options: { memory?: string; extra?: string } = {},
): string {
  return `(module
  (import "rustmq" "emit" (func $emit (param i32 i32 i32 i32)))
  (import "rustmq" "log" (func $log (param i32 i32)))
  (memory (export "memory") ${options.memory ?? "1"})
  ${options.extra ?? ""}
  (func (export "alloc") (param $len i32) (result i32) i32.const 1024)
  (func (export "transform") (param $kp i32) (param $kl i32) (param $vp i32) (param $vl i32) (result i32)
    ${body}))`;
}
