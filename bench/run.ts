/**
 * `deno task bench`: runs every benchmark in `bench/` and prints its figures. Each benchmark is a
 * module exporting a `main()` that prints its own table; this runner only sequences them, so
 * they never compete for the machine's two cores.
 *
 * @module
 */

const BENCHES: readonly { name: string; load: () => Promise<{ main: () => Promise<void> }> }[] = [];

if (import.meta.main) {
  const only = Deno.args[0];
  for (const b of BENCHES) {
    if (only !== undefined && b.name !== only) continue;
    console.log(`\n## ${b.name}\n`);
    await (await b.load()).main();
  }
  if (BENCHES.length === 0) console.log("no benchmarks registered yet");
}
