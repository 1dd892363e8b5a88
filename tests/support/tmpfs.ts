/**
 * A real, small filesystem a test can fill: a tmpfs mounted over a temporary directory (Linux,
 * as root). Tests that need one ask {@linkcode tmpfsUnavailable} first and are skipped, saying
 * why, where it cannot be had.
 *
 * @module
 */

import { tempDir } from "./temp_dir.ts";

/**
 * Why no tmpfs can be mounted here, or null. `check`, when given, runs against a mounted probe
 * and returns its own reason (for example, that the tmpfs refuses `O_DIRECT`).
 */
export function tmpfsUnavailable(check?: (path: string) => string | null): string | null {
  if (Deno.build.os !== "linux") return "tmpfs mounts need Linux";
  const probe = Deno.makeTempDirSync({ prefix: "rustmq-mount-probe-" });
  try {
    const m = new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe] })
      .outputSync();
    if (m.code !== 0) return `cannot mount a tmpfs: ${new TextDecoder().decode(m.stderr).trim()}`;
    try {
      return check?.(probe) ?? null;
    } finally {
      new Deno.Command("umount", { args: [probe] }).outputSync();
    }
  } catch (err) {
    return `cannot mount a tmpfs: ${(err as Error).message}`;
  } finally {
    Deno.removeSync(probe, { recursive: true });
  }
}

/** Runs `fn` with a tmpfs of `sizeBytes` mounted at the path it gets; unmounts it after. */
export async function withTmpfs<T>(
  sizeBytes: number,
  fn: (path: string) => Promise<T>,
): Promise<T> {
  await using dir = await tempDir("rustmq-tmpfs-");
  const m = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${sizeBytes}`, "tmpfs", dir.path],
  }).output();
  if (m.code !== 0) {
    throw new Error(`cannot mount a tmpfs: ${new TextDecoder().decode(m.stderr).trim()}`);
  }
  try {
    return await fn(dir.path);
  } finally {
    await new Deno.Command("umount", { args: ["-l", dir.path] }).output();
  }
}
