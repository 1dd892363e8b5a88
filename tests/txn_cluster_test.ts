/**
 * Transactions in a 3-broker cluster of real processes: a kafkajs transactional producer
 * commits and aborts transactions that span partitions led by different brokers, so the
 * coordinator writes most markers through WriteTxnMarkers at the other leaders. A
 * read_committed consumer then reads exactly the committed records, and a read_uncommitted one
 * sees the aborted records too. Each leader serves its partitions' last stable offset and
 * aborted ranges itself.
 */

import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { Cluster, waitFor } from "./support/cluster_harness.ts";
import { readAll } from "./txn_support.ts";
import { offsetsPartitionFor } from "../broker/group/offset_record.ts";

const TEST_OPTS = { sanitizeOps: false, sanitizeResources: false };
const TOPIC = "txc";
const TID = "cluster-txn";

type _Leaders = { leader: number }[];

Deno.test(
  "3-broker cluster: kafkajs transactions across partitions of different leaders commit and abort",
  TEST_OPTS,
  async () => {
    await using cluster = await Cluster.start({ brokers: 3, controllers: 1 });
    await cluster.createTopic(TOPIC, 3, 3);
    const leaders = await waitFor("a leader for every partition", 20_000, async () => {
      const d = (await cluster.topic(TOPIC)).partition_details as _Leaders;
      return d.every((p) => p.leader > 0) ? d.map((p) => p.leader) : undefined;
    });
    const kafka = new Kafka({
      clientId: "txc",
      brokers: cluster.bootstrap(),
      logLevel: logLevel.NOTHING,
    });
    const p = kafka.producer({ transactionalId: TID, maxInFlightRequests: 1, idempotent: true });
    await p.connect();
    const each = (prefix: string) =>
      [0, 1, 2].map((partition) => ({
        topic: TOPIC,
        messages: [0, 1].map((i) => ({ partition, value: `${prefix}-p${partition}-${i}` })),
      }));
    try {
      const t1 = await p.transaction();
      await t1.sendBatch({ topicMessages: each("c1") });
      await t1.commit();
      const t2 = await p.transaction();
      await t2.sendBatch({ topicMessages: each("a1") });
      await t2.abort();
      const t3 = await p.transaction();
      await t3.sendBatch({ topicMessages: each("c2") });
      await t3.commit();
    } finally {
      await p.disconnect().catch(() => {});
    }
    // The coordinator leads the id's __transaction_state partition; markers to partitions led
    // elsewhere went through WriteTxnMarkers.
    const state = (await cluster.topic("__transaction_state")).partition_details as _Leaders;
    const coordinator = state[offsetsPartitionFor(TID, state.length)]!.leader;
    const remote = leaders.filter((l) => l !== coordinator).length;
    assert.ok(remote >= 1, `a partition led away from coordinator ${coordinator}: ${leaders}`);

    const committed = ["c1", "c2"].flatMap((x) =>
      [0, 1, 2].flatMap((q) => [0, 1].map((i) => `${x}-p${q}-${i}`))
    ).sort();
    const rc = await readAll(kafka, TOPIC, committed.length, false);
    assert.deepEqual([...rc].sort(), committed, "read_committed sees exactly the committed");
    const ru = await readAll(kafka, TOPIC, committed.length + 6, true);
    assert.equal(ru.length, committed.length + 6, "read_uncommitted sees the aborted too");
    assert.equal(ru.filter((v) => v.startsWith("a1-")).length, 6);
  },
);
