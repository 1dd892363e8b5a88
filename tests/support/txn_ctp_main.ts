/**
 * A consume-transform-produce worker in a process of its own, for tests that kill it: kafkajs
 * reads `in` (read_committed) in group `ctp`, and for each batch runs one transaction that
 * writes `out:<value>` to `out` and commits the batch's input offsets with `sendOffsets`. It
 * pauses inside each transaction, so a SIGKILL usually lands while one is open. Prints one
 * JSON line when a transaction's output is sent (`{"event":"sent"}`, then it waits 100 ms with
 * the transaction open) and one per committed transaction: `{"event":"committed","next":12}`.
 *
 * Committed lines also carry the batch's record count: `{"event":"committed","next":12,"count":3}`.
 *
 * Usage: `deno run -A txn_ctp_main.ts <bootstrap host:port[,host:port...]>`
 *
 * @module
 */

import { Kafka, logLevel } from "kafkajs";

const [bootstrap] = Deno.args;
if (bootstrap === undefined) {
  console.error("usage: txn_ctp_main.ts <bootstrap host:port>");
  Deno.exit(2);
}

const kafka = new Kafka({
  clientId: "ctp",
  brokers: bootstrap.split(","),
  logLevel: Deno.env.get("CTP_LOG") ? logLevel.ERROR : logLevel.NOTHING,
  retry: { initialRetryTime: 50, retries: 10 },
});
const producer = kafka.producer({
  transactionalId: "ctp-worker",
  maxInFlightRequests: 1,
  idempotent: true,
});
const consumer = kafka.consumer({
  groupId: "ctp",
  readUncommitted: false,
  sessionTimeout: 6000,
  rebalanceTimeout: 6000,
  heartbeatInterval: 500,
  maxBytesPerPartition: 200,
  maxWaitTimeInMs: 100,
});
await producer.connect();
await consumer.connect();
await consumer.subscribe({ topic: "in", fromBeginning: true });
await consumer.run({
  autoCommit: false,
  eachBatch: async ({ batch, heartbeat }) => {
    if (batch.messages.length === 0) return;
    const txn = await producer.transaction();
    try {
      await txn.send({
        topic: "out",
        messages: batch.messages.map((m) => ({ value: `out:${m.value!.toString()}` })),
      });
      // Time inside the open transaction, where the test's SIGKILL is meant to land.
      console.log(JSON.stringify({ event: "sent", next: 0 }));
      await new Promise((r) => setTimeout(r, 100));
      const next = (BigInt(batch.lastOffset()) + 1n).toString();
      await txn.sendOffsets({
        consumerGroupId: "ctp",
        topics: [{
          topic: batch.topic,
          partitions: [{ partition: batch.partition, offset: next }],
        }],
      });
      await txn.commit();
      console.log(
        JSON.stringify({ event: "committed", next: Number(next), count: batch.messages.length }),
      );
    } catch (err) {
      await txn.abort().catch(() => {});
      throw err;
    }
    await heartbeat();
  },
});
