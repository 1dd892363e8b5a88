/**
 * Shared by the FFI tests: a directory on a file system that accepts O_DIRECT, or the reason
 * the direct-I/O tests are skipped here.
 *
 * @module
 */
import { DirectFile } from "./direct_file.ts";
import { type Libc, loadLibc } from "./libc.ts";

/** What the FFI tests need, or why they cannot run. */
export type DirectIoSetup = { libc: Libc; dir: string } | { skip: string };

/** Creates a temporary directory and checks direct I/O works in it. */
export function directIoSetup(): DirectIoSetup {
  const libc = loadLibc();
  if (libc === null) {
    return { skip: "libc.so.6 cannot be loaded (not Linux/glibc, or no --allow-ffi)" };
  }
  const dir = Deno.makeTempDirSync({ prefix: "rustmq-ffi-" });
  if (!DirectFile.supported(libc, dir)) {
    Deno.removeSync(dir, { recursive: true });
    return { skip: `${dir} does not support O_DIRECT` };
  }
  return { libc, dir };
}
