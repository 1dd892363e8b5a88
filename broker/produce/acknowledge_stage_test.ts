import assert from "node:assert/strict";
import { acknowledge } from "./acknowledge_stage.ts";
import { ledPartition, stageBatch } from "./stage_fixture.ts";
import { KafkaProtocolError } from "../broker_errors.ts";

async function assigned(records: number) {
  const setup = ledPartition({ replicas: [1, 2], ackTimeoutMs: 500 });
  setup.p.log.assign(await stageBatch(records));
  const woken: string[] = [];
  return { ...setup, woken, waiter: { notify: (k: string) => void woken.push(k) } };
}

Deno.test("acknowledge with acks=1 answers once the leader has it, and wakes fetches", async () => {
  const { p, waiter, woken, highWatermarks } = await assigned(2);
  await acknowledge(p, p.leader!, 2, { waiter, acks: 1, level: { kind: "leader" } });
  assert.deepEqual(woken, ["t/0"]);
  // The follower has not fetched: the high watermark has not moved.
  assert.deepEqual(highWatermarks, []);
  p.leader!.close();
});

Deno.test("acknowledge with acks=-1 waits for the ISR and moves the high watermark", async () => {
  const { p, waiter, highWatermarks } = await assigned(2);
  let done = false;
  const acked = acknowledge(p, p.leader!, 2, { waiter, acks: -1, level: { kind: "all" } })
    .then(() => void (done = true));
  await Promise.resolve();
  assert.equal(done, false);
  p.leader!.followerFetched(2, 2);
  await acked;
  assert.deepEqual(highWatermarks, [2]);
  assert.equal(p.log.highWatermark, 2);
  p.leader!.close();
});

Deno.test("acknowledge with acks=-1 times out on the injected clock", async () => {
  const { p, waiter, clock } = await assigned(1);
  const acked = acknowledge(p, p.leader!, 1, { waiter, acks: -1, level: { kind: "all" } });
  clock.advance(501);
  await assert.rejects(
    acked,
    (e) => e instanceof KafkaProtocolError && e.code === "REQUEST_TIMED_OUT",
  );
  p.leader!.close();
});
