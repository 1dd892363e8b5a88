/**
 * A controller stopped gracefully (SIGTERM, as a rolling restart does) leaves its peers running.
 * Deno 2.9.6's HTTP/2 aborts a process that receives a GOAWAY on a session with no open stream
 * (denoland/deno#36788: `find_stream_on_goaway_func` assertion, or a silent SIGSEGV), and a
 * gRPC server's shutdown sends one to every peer whose Raft channel sits between two calls. So
 * each stop here checks that both peers and the broker still answer, that a leader remains, and
 * that the stopped controller answers again before the next one is stopped.
 */

import assert from "node:assert/strict";
import { Cluster, getJson, waitFor } from "./support/cluster_harness.ts";
import { ControllerProcess } from "./support/controller_cluster.ts";

async function answers(c: ControllerProcess): Promise<boolean> {
  try {
    await getJson(`${c.url}/api/v1/cluster/health`, 2000);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "stopping each controller gracefully in turn leaves its peers, the broker and a leader",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using cluster = await Cluster.start({ brokers: 1 });
    const broker = cluster.brokers[0]!;
    for (let i = 0; i < cluster.controllers.length; i++) {
      const victim = cluster.controllers[i]!;
      const peers = cluster.controllers.filter((c) => c !== victim);
      assert.equal(await victim.terminate(), 0, "a graceful stop exits 0");
      // The abort comes as the GOAWAY is read, within milliseconds; leave room for it.
      await new Promise((r) => setTimeout(r, 3000));
      for (const p of peers) {
        assert.ok(
          await answers(p),
          `controller ${p.spec.id} died when ${victim.spec.id} stopped:\n` +
            p.stderr().split("\n").slice(-3).join("\n"),
        );
      }
      assert.ok(
        await getJson(`http://127.0.0.1:${broker.httpPort}/health`, 2000).then(
          () => true,
          () => false,
        ),
        `the broker died when ${victim.spec.id} stopped:\n` +
          broker.stderr().split("\n").slice(-3).join("\n"),
      );
      await cluster.waitForControllerLeader(20_000);
      const restarted = ControllerProcess.spawn(victim.spec);
      cluster.controllers[i] = restarted;
      await waitFor(
        `${victim.spec.id} to answer again`,
        20_000,
        async () => (await answers(restarted)) || undefined,
      );
    }
  },
});
