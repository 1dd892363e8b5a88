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

/**
 * Receives one record a module emitted. `key` and `value` are views of the module's memory,
 * valid only until the receiver returns: it copies what it keeps.
 */
export type EtlEmitSink = (key: Uint8Array | null, value: Uint8Array | null) => void;

function _noSink(): void {
  throw new Error("assertion: rustmq.emit called outside transform");
}

const _NULL_LEN = -1;
const _decoder = new TextDecoder("utf-8", { fatal: false });

/** A live instance of one module, reused across records and batches. */
export class AbiInstance {
  readonly #name: string;
  readonly #memoryLimitBytes: number;
  #memory!: WebAssembly.Memory;
  #alloc!: (len: number) => number;
  #transform!: _TransformFn;
  #sink: EtlEmitSink = _noSink;
  /** A view of the whole memory, renewed when the memory grows (its buffer is then new). */
  #bytes: Uint8Array<ArrayBufferLike> = new Uint8Array(0);

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
          self.#sink(self.#viewOf(kp, kl), self.#viewOf(vp, vl));
        },
        log: (p: number, l: number) => {
          const bytes = self.#viewOf(p, l);
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
   * Transforms one record: the records the module emitted, copied out of its memory, or throws
   * {@linkcode EtlExecutionError} (trap, memory, non-zero return, bad pointer).
   */
  transform(record: EtlRecordData): EtlRecordData[] {
    const out: EtlRecordData[] = [];
    this.transformTo(record, (key, value) => {
      out.push({ key: key && key.slice(), value: value && value.slice() });
    });
    return out;
  }

  /**
   * Transforms one record, handing each record the module emits to `sink` as views of its
   * memory (no copy here: the sink copies straight to where the record goes). Throws as
   * {@linkcode AbiInstance.transform} does; an error `sink` throws fails the record as a trap.
   */
  transformTo(record: EtlRecordData, sink: EtlEmitSink): void {
    const kl = record.key?.length ?? 0;
    const vl = record.value?.length ?? 0;
    this.#sink = sink;
    let rc: number;
    try {
      const ptr = this.#alloc(kl + vl) >>> 0;
      const mem = this.#memoryBytes();
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
    } finally {
      this.#sink = _noSink;
    }
    this.#checkMemory();
    if (rc !== 0) {
      throw new EtlExecutionError("non_zero_return", this.#name, `transform returned ${rc}`);
    }
  }

  #memoryBytes(): Uint8Array<ArrayBufferLike> {
    const buffer = this.#memory.buffer;
    if (this.#bytes.buffer !== buffer) this.#bytes = new Uint8Array(buffer);
    return this.#bytes;
  }

  /** A view of `len` bytes at `ptr`, or null for a length of -1. */
  #viewOf(ptr: number, len: number): Uint8Array | null {
    if (len === _NULL_LEN) return null;
    const mem = this.#memoryBytes();
    const start = ptr >>> 0;
    if (len < 0 || start + len > mem.length) {
      throw new EtlExecutionError("abi", this.#name, `pointer ${start}+${len} is outside memory`);
    }
    return mem.subarray(start, start + len);
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
