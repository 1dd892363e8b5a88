/**
 * Running kcat (and other commands) from tests: output collected, stdin fed when given, and a
 * SIGKILL after 30 s so a hung client cannot hang the suite.
 *
 * @module
 */

/** True when kcat is not installed (the tests that need it are skipped then). */
export const kcatMissing =
  new Deno.Command("sh", { args: ["-c", "command -v kcat"] }).outputSync().code !== 0;

/** Runs `cmd` with `args`, feeding `stdin` when given; its exit code, stdout and stderr. */
export async function run(
  cmd: string,
  args: string[],
  stdin?: string,
): Promise<{ code: number; out: string; err: string }> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}
