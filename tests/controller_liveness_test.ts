/**
 * Broker liveness against a real controller over gRPC: brokers register and heartbeat through
 * {@linkcode ControllerSession}; one stops, is fenced once its lease runs out, and each partition
 * it led gets a new leader from the ISR with its epoch bumped. Also covers the broker-facing
 * views (`RemoteClusterMetadata`, `RemoteObjectManifest`) end to end.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ControllerSession } from "../controller/session/controller_session.ts";
import { connectToControllers } from "../controller/session/connect.ts";
import { RemoteClusterMetadata } from "../controller/session/remote_cluster_metadata.ts";
import { createLogger } from "../ops/logger.ts";
import { startTestController } from "./support/controller_inprocess.ts";
import { waitFor } from "./support/controller_cluster.ts";

const LEASE_MS = 1000;
const HEARTBEAT_MS = 100;

function session(endpoint: string, nodeId: number): Promise<ControllerSession> {
  return ControllerSession.connect({
    endpoints: [endpoint],
    broker: { nodeId, host: "127.0.0.1", port: 9090 + nodeId, rack: `rack-${nodeId}` },
    logger: createLogger(`broker-${nodeId}`, { level: "error" }),
    heartbeatIntervalMs: HEARTBEAT_MS,
    connectTimeoutMs: 10_000,
  });
}

Deno.test({
  name: "Controller fences a silent broker within its lease and re-elects from the ISR",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using tc = await startTestController({ brokerLeaseMs: LEASE_MS });
    const sessions = await Promise.all([1, 2, 3].map((id) => session(tc.rpcEndpoint, id)));
    try {
      const [s1, s2] = sessions as [ControllerSession, ControllerSession, ControllerSession];
      const md2 = new RemoteClusterMetadata(s2);
      const changed: string[] = [];
      md2.onChange((topics) => changed.push(...topics));
      const created = await md2.createTopic("orders", 6, 3);
      assert.equal(created.partitions.length, 6);
      assert.equal(md2.topic("orders")?.partitions.length, 6, "the cache shows the write at once");
      const before = md2.topic("orders")!.partitions;
      const led = before.filter((p) => p.leader === 1);
      assert.ok(led.length > 0, "broker 1 leads some partitions");
      // Heartbeats keep everyone unfenced well past one lease.
      await new Promise((r) => setTimeout(r, LEASE_MS * 1.5));
      assert.equal(md2.brokers().length, 3);
      const scrape = await (await fetch(`${tc.httpUrl}/metrics`)).text();
      assert.match(scrape, /rustmq_controller_is_leader 1/);
      assert.match(scrape, /rustmq_controller_brokers_up 3/);

      s1.close();
      const stoppedAt = performance.now();
      await waitFor("broker 1 to be fenced", LEASE_MS * 4, () =>
        Promise.resolve(
          s2.cache.brokers().find((b) => b.nodeId === 1)?.fenced ? true : undefined,
        ), 10);
      const fencedAfterMs = performance.now() - stoppedAt;
      console.log(`broker fenced ${fencedAfterMs.toFixed(0)} ms after its last heartbeat window`);
      // Its lease began at its last heartbeat, before it stopped, so the fence must come within
      // the lease plus slack for the controller's tick and one delta's travel on a busy machine.
      // (Not being fenced early is checked above: heartbeats kept it alive for 1.5 leases.)
      assert.ok(fencedAfterMs < LEASE_MS + 750, `fenced late: ${fencedAfterMs}`);

      const after = md2.topic("orders")!.partitions;
      for (const old of led) {
        const now = after[old.partition]!;
        assert.notEqual(now.leader, 1);
        assert.ok(old.isr.includes(now.leader), "the new leader comes from the ISR");
        assert.equal(now.leaderEpoch, old.leaderEpoch + 1);
      }
      for (const p of after) assert.ok(!p.isr.includes(1), "the fenced broker left every ISR");
      assert.deepEqual(md2.brokers().map((b) => b.nodeId).sort(), [2, 3]);
      assert.ok(changed.includes("orders"), "onChange reported the leadership change");

      // The broker comes back: a new registration unfences it.
      const again = await session(tc.rpcEndpoint, 1);
      sessions[0] = again;
      await waitFor(
        "broker 1 to be back",
        5000,
        () => Promise.resolve(md2.brokers().length === 3 ? true : undefined),
      );
      assert.ok(again.brokerEpoch > s1.brokerEpoch);
    } finally {
      for (const s of sessions) s.close();
    }
  },
});

Deno.test({
  name: "RemoteClusterMetadata and RemoteObjectManifest round-trip through the controller",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using tc = await startTestController({ brokerLeaseMs: 60_000 });
    const conn = await connectToControllers({
      endpoints: ["127.0.0.1:1", tc.rpcEndpoint], // the first is dead: fail over
      broker: { nodeId: 7, host: "127.0.0.1", port: 9097, rack: null },
      logger: createLogger("broker-7", { level: "error" }),
      heartbeatIntervalMs: HEARTBEAT_MS,
    });
    const s = conn.session;
    try {
      const { metadata: md, manifest } = conn;
      assert.notEqual(md.clusterId, "");
      assert.equal(md.controllerId, 7);
      await md.createTopic("t", 1, 1, { "retention.ms": "5000" });
      await assert.rejects(md.createTopic("t", 1, 1), { code: "TOPIC_ALREADY_EXISTS" });
      await assert.rejects(md.createTopic("u", 1, 2), { code: "INVALID_REPLICATION_FACTOR" });
      await assert.rejects(md.deleteTopic("nope"), { code: "UNKNOWN_TOPIC_OR_PARTITION" });
      assert.equal(
        (await md.alterTopicConfig("t", { "retention.ms": "9" })).config["retention.ms"],
        9,
      );
      assert.equal((await md.createPartitions("t", 3)).partitions.length, 3);
      const ids = await Promise.all(Array.from({ length: 1500 }, () => md.allocateProducerId()));
      assert.equal(new Set(ids.map(String)).size, 1500, "producer ids are unique");

      const p = md.partitionState("t", 0)!;
      const shrunk = await md.alterIsr("t", 0, p, [7]);
      assert.deepEqual(shrunk.isr, [7]);
      await assert.rejects(
        md.alterIsr("t", 0, p, [7]),
        { code: "INVALID_UPDATE_VERSION" },
      );

      const range = (key: string, base: number, last: number) => ({
        key,
        baseOffset: base,
        lastOffset: last,
        position: 0,
        length: 10,
        maxTimestamp: 0,
      });
      await manifest.commitUpload({
        objectKey: "o1",
        sizeBytes: 10,
        createdMs: 1,
        ranges: [range("t/0", 0, 9)],
      });
      await manifest.commitUpload({
        objectKey: "o2",
        sizeBytes: 10,
        createdMs: 2,
        ranges: [range("t/0", 10, 19)],
      });
      await assert.rejects(
        manifest.commitUpload({
          objectKey: "o3",
          sizeBytes: 1,
          createdMs: 3,
          ranges: [range("t/0", 5, 6)],
        }),
        { code: "MANIFEST_CONFLICT" },
      );
      assert.deepEqual(manifest.partition("t/0"), { logStartOffset: 0, uploadedEndOffset: 20 });
      assert.deepEqual(manifest.ranges("t/0").map((r) => r.objectKey), ["o1", "o2"]);
      assert.deepEqual(await manifest.advanceLogStart("t/0", 10), ["o1"]);
      assert.equal(manifest.has("o1"), false);
      assert.deepEqual(await manifest.removePartition("t/0"), ["o2"]);
      assert.equal(manifest.objects().length, 0);
      const image = await s.client.call<{ topics: { name: string }[] }>("GetMetadata", {
        v: 1,
        linearizable: true,
      });
      assert.deepEqual(image.value.topics.map((t) => t.name), ["t"]);
      await assert.rejects(
        s.client.call("Propose", {
          v: 1,
          cmd: { v: 1, op: "fence_broker", nodeId: 7, brokerEpoch: 1, unclean: false },
        }),
        { code: "FORBIDDEN" },
      );
      await md.deleteTopic("t");
      assert.equal(md.topic("t"), undefined);
    } finally {
      s.close();
    }
  },
});
