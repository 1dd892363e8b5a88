/**
 * Reports on the Raft core (controller/raft/, not changed here). Ignored tests document core
 * behaviour the controller works around; enable one when the core changes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { TestCluster } from "./raft/_test_cluster.ts";

Deno.test({
  name: "RaftNode tells followers a new commit index without waiting for a heartbeat",
  // Once failed: a moved commit with no entry left to send produced no message, so followers
  // learned it only at the next heartbeat tick.
  fn() {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.deliverAll();
    c.node("a").propose("x");
    c.drive("a");
    c.deliverAll(); // no tick: only the messages the proposal itself causes
    const leaderCommit = c.node("a").status().commit;
    assert.equal(c.node("b").status().commit, leaderCommit);
  },
});
