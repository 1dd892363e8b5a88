/**
 * Seeds for the power-cut tests. Each test runs `count` seeds from a random base (so CI keeps
 * exploring new crash points), or only `RUSTMQ_POWERCUT_SEED` when it is set; a failing seed is
 * reported with the command that replays it.
 *
 * @module
 */

import { SeededRandom } from "../../ops/random.ts";

/** The environment variable that replays one seed. */
export const POWERCUT_SEED_ENV = "RUSTMQ_POWERCUT_SEED";

/**
 * Runs `body` once per seed with a {@linkcode SeededRandom}; rethrows the first failure with
 * the seed and a replay command naming `testFile` (a path relative to the repository).
 */
export async function forEachPowercutSeed(
  testFile: string,
  count: number,
  body: (random: SeededRandom, seed: number) => Promise<void>,
): Promise<void> {
  const fixed = Deno.env.get(POWERCUT_SEED_ENV);
  const base = crypto.getRandomValues(new Uint32Array(1))[0]! & 0x3fffffff;
  const seeds = fixed !== undefined
    ? [Number(fixed)]
    : Array.from({ length: count }, (_, i) => base + i);
  for (const seed of seeds) {
    if (!Number.isInteger(seed)) {
      throw new RangeError(`${POWERCUT_SEED_ENV} must be an integer: current value is ${fixed}`);
    }
    try {
      await body(new SeededRandom(seed), seed);
    } catch (error) {
      const replay =
        `${POWERCUT_SEED_ENV}=${seed} deno test --unstable-net --allow-all ${testFile}`;
      console.error(`power-cut seed ${seed} failed; replay: ${replay}`);
      throw new Error(`power-cut seed ${seed} failed (replay: ${replay}): ${String(error)}`, {
        cause: error,
      });
    }
  }
}
