/**
 * The simulator's command line.
 *
 * ```
 * deno run -A controller/sim/main.ts --seed 12345 [--steps 3000]
 * deno run -A controller/sim/main.ts --seeds 1000 [--start 1] [--steps 3000]
 * ```
 *
 * Exits with status 1 when any seed breaks an invariant, after printing the replay command.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { replayCommand, runSeed } from "./simulator.ts";

function _int(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(
      `Cannot parse --${name} as it is not an integer >= 0: current value is ${text}`,
    );
  }
  return n;
}

/** Runs the seeds the arguments name; returns the process exit code. */
export function main(args: string[]): number {
  const { values } = parseArgs({
    args,
    options: {
      seed: { type: "string" },
      seeds: { type: "string" },
      start: { type: "string" },
      steps: { type: "string" },
      quiet: { type: "boolean", default: false },
      trace: { type: "boolean", default: false },
    },
  });
  const stepsGiven = values.steps !== undefined;
  const steps = _int("steps", values.steps, 3000);
  const first = values.seed !== undefined
    ? _int("seed", values.seed, 1)
    : _int("start", values.start, 1);
  const count = values.seed !== undefined ? 1 : _int("seeds", values.seeds, 100);
  const started = performance.now();
  let failures = 0;
  let ops = 0;
  let keysUnchecked = 0;
  for (let seed = first; seed < first + count; seed++) {
    const result = runSeed(
      values.trace ? { seed, steps, trace: (l) => console.log(l) } : { seed, steps },
    );
    ops += result.opsCompleted;
    keysUnchecked += result.keysUnchecked;
    if (!result.ok) {
      failures++;
      console.log(`seed ${seed} FAILED: ${result.violation}`);
      console.log(`replay: ${replayCommand(seed, stepsGiven ? steps : undefined)}`);
    } else if (count === 1 || !values.quiet && seed % 1000 === 0) {
      console.log(
        `seed ${seed} ok: commit ${result.commitMax}, ops ${result.opsCompleted}, faults ${
          JSON.stringify(result.faults)
        }`,
      );
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const perSeedMs = (seconds * 1000 / count).toFixed(1);
  console.log(
    `${count} seeds from ${first}: ${failures} failed in ${
      seconds.toFixed(1)
    } s (${perSeedMs} ms per seed); ` +
      `${ops} client ops, ${keysUnchecked} register histories too large to check`,
  );
  return failures === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(main(Deno.args));
