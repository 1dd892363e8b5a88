/**
 * The client commands (produce, consume, admin, bench, users) start without loading a broker, a
 * controller, the subscriber or the X.509 library: those are imported when their command runs.
 * This reads the module graph `deno info --json main.ts` reports, which is also what
 * `deno compile` embeds, and checks both halves of the promise:
 *
 * - none of the heavy modules is reachable from `main.ts` through static imports alone;
 * - every one of them is still in the graph, through a dynamic import with a literal specifier,
 *   so a compiled binary holds it.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).href;

/** Modules that took 120-360 ms each to import and only a server command needs. */
const HEAVY = [
  "broker/broker.ts",
  "controller/controller.ts",
  "controller/embedded_controller.ts",
  "subscriber/subscriber_run.ts",
  "broker/net/dev_certs.ts",
];

interface InfoDependency {
  code?: { specifier?: string };
  isDynamic?: boolean;
}
interface InfoModule {
  specifier: string;
  dependencies?: InfoDependency[];
}

async function moduleGraph(): Promise<Map<string, InfoDependency[]>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", MAIN],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
  return new Map(info.modules.map((m) => [m.specifier, m.dependencies ?? []]));
}

/** Every module reachable from `from` through the imports `follow` accepts. */
function reachable(
  graph: Map<string, InfoDependency[]>,
  from: string,
  follow: (d: InfoDependency) => boolean,
): Set<string> {
  const seen = new Set([from]);
  const frontier = [from];
  while (frontier.length > 0) {
    for (const d of graph.get(frontier.pop()!) ?? []) {
      const next = d.code?.specifier;
      if (next === undefined || !follow(d) || seen.has(next)) continue;
      seen.add(next);
      frontier.push(next);
    }
  }
  return seen;
}

Deno.test("main.ts imports the broker, controller, subscriber and X.509 modules only when their command runs", async () => {
  const graph = await moduleGraph();
  const heavy = HEAVY.map((p) => new URL(p, ROOT).href);
  // Type-only imports carry no `code` entry, so they are not followed: they cost nothing at run time.
  const eager = reachable(graph, MAIN, (d) => d.isDynamic !== true);
  const all = reachable(graph, MAIN, () => true);
  assert.ok(eager.size > 20, `the static graph of main.ts has only ${eager.size} modules`);
  for (const h of heavy) {
    assert.ok(!eager.has(h), `${h} is imported statically from main.ts`);
    assert.ok(all.has(h), `${h} is not in main.ts's module graph, so deno compile would omit it`);
  }
});
