/**
 * Running the BigQuery subscriber as a process of its own, and the kcat and polling helpers its
 * end-to-end tests share (`tests/subscriber_*_test.ts`).
 *
 * @module
 */

import { run } from "./kcat.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

export { kcatMissing } from "./kcat.ts";

/** Runs kcat, feeding `stdin` when given; its exit code and stdout followed by stderr. */
export async function kcat(args: string[], stdin?: string): Promise<{ code: number; out: string }> {
  const r = await run("kcat", args, stdin);
  return { code: r.code, out: r.out + r.err };
}

/** A running subscriber process and its stderr so far. */
export interface Sub {
  child: Deno.ChildProcess;
  stderr: () => string;
}

/** Starts `rustmq subscriber bigquery` with `env`. */
export function startSubscriber(env: Record<string, string>): Sub {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--unstable-net", "--allow-all", MAIN, "subscriber", "bigquery"],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stderr) text += dec.decode(chunk, { stream: true });
  })();
  return { child, stderr: () => text };
}

/** Polls `cond` every 50 ms until it holds, or throws after `ms`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000) {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
