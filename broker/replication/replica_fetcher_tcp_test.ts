import assert from "node:assert/strict";
import { connect } from "../../protocol/transport/connect.ts";
import { listenTcp } from "../net/tcp_listener.ts";
import { silentNetLogger } from "../net/frame_handler.ts";
import { silentLogger } from "../../ops/logger.ts";
import { ReplicaFetcher } from "./replica_fetcher.ts";
import { systemClock } from "../../ops/clock.ts";
import { FakeLeader, MemorySink } from "./truncation_test_support.ts";

Deno.test("ReplicaFetcher replicates over a real TCP connection", async () => {
  const leader = new FakeLeader();
  const log = leader.lead("orders", 0, 2);
  await log.appendAsLeader(5, 1);
  await log.appendAsLeader(3, 2);
  log.highWatermark = log.logEndOffset;
  const listener = listenTcp((frame) => Promise.resolve(leader.handle(frame)), {
    hostname: "127.0.0.1",
    port: 0,
    logger: silentNetLogger,
  });
  const sink = new MemorySink();
  sink.log("orders", 0);
  const fetcher = new ReplicaFetcher({
    nodeId: 2,
    leaderId: 1,
    url: `tcp://127.0.0.1:${listener.addr.port}`,
    connect: (url) => connect(url),
    sink,
    clock: systemClock,
    logger: silentLogger,
  });
  try {
    fetcher.addPartition("orders", 0, 2);
    fetcher.start();
    for (let i = 0; i < 500 && sink.log("orders", 0).highWatermark < 8; i++) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    assert.deepEqual(sink.log("orders", 0).describe(), log.describe());
    assert.equal(sink.log("orders", 0).highWatermark, 8);
    assert.equal(leader.requests[0], "OffsetForLeaderEpoch 1");
  } finally {
    await fetcher.stop();
    await listener.close();
  }
});
