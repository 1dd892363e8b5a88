/**
 * Deploy-time checks of an ETL module against ABI v1 and the `[etl]` limits, so a broken
 * module is refused with a reason before any broker runs it.
 *
 * @module
 */

import { EtlModuleInvalidError } from "./etl_error.ts";

/** Limits a module is checked against. */
export interface ModuleLimits {
  /** `etl.memory_limit_bytes`: a declared memory (initial or maximum) above it is refused. */
  readonly memoryLimitBytes: number;
  /** Largest accepted `.wasm` in bytes. @default 16 MiB */
  readonly sizeBytesMax?: number;
}

/** A module that passed {@linkcode validateModule}. */
export interface ValidatedModule {
  /** The compiled module, ready to instantiate. */
  readonly module: WebAssembly.Module;
  /** Lower-case hex SHA-256 of the bytes, the cache key of compiled instances. */
  readonly sha256: string;
  /** Length of the `.wasm` in bytes. */
  readonly sizeBytes: number;
}

/** Default upper bound of a module's size. */
export const MODULE_SIZE_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;
const _WASM_PAGE_BYTES = 65536;
const _ALLOWED_IMPORTS = new Set(["emit", "log"]);

/**
 * Checks that `bytes` are a WebAssembly module following ABI v1 within `limits`; throws
 * {@linkcode EtlModuleInvalidError} with the reason otherwise.
 *
 * @example
 * ```ts
 * import { validateModule } from "./module_validation.ts";
 * import assert from "node:assert/strict";
 * await assert.rejects(
 *   validateModule(new TextEncoder().encode("hello"), { memoryLimitBytes: 1 << 20 }),
 *   /not a WebAssembly module/,
 * );
 * ```
 */
export async function validateModule(
  bytes: Uint8Array,
  limits: ModuleLimits,
): Promise<ValidatedModule> {
  const sizeBytesMax = limits.sizeBytesMax ?? MODULE_SIZE_BYTES_MAX_DEFAULT;
  if (bytes.length > sizeBytesMax) {
    throw new EtlModuleInvalidError(
      `Cannot accept the module as it is larger than ${sizeBytesMax} bytes: current size is ${bytes.length}`,
    );
  }
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (e) {
    throw new EtlModuleInvalidError(
      `Cannot accept the module as it is not a WebAssembly module: ${(e as Error).message}`,
    );
  }
  _checkImports(module);
  _checkExports(module);
  _checkMemoryLimits(bytes, limits.memoryLimitBytes);
  return { module, sha256: await sha256Hex(bytes), sizeBytes: bytes.length };
}

/** Lower-case hex SHA-256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function _checkImports(module: WebAssembly.Module): void {
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.module !== "rustmq") {
      throw new EtlModuleInvalidError(
        `Cannot accept the module as ABI v1 allows imports only from "rustmq": it imports "${imp.module}"."${imp.name}"`,
      );
    }
    if (!_ALLOWED_IMPORTS.has(imp.name) || imp.kind !== "function") {
      throw new EtlModuleInvalidError(
        `Cannot accept the module as "rustmq" provides only the functions emit and log: it imports ${imp.kind} "${imp.name}"`,
      );
    }
  }
}

function _checkExports(module: WebAssembly.Module): void {
  const kinds = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
  const wanted: [string, string][] = [["memory", "memory"], ["alloc", "function"], [
    "transform",
    "function",
  ]];
  for (const [name, kind] of wanted) {
    const got = kinds.get(name);
    if (got === undefined) {
      throw new EtlModuleInvalidError(
        `Cannot accept the module as ABI v1 needs an export '${name}' (${kind}): it is missing`,
      );
    }
    if (got !== kind) {
      throw new EtlModuleInvalidError(
        `Cannot accept the module as export '${name}' must be a ${kind}: it is a ${got}`,
      );
    }
  }
}

/**
 * The JS API does not expose memory limits, so the memory section (id 5) is read from the
 * binary. Compilation already validated the structure, so a short read here is a bug.
 */
function _checkMemoryLimits(bytes: Uint8Array, memoryLimitBytes: number): void {
  const r = { pos: 8 };
  while (r.pos < bytes.length) {
    const id = bytes[r.pos++]!;
    const size = _leb(bytes, r);
    const end = r.pos + size;
    if (id === 5) {
      const count = _leb(bytes, r);
      for (let i = 0; i < count; i++) {
        const flags = bytes[r.pos++]!;
        const minPages = _leb(bytes, r);
        const maxPages = (flags & 1) ? _leb(bytes, r) : undefined;
        _checkPages("initial size", minPages, memoryLimitBytes);
        if (maxPages !== undefined) _checkPages("maximum", maxPages, memoryLimitBytes);
      }
    }
    r.pos = end;
  }
}

function _checkPages(what: string, pages: number, memoryLimitBytes: number): void {
  const bytes = pages * _WASM_PAGE_BYTES;
  if (bytes > memoryLimitBytes) {
    throw new EtlModuleInvalidError(
      `Cannot accept the module as its declared memory ${what} is above etl.memory_limit_bytes (${memoryLimitBytes}): current value is ${bytes} bytes (${pages} pages)`,
    );
  }
}

function _leb(bytes: Uint8Array, r: { pos: number }): number {
  let result = 0;
  let mul = 1;
  for (;;) {
    const b = bytes[r.pos++];
    if (b === undefined) throw new Error("assertion: LEB128 past the end of a compiled module");
    result += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return result;
    mul *= 128;
  }
}
