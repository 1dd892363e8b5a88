/**
 * `deno task soak [--minutes N] [--producer sdk|librdkafka|both]`: the replication Jepsen test
 * with its nemesis SIGKILLing brokers for N minutes instead of ~35 seconds, once with RustMQ's
 * SDK producers and once with librdkafka producers (python3-confluent-kafka, enable.idempotence
 * and acks=all), checked the same way. `both`, the default, runs the two one after the other.
 * Exits with the first failing run's status.
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    minutes: { type: "string", default: "10" },
    producer: { type: "string", default: "both" },
  },
});
const minutes = Number(values.minutes);
if (!(minutes > 0)) {
  console.error(`soak: --minutes must be a positive number: current value is ${values.minutes}`);
  Deno.exit(2);
}
const kinds = values.producer === "both" ? ["sdk", "librdkafka"] : [values.producer];
if (!kinds.every((k) => k === "sdk" || k === "librdkafka")) {
  console.error(
    `soak: --producer must be sdk, librdkafka or both: current value is ${values.producer}`,
  );
  Deno.exit(2);
}
for (const kind of kinds) {
  console.log(`soak: ${minutes} min of SIGKILLed brokers with ${kind} producers`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--allow-all",
      "--unstable-net",
      "--filter",
      "replication keeps every acknowledged write",
      new URL("./replication_jepsen_test.ts", import.meta.url).pathname,
    ],
    env: { RUSTMQ_SOAK_SECONDS: String(Math.round(minutes * 60)), RUSTMQ_JEPSEN_PRODUCER: kind },
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) Deno.exit(code);
}
