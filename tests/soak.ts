/**
 * `deno task soak --minutes N`: the replication Jepsen test with its nemesis running for N
 * minutes instead of ~35 seconds. Exits with the test's status.
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: { minutes: { type: "string", default: "10" } },
});
const minutes = Number(values.minutes);
if (!(minutes > 0)) {
  console.error(`soak: --minutes must be a positive number: current value is ${values.minutes}`);
  Deno.exit(2);
}
const { code } = await new Deno.Command(Deno.execPath(), {
  args: [
    "test",
    "--allow-all",
    "--unstable-net",
    "--filter",
    "replication keeps every acknowledged write",
    new URL("./replication_jepsen_test.ts", import.meta.url).pathname,
  ],
  env: { RUSTMQ_SOAK_SECONDS: String(Math.round(minutes * 60)) },
  stdout: "inherit",
  stderr: "inherit",
}).output();
Deno.exit(code);
