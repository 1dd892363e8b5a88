import assert from "node:assert/strict";
import { main } from "./main.ts";
import {
  FAULT_KINDS,
  type FaultKind,
  replayCommand,
  runSeed,
  type SimOptions,
} from "./simulator.ts";

const SEEDS = 600;

Deno.test(`runSeed passes ${SEEDS} seeds covering every fault type`, () => {
  const totals = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  let ops = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = runSeed({ seed });
    assert.ok(r.ok, `seed ${seed}: ${r.violation}\nreplay: ${replayCommand(seed)}`);
    for (const k of FAULT_KINDS) totals[k] += r.faults[k];
    ops += r.opsCompleted;
  }
  for (const k of FAULT_KINDS) {
    assert.ok(totals[k] > 0, `no seed injected ${k}: ${JSON.stringify(totals)}`);
  }
  assert.ok(ops > SEEDS * 50, `clients completed only ${ops} operations`);
});

Deno.test("runSeed gives the same result for the same seed", () => {
  assert.deepEqual(runSeed({ seed: 42 }), runSeed({ seed: 42 }));
  assert.notDeepEqual(runSeed({ seed: 42 }).faults, runSeed({ seed: 43 }).faults);
});

/** Runs seeds until one fails; returns its violation, or null when none did. */
function _firstViolation(options: Omit<SimOptions, "seed">, seeds: number): string | null {
  for (let seed = 1; seed <= seeds; seed++) {
    const r = runSeed({ ...options, seed });
    if (!r.ok) return r.violation;
  }
  return null;
}

Deno.test("runSeed reports a node that votes twice as an election-safety violation", () => {
  const violation = _firstViolation({ unsafe: { grantStaleVotes: true } }, 100);
  assert.match(violation ?? "none", /election_safety/);
});

Deno.test("runSeed reports sending before syncing as lost committed data", () => {
  const violation = _firstViolation(
    { unsafe: { sendBeforeSync: true }, unsyncedCrashRate: 0.03 },
    100,
  );
  assert.match(
    violation ?? "none",
    /leader_completeness|state_machine_safety|committed_prefix|linearizability/,
  );
});

Deno.test("runSeed reports reads that skip ReadIndex as a linearizability violation", () => {
  const violation = _firstViolation({ unsafe: { staleReads: true } }, 50);
  assert.match(violation ?? "none", /linearizability/);
});

Deno.test("replayCommand prints one command line", () => {
  assert.equal(replayCommand(12345), "deno task sim --seed 12345");
  assert.equal(replayCommand(7, 100), "deno task sim --seed 7 --steps 100");
});

Deno.test("main runs the seeds it is given and exits 0 when they pass", () => {
  const log = console.log;
  const lines: string[] = [];
  console.log = (line: string) => lines.push(line);
  try {
    assert.equal(main(["--seeds", "3", "--start", "5", "--steps", "500"]), 0);
  } finally {
    console.log = log;
  }
  assert.match(lines.at(-1)!, /^3 seeds from 5: 0 failed/);
  assert.throws(() => main(["--seed", "x"]), RangeError);
});
