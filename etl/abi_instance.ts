/**
 * One instance of an ETL module speaking ABI v1 (see the README section "WebAssembly ETL"):
 * the host calls `alloc(key_len + value_len)`, writes the key then the value there, calls
 * `transform`, and collects what the module handed to `rustmq.emit`. It runs inside a Worker.
 *
 * @module
 */

import { EtlExecutionError } from "./etl_error.ts";

/** The part of a record a module sees. `null` is a null key or a tombstone value. */
export interface EtlRecordData {
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
}

/** Options of {@linkcode AbiInstance.create}. */
export interface AbiInstanceOptions {
  /** Name of the module, for error messages. */
  readonly name: string;
  /** `etl.memory_limit_bytes`: a memory larger than this after a call fails the batch. */
  readonly memoryLimitBytes: number;
  /** Receives each `rustmq.log` line; rate limiting is the receiver's job. */
  readonly onLog?: (line: string) => void;
}

type _TransformFn = (kp: number, kl: number, vp: number, vl: number) => number;

const _NULL_LEN = -1;
const _decoder = new TextDecoder("utf-8", { fatal: false });

/** A live instance of one module, reused across records and batches. */
export class AbiInstance {
  readonly #name: string;
  readonly #memoryLimitBytes: number;
  #memory!: WebAssembly.Memory;
  #alloc!: (len: number) => number;
  #transform!: _TransformFn;
  #emitted: EtlRecordData[] = [];

  private constructor(options: AbiInstanceOptions) {
    this.#name = options.name;
    this.#memoryLimitBytes = options.memoryLimitBytes;
  }

  /** Instantiates `module` with the `rustmq` imports. */
  static create(module: WebAssembly.Module, options: AbiInstanceOptions): AbiInstance {
    const self = new AbiInstance(options);
    const onLog = options.onLog ?? (() => {});
    const imports = {
      rustmq: {
        emit: (kp: number, kl: number, vp: number, vl: number) => {
          self.#emitted.push({ key: self.#copyOut(kp, kl), value: self.#copyOut(vp, vl) });
        },
        log: (p: number, l: number) => {
          const bytes = self.#copyOut(p, l);
          if (bytes) onLog(_decoder.decode(bytes));
        },
      },
    };
    let instance: WebAssembly.Instance;
    try {
      instance = new WebAssembly.Instance(module, imports);
    } catch (e) {
      throw new EtlExecutionError("abi", options.name, `instantiation failed: ${_msg(e)}`);
    }
    const ex = instance.exports;
    self.#memory = ex.memory as WebAssembly.Memory;
    self.#alloc = ex.alloc as (len: number) => number;
    self.#transform = ex.transform as _TransformFn;
    self.#checkMemory();
    return self;
  }

  /**
   * Transforms one record: the records the module emitted, or throws
   * {@linkcode EtlExecutionError} (trap, memory, non-zero return, bad pointer).
   */
  transform(record: EtlRecordData): EtlRecordData[] {
    const kl = record.key?.length ?? 0;
    const vl = record.value?.length ?? 0;
    this.#emitted = [];
    let rc: number;
    try {
      const ptr = this.#alloc(kl + vl) >>> 0;
      const mem = new Uint8Array(this.#memory.buffer);
      if (ptr + kl + vl > mem.length) {
        throw new EtlExecutionError(
          "abi",
          this.#name,
          `alloc(${kl + vl}) returned ${ptr}, outside memory`,
        );
      }
      if (record.key) mem.set(record.key, ptr);
      if (record.value) mem.set(record.value, ptr + kl);
      rc = this.#transform(
        ptr,
        record.key ? kl : _NULL_LEN,
        ptr + kl,
        record.value ? vl : _NULL_LEN,
      );
    } catch (e) {
      if (e instanceof EtlExecutionError) throw e;
      this.#checkMemory();
      throw new EtlExecutionError("trap", this.#name, _msg(e), { cause: e });
    }
    this.#checkMemory();
    if (rc !== 0) {
      throw new EtlExecutionError("non_zero_return", this.#name, `transform returned ${rc}`);
    }
    const out = this.#emitted;
    this.#emitted = [];
    return out;
  }

  #copyOut(ptr: number, len: number): Uint8Array | null {
    if (len === _NULL_LEN) return null;
    const mem = new Uint8Array(this.#memory.buffer);
    const start = ptr >>> 0;
    if (len < 0 || start + len > mem.length) {
      throw new EtlExecutionError("abi", this.#name, `pointer ${start}+${len} is outside memory`);
    }
    return mem.slice(start, start + len);
  }

  #checkMemory(): void {
    const size = this.#memory.buffer.byteLength;
    if (size > this.#memoryLimitBytes) {
      throw new EtlExecutionError(
        "memory",
        this.#name,
        `memory grew to ${size} bytes, above etl.memory_limit_bytes (${this.#memoryLimitBytes})`,
      );
    }
  }
}

function _msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
