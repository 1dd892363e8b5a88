/**
 * Test helper: builds an AssemblyScript module with npm `assemblyscript` in-process, so the
 * examples are compiled from source in the tests and never committed as binaries.
 *
 * @module
 */

import asc from "assemblyscript/asc";

const _ETL_DIR = new URL("../", import.meta.url);

/** Compiles `entry` (a path relative to `etl/`, such as `examples/filter.ts`) to `.wasm`. */
export async function buildAssemblyScript(entry: string): Promise<Uint8Array> {
  const outputs = new Map<string, Uint8Array>();
  let stderr = "";
  const { error } = await asc.main([
    entry,
    "--outFile",
    "out.wasm",
    "-O3",
    "--noAssert",
    "--use",
    "abort=",
  ], {
    readFile: (name: string) => {
      try {
        return Deno.readTextFileSync(new URL(name, _ETL_DIR));
      } catch {
        return null;
      }
    },
    writeFile: (name: string, contents: Uint8Array | string) => {
      if (typeof contents !== "string") outputs.set(name, contents);
    },
    listFiles: () => [],
    stdout: { write: () => true },
    stderr: {
      write: (s: string) => {
        stderr += s;
        return true;
      },
    },
  });
  const wasm = outputs.get("out.wasm");
  if (error || !wasm) throw new Error(`asc failed to build ${entry}: ${error?.message}\n${stderr}`);
  return wasm;
}
