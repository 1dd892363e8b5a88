/**
 * The `rustmq admin` commands of the WebAssembly ETL module registry: `deploy-module`,
 * `list-modules`, `describe-module` and `delete-module`.
 *
 * @module
 */

import { EXIT_OK, UsageError } from "../config/cli.ts";
import type { AdminClient } from "./admin_client.ts";
import { table } from "./format.ts";

type _Module = { name: string; version: number; sha256: string; size_bytes: number };
type _Print = (value: unknown, human: () => string) => void;

/** Runs one module command; `print` writes JSON or the human form. */
export async function runModuleCommand(
  client: AdminClient,
  command: string,
  args: string[],
  print: _Print,
): Promise<number> {
  const path = (name: string) => `/api/v1/wasm/modules/${encodeURIComponent(name)}`;
  switch (command) {
    case "deploy-module": {
      const [name, file] = _args(args, 2, "deploy-module <name> <file.wasm>");
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(file!);
      } catch (e) {
        throw new UsageError(`cannot read module file '${file}': ${(e as Error).message}`);
      }
      const m = await client.request("POST", "/api/v1/wasm/modules", bytes, {
        "x-module-name": name!,
      }) as _Module;
      print(
        m,
        () =>
          `Deployed module ${m.name} version ${m.version} (${m.size_bytes} bytes, sha256 ${m.sha256})\n`,
      );
      return EXIT_OK;
    }
    case "list-modules": {
      _args(args, 0, "list-modules");
      const r = await client.request("GET", "/api/v1/wasm/modules") as { modules: _Module[] };
      print(r, () =>
        table(
          ["NAME", "VERSION", "SIZE", "SHA256"],
          r.modules.map((m) => [m.name, m.version, m.size_bytes, m.sha256]),
        ));
      return EXIT_OK;
    }
    case "describe-module": {
      const [name] = _args(args, 1, "describe-module <name>");
      const m = await client.request("GET", path(name!)) as _Module;
      print(m, () => `${m.name} version ${m.version}: ${m.size_bytes} bytes, sha256 ${m.sha256}\n`);
      return EXIT_OK;
    }
    default: {
      const [name] = _args(args, 1, "delete-module <name>");
      const r = await client.request("DELETE", path(name!));
      print(r, () => `Deleted module ${name}\n`);
      return EXIT_OK;
    }
  }
}

function _args(args: string[], n: number, usage: string): string[] {
  if (args.length !== n) throw new UsageError(`usage: rustmq admin ${usage}`);
  return args;
}
