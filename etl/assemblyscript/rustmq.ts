// RustMQ ETL ABI v1 for AssemblyScript modules (this file is AssemblyScript, not Deno code).
//
// A module re-exports `alloc` from here and exports its own `transform`:
//
//   import { emitString, readString } from "../assemblyscript/rustmq";
//   export { alloc } from "../assemblyscript/rustmq";
//   export function transform(kp: i32, kl: i32, vp: i32, vl: i32): i32 {
//     emitString(readString(kp, kl), readString(vp, vl)!.toUpperCase());
//     return 0;
//   }
//
// Build with (`--use abort=` turns aborts into traps, so the module imports only "rustmq"):
//   deno run -A npm:assemblyscript@0.28.20/asc my_module.ts --outFile my_module.wasm -O3 --use abort=

@external("rustmq", "emit")
declare function _emit(keyPtr: i32, keyLen: i32, valuePtr: i32, valueLen: i32): void;

@external("rustmq", "log")
declare function _log(ptr: i32, len: i32): void;

/** Length the ABI uses for a null key or a tombstone value. */
export const NULL_LEN: i32 = -1;

// One input area, reused for every record and grown when a record is larger, so a
// long-running instance does not leak one allocation per record.
let _input: usize = 0;
let _inputCap: i32 = 0;

/** ABI v1 `alloc`: space for the next record's key and value. Re-export it from your module. */
export function alloc(len: i32): i32 {
  if (len > _inputCap) {
    if (_input != 0) heap.free(_input);
    _inputCap = len < 256 ? 256 : len;
    _input = heap.alloc(<usize>_inputCap);
  }
  return <i32>_input;
}

/** Copies the bytes at `ptr`, or null when `len` is -1. */
export function readBytes(ptr: i32, len: i32): Uint8Array | null {
  if (len == NULL_LEN) return null;
  const out = new Uint8Array(len);
  memory.copy(out.dataStart, <usize>ptr, <usize>len);
  return out;
}

/** Decodes the UTF-8 text at `ptr`, or null when `len` is -1. */
export function readString(ptr: i32, len: i32): string | null {
  if (len == NULL_LEN) return null;
  return String.UTF8.decodeUnsafe(<usize>ptr, <usize>len);
}

/** Appends one output record; null is a null key or a tombstone. The host copies the bytes. */
export function emit(key: Uint8Array | null, value: Uint8Array | null): void {
  _emit(
    key ? <i32>key.dataStart : 0,
    key ? key.length : NULL_LEN,
    value ? <i32>value.dataStart : 0,
    value ? value.length : NULL_LEN,
  );
}

/** Appends one output record with UTF-8 key and value. */
export function emitString(key: string | null, value: string | null): void {
  const k = key ? String.UTF8.encode(key) : null;
  const v = value ? String.UTF8.encode(value) : null;
  _emit(
    k ? <i32>changetype<usize>(k) : 0,
    k ? k.byteLength : NULL_LEN,
    v ? <i32>changetype<usize>(v) : 0,
    v ? v.byteLength : NULL_LEN,
  );
}

/** Writes one line to the broker's log (rate-limited by the host). */
export function log(line: string): void {
  const b = String.UTF8.encode(line);
  _log(<i32>changetype<usize>(b), b.byteLength);
}
