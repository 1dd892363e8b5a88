import assert from "node:assert/strict";
import { ApiKey } from "../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../protocol/kafka/errors.ts";
import { decodeRequestHeader, encodeResponseHeader } from "../protocol/kafka/header.ts";
import * as m from "../protocol/kafka/messages/mod.ts";
import { Reader, Writer } from "../protocol/kafka/wire.ts";
import { createTestTopic, startGroupTestBroker } from "../tests/group_support.ts";
import type { Dialer } from "./broker_connection.ts";
import { RustMqClient } from "./client.ts";
import { systemClock } from "../ops/clock.ts";
import { fixedRandom } from "../ops/random.ts";
import type { AssignorName } from "./assignors.ts";
import { connect } from "../protocol/transport/connect.ts";

const TEST_OPTS = { sanitizeOps: false, sanitizeResources: false };

/** Answers the next requests of an API with an error code instead of forwarding them. */
class _Faults {
  readonly inject = new Map<number, number[]>();
  readonly seen: number[] = [];

  add(apiKey: number, ...codes: number[]): void {
    this.inject.set(apiKey, [...this.inject.get(apiKey) ?? [], ...codes]);
  }

  count(apiKey: number): number {
    return this.seen.filter((k) => k === apiKey).length;
  }

  readonly dial: Dialer = async (url) => {
    const t = await connect(url, { connectTimeoutMs: 5000 });
    return {
      protocol: t.protocol,
      closed: t.closed,
      close: () => t.close(),
      request: (frame, options) => {
        const r = new Reader(frame);
        const h = decodeRequestHeader(r);
        this.seen.push(h.apiKey);
        const code = this.inject.get(h.apiKey)?.shift();
        if (code === undefined) return t.request(frame, options);
        const w = new Writer();
        encodeResponseHeader(w, h.apiKey, h.apiVersion, h.correlationId);
        _errorBody(w, h.apiKey, h.apiVersion, code, r);
        return Promise.resolve(w.finish());
      },
    };
  };
}

function _errorBody(w: Writer, apiKey: number, v: number, code: number, r: Reader): void {
  if (apiKey === ApiKey.JoinGroup) {
    const res = m.createJoinGroupResponse();
    res.errorCode = code;
    return m.encodeJoinGroupResponse(w, res, v);
  }
  if (apiKey === ApiKey.Heartbeat) {
    const res = m.createHeartbeatResponse();
    res.errorCode = code;
    return m.encodeHeartbeatResponse(w, res, v);
  }
  if (apiKey === ApiKey.OffsetCommit) {
    const req = m.decodeOffsetCommitRequest(r, v);
    const res = m.createOffsetCommitResponse();
    res.topics = req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })),
    }));
    return m.encodeOffsetCommitResponse(w, res, v);
  }
  throw new Error(`no fault body for API ${apiKey}`);
}

async function _setup(faults: _Faults) {
  const b = await startGroupTestBroker();
  await createTestTopic(b.broker, "t", 2);
  const url = `tcp://${b.bootstrap}`;
  const client = await RustMqClient.connect({
    brokers: [url],
    dial: faults.dial,
    retryBackoffMs: 20,
  });
  const events: string[] = [];
  const consumer = client.consumer({
    groupId: "g",
    autoCommit: false,
    autoOffsetReset: "earliest",
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 100,
    onRebalance: {
      assigned: (tps, ctx) => events.push(`assigned ${tps.length} gen ${ctx.generationId}`),
      revoked: (tps) => events.push(`revoked ${tps.length}`),
    },
  });
  consumer.subscribe(["t"]);
  return {
    consumer,
    events,
    async [Symbol.asyncDispose]() {
      await client.close();
      await b.close();
    },
  };
}

async function _pollUntil(
  c: { poll(o: { timeoutMs: number }): Promise<unknown> },
  done: () => boolean,
) {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    assert.ok(Date.now() < deadline, "timed out");
    await c.poll({ timeoutMs: 100 });
  }
}

Deno.test({
  name: "GroupConsumer looks the coordinator up again after NOT_COORDINATOR",
  ...TEST_OPTS,
  async fn() {
    const faults = new _Faults();
    faults.add(ApiKey.JoinGroup, ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE);
    faults.add(ApiKey.OffsetCommit, ErrorCode.NOT_COORDINATOR);
    await using s = await _setup(faults);
    await _pollUntil(s.consumer, () => s.events.length > 0);
    assert.deepEqual(s.events, ["assigned 2 gen 1"]);
    // One lookup at the start and one after each of the two refused joins.
    assert.equal(faults.count(ApiKey.FindCoordinator), 3);
    await s.consumer.commitOffsets([{ topic: "t", partition: 0, offset: 0 }]);
    assert.equal(faults.count(ApiKey.FindCoordinator), 4);
    assert.deepEqual(await s.consumer.committed([{ topic: "t", partition: 0 }]), [
      { topic: "t", partition: 0, offset: 0 },
    ]);
  },
});

Deno.test({
  name: "GroupConsumer rejoins when a heartbeat answers REBALANCE_IN_PROGRESS",
  ...TEST_OPTS,
  async fn() {
    const faults = new _Faults();
    await using s = await _setup(faults);
    await _pollUntil(s.consumer, () => s.events.length > 0);
    const memberId = s.consumer.generation.memberId;
    faults.add(ApiKey.Heartbeat, ErrorCode.REBALANCE_IN_PROGRESS);
    await _pollUntil(s.consumer, () => s.events.length >= 3);
    // Eager: everything is revoked before the rejoin, then assigned in the new generation.
    assert.deepEqual(s.events, ["assigned 2 gen 1", "revoked 2", "assigned 2 gen 2"]);
    assert.equal(s.consumer.generation.memberId, memberId);
  },
});

Deno.test({
  name: "GroupConsumer joins as a new member after UNKNOWN_MEMBER_ID",
  ...TEST_OPTS,
  async fn() {
    const faults = new _Faults();
    await using s = await _setup(faults);
    await _pollUntil(s.consumer, () => s.events.length > 0);
    const memberId = s.consumer.generation.memberId;
    faults.add(ApiKey.Heartbeat, ErrorCode.UNKNOWN_MEMBER_ID);
    await _pollUntil(s.consumer, () => s.events.length >= 3);
    assert.equal(s.events[1], "revoked 2");
    assert.notEqual(s.consumer.generation.memberId, memberId);
  },
});

Deno.test({
  name: "GroupConsumer reports a commit refused for an old generation and rejoins",
  ...TEST_OPTS,
  async fn() {
    const faults = new _Faults();
    await using s = await _setup(faults);
    await _pollUntil(s.consumer, () => s.events.length > 0);
    faults.add(ApiKey.OffsetCommit, ErrorCode.ILLEGAL_GENERATION);
    await assert.rejects(
      s.consumer.commitOffsets([{ topic: "t", partition: 1, offset: 0 }]),
      { code: "ILLEGAL_GENERATION" },
    );
    await _pollUntil(s.consumer, () => s.events.length >= 3);
    assert.equal(s.events[2], "assigned 2 gen 2");
  },
});

Deno.test({
  name: "GroupConsumer stops with FENCED_INSTANCE_ID from a heartbeat",
  ...TEST_OPTS,
  async fn() {
    const faults = new _Faults();
    await using s = await _setup(faults);
    await _pollUntil(s.consumer, () => s.events.length > 0);
    faults.add(ApiKey.Heartbeat, ErrorCode.FENCED_INSTANCE_ID);
    const deadline = Date.now() + 5000;
    let error: unknown = null;
    while (error === null && Date.now() < deadline) {
      await s.consumer.poll({ timeoutMs: 100 }).catch((e) => (error = e));
    }
    assert.equal((error as { code?: string } | null)?.code, "FENCED_INSTANCE_ID");
  },
});

Deno.test("GroupConsumer validates its options up front", async () => {
  const { GroupConsumer } = await import("./group_consumer.ts");
  const { Cluster } = await import("./cluster.ts");
  const cluster = new Cluster({
    brokers: ["tcp://127.0.0.1:1"],
    clientId: "x",
    requestTimeoutMs: 1000,
    retryBackoffMs: 10,
    retryBackoffMaxMs: 10,
    metadataMaxAgeMs: 1000,
    allowAutoTopicCreation: false,
    brokerUrl: () => "",
    dial: () => Promise.reject(new Error("unused")),
    clock: { ...systemClock, nowMs: () => 0 },
    random: fixedRandom(0.5),
  });
  assert.throws(() => new GroupConsumer(cluster, { groupId: "" }), RangeError);
  assert.throws(
    () =>
      new GroupConsumer(cluster, {
        groupId: "g",
        heartbeatIntervalMs: 10_000,
        sessionTimeoutMs: 6000,
      }),
    RangeError,
  );
  assert.throws(
    () => new GroupConsumer(cluster, { groupId: "g", assignors: ["sticky" as AssignorName] }),
    RangeError,
  );
  assert.throws(() => new GroupConsumer(cluster, { groupId: "g", assignors: [] }), RangeError);
  const c = new GroupConsumer(cluster, { groupId: "g" });
  assert.throws(() => c.subscribe([]), RangeError);
  c.subscribe(["t"]);
  assert.throws(() => c.assign([{ topic: "t", partition: 0 }]), RangeError);
  await cluster.close();
});

Deno.test({
  name: "GroupConsumer commits metadata beside an offset and reads it back from the broker",
  ...TEST_OPTS,
  async fn() {
    await using s = await _setup(new _Faults());
    await _pollUntil(s.consumer, () => s.events.length > 0);
    const checkpoint = JSON.stringify({ s: "streams/x", x: 3, pre: 0, gaps: ["7/1"] });
    await s.consumer.commitOffsets([
      { topic: "t", partition: 0, offset: 5, metadata: checkpoint },
      { topic: "t", partition: 1, offset: 2 },
    ]);
    assert.deepEqual(
      await s.consumer.committed([{ topic: "t", partition: 0 }, { topic: "t", partition: 1 }]),
      [
        { topic: "t", partition: 0, offset: 5, metadata: checkpoint },
        { topic: "t", partition: 1, offset: 2 },
      ],
    );
    // A later commit without metadata clears it, as Kafka does.
    await s.consumer.commitOffsets([{ topic: "t", partition: 0, offset: 6 }]);
    assert.deepEqual(await s.consumer.committed([{ topic: "t", partition: 0 }]), [
      { topic: "t", partition: 0, offset: 6 },
    ]);
    // The broker's offset.metadata.max.bytes (4096) is enforced and reported as such.
    await assert.rejects(
      s.consumer.commitOffsets([{
        topic: "t",
        partition: 0,
        offset: 7,
        metadata: "m".repeat(5000),
      }]),
      (e: Error) => /OFFSET_METADATA_TOO_LARGE/.test(`${e.name} ${e.message}`),
    );
    assert.equal((await s.consumer.committed([{ topic: "t", partition: 0 }]))[0]!.offset, 6);
  },
});
