/**
 * The WebAssembly ETL module registry's REST routes, mounted by {@linkcode mountAdminApi}
 * under `/api/v1`:
 *
 * | method | path | does |
 * |---|---|---|
 * | POST | /wasm/modules | deploy the body (`application/octet-stream`) as `X-Module-Name` (201) |
 * | GET | /wasm/modules | list modules |
 * | GET | /wasm/modules/:name | one module (404 when unknown) |
 * | DELETE | /wasm/modules/:name | delete |
 *
 * An upload is validated against ABI v1 and the limits before it is proposed, so a refused
 * module never reaches the Raft log.
 *
 * @module
 */

import type { Context, Hono } from "hono";
import { Buffer } from "node:buffer";
import type { ControllerNode } from "./controller_node.ts";
import { MetadataError } from "./metadata/errors.ts";
import { validateWasmModuleName, type WasmModuleRecord } from "./metadata/state_machine.ts";
import { EtlModuleInvalidError } from "../etl/etl_error.ts";
import { validateModule } from "../etl/module_validation.ts";

/** Options of {@linkcode mountWasmModulesApi}. */
export interface WasmModulesApiOptions {
  /** Modules declaring more memory are refused. @default 64 MiB, etl.memory_limit_bytes' default */
  readonly memoryLimitBytes?: number;
  /** Largest upload; kept well under a Raft command's size, as the bytes travel in one. @default 2 MiB */
  readonly sizeBytesMax?: number;
}

/** The default largest module upload. */
export const WASM_MODULE_UPLOAD_BYTES_MAX = 2 * 1024 * 1024;

/** A module as the API shows it (without its bytes). */
export function wasmModuleJson(m: WasmModuleRecord): Record<string, unknown> {
  return { name: m.name, version: m.version, sha256: m.sha256, size_bytes: m.sizeBytes };
}

/** Mounts the module registry routes on `api` (the `/api/v1` app, with its auth and errors). */
export function mountWasmModulesApi(
  api: Hono,
  node: ControllerNode,
  options: WasmModulesApiOptions = {},
): void {
  const memoryLimitBytes = options.memoryLimitBytes ?? 64 * 1024 * 1024;
  const sizeBytesMax = options.sizeBytesMax ?? WASM_MODULE_UPLOAD_BYTES_MAX;
  api.post("/wasm/modules", async (c) => {
    const name = c.req.header("x-module-name") ?? "";
    validateWasmModuleName(name);
    const type = c.req.header("content-type") ?? "";
    if (!type.startsWith("application/octet-stream")) {
      throw new MetadataError(
        "BAD_REQUEST",
        `Cannot deploy module '${name}' as Content-Type must be application/octet-stream: current value is '${type}'`,
      );
    }
    const bytes = await _readBody(c, sizeBytesMax);
    let sha256: string;
    try {
      ({ sha256 } = await validateModule(bytes, { memoryLimitBytes, sizeBytesMax }));
    } catch (e) {
      if (!(e instanceof EtlModuleInvalidError)) throw e;
      throw new MetadataError("BAD_REQUEST", e.message);
    }
    const r = await node.execute({
      v: 1,
      op: "deploy_wasm_module",
      name,
      sha256,
      sizeBytes: bytes.length,
      bytesBase64: Buffer.from(bytes).toString("base64"),
    }, _key(c));
    return c.json(wasmModuleJson(r.value as WasmModuleRecord), 201);
  });
  api.get("/wasm/modules", async (c) => {
    await node.linearizableRead();
    return c.json({ modules: node.sm.wasmModules().map(wasmModuleJson) });
  });
  api.get("/wasm/modules/:name", async (c) => {
    await node.linearizableRead();
    const m = node.sm.wasmModule(c.req.param("name"));
    if (m === undefined) {
      throw new MetadataError("NOT_FOUND", `Module '${c.req.param("name")}' does not exist`);
    }
    return c.json(wasmModuleJson(m));
  });
  api.delete("/wasm/modules/:name", async (c) => {
    const r = await node.execute(
      { v: 1, op: "delete_wasm_module", name: c.req.param("name") },
      _key(c),
    );
    return c.json(r.value as Record<string, unknown>);
  });
}

/** Reads the body; a declared Content-Length above `max` is refused before reading. */
async function _readBody(c: Context, max: number): Promise<Uint8Array> {
  const declared = Number(c.req.header("content-length") ?? "0");
  const tooLarge = (n: number) =>
    new MetadataError(
      "BAD_REQUEST",
      `Cannot accept the module as it is larger than ${max} bytes: current size is ${n}`,
    );
  if (declared > max) throw tooLarge(declared);
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.length > max) throw tooLarge(bytes.length);
  return bytes;
}

function _key(c: Context): { requestKey?: string } {
  const key = c.req.header("idempotency-key");
  if (key === undefined) return {};
  if (key.length === 0 || key.length > 100) {
    throw new MetadataError("BAD_REQUEST", "Header 'Idempotency-Key' must be 1..100 characters");
  }
  return { requestKey: `http:${key}` };
}
