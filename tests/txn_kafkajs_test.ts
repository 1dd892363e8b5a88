/**
 * Transactions (KIP-98) through kafkajs against an in-process broker: commit and abort read back
 * with read_committed and read_uncommitted, an open transaction holding read_committed readers
 * at the last stable offset until its timeout aborts it, consume-transform-produce with
 * sendOffsets, and transaction state that survives a broker restart.
 */

import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { createTxnTopic, indexCaughtUp, startTxnTestBroker } from "./txn_support.ts";
import { tempDir } from "./support/temp_dir.ts";

const TEST_OPTS = { sanitizeOps: false, sanitizeResources: false };

function _kafka(bootstrap: string): Kafka {
  return new Kafka({
    clientId: "txn-test",
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 50, retries: 8 },
  });
}

/**
 * Reads `topic` from the beginning with a fresh group until `count` values arrived, or, with
 * `settleMs`, for that long after the last one (to show nothing more arrives).
 */
async function _read(
  kafka: Kafka,
  topic: string,
  opts: { readUncommitted: boolean; count: number; settleMs?: number; timeoutMs?: number },
): Promise<string[]> {
  const c = kafka.consumer({
    groupId: `g-${crypto.randomUUID()}`,
    readUncommitted: opts.readUncommitted,
    maxWaitTimeInMs: 100,
  });
  await c.connect();
  const got: string[] = [];
  try {
    await c.subscribe({ topic, fromBeginning: true });
    await c.run({
      eachMessage: ({ message }) => {
        got.push(message.value!.toString());
        return Promise.resolve();
      },
    });
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    while (got.length < opts.count && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (opts.settleMs !== undefined) await new Promise((r) => setTimeout(r, opts.settleMs));
  } finally {
    await c.disconnect();
  }
  return got.sort();
}

Deno.test(
  "kafkajs transactions: committed records are read, aborted ones only by read_uncommitted",
  TEST_OPTS,
  async () => {
    await using b = await startTxnTestBroker();
    await createTxnTopic(b.broker, "tx", 2);
    const kafka = _kafka(b.bootstrap);
    const p = kafka.producer({
      transactionalId: "tx-app",
      maxInFlightRequests: 1,
      idempotent: true,
    });
    await p.connect();
    try {
      const t1 = await p.transaction();
      await t1.send({
        topic: "tx",
        messages: [{ value: "c1", partition: 0 }, { value: "c2", partition: 1 }],
      });
      await t1.commit();
      const t2 = await p.transaction();
      await t2.send({
        topic: "tx",
        messages: [{ value: "a1", partition: 0 }, { value: "a2", partition: 1 }],
      });
      await t2.abort();
      const t3 = await p.transaction();
      await t3.send({ topic: "tx", messages: [{ value: "c3", partition: 0 }] });
      await t3.commit();
    } finally {
      await p.disconnect();
    }
    assert.deepEqual(
      await _read(kafka, "tx", { readUncommitted: false, count: 3, settleMs: 500 }),
      ["c1", "c2", "c3"],
    );
    assert.deepEqual(
      await _read(kafka, "tx", { readUncommitted: true, count: 5, settleMs: 300 }),
      ["a1", "a2", "c1", "c2", "c3"],
    );
    // Nothing is left open: the LSO caught up with the high watermark on both partitions.
    for (const partition of [0, 1]) {
      const hw = b.broker.partitions.get("tx", partition)!.log.highWatermark;
      assert.equal(b.broker.txns!.lastStableOffset("tx", partition, hw), hw);
    }
    assert.equal(b.broker.txns!.coordinator.get("tx-app")?.state, "CompleteCommit");
  },
);

Deno.test(
  "kafkajs transactions: an open transaction holds read_committed at the LSO until its timeout aborts it",
  TEST_OPTS,
  async () => {
    await using b = await startTxnTestBroker();
    await createTxnTopic(b.broker, "held", 1);
    const kafka = _kafka(b.bootstrap);
    const txp = kafka.producer({
      transactionalId: "slow-app",
      maxInFlightRequests: 1,
      idempotent: true,
      transactionTimeout: 1500,
    });
    const plain = kafka.producer();
    await txp.connect();
    await plain.connect();
    try {
      await plain.send({ topic: "held", messages: [{ value: "before" }] });
      const t = await txp.transaction();
      await t.send({ topic: "held", messages: [{ value: "open" }] });
      // A record after the open transaction's first one: committed data, but above the LSO.
      await plain.send({ topic: "held", messages: [{ value: "after" }] });
      const log = b.broker.partitions.get("held", 0)!.log;
      assert.equal(log.highWatermark, 3);
      assert.equal(b.broker.txns!.lastStableOffset("held", 0, log.highWatermark), 1);
      assert.deepEqual(
        await _read(kafka, "held", { readUncommitted: false, count: 2, timeoutMs: 600 }),
        ["before"],
        "read_committed stops at the open transaction",
      );
      // The timeout (1.5 s, checked every 100 ms) aborts it and writes an ABORT marker.
      const deadline = Date.now() + 5000;
      while (b.broker.txns!.coordinator.get("slow-app")?.state !== "CompleteAbort") {
        assert.ok(Date.now() < deadline, "the transaction timed out and was aborted");
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(log.highWatermark, 4, "the ABORT marker was appended");
      assert.deepEqual(
        await _read(kafka, "held", { readUncommitted: false, count: 2, settleMs: 300 }),
        ["after", "before"],
      );
      // The timed-out producer was fenced by the abort's epoch bump.
      await assert.rejects(() => t.commit());
    } finally {
      await txp.disconnect().catch(() => {});
      await plain.disconnect();
    }
  },
);

Deno.test(
  "kafkajs transactions: consume-transform-produce commits the input offsets with the output",
  TEST_OPTS,
  async () => {
    await using b = await startTxnTestBroker();
    await createTxnTopic(b.broker, "in", 1);
    await createTxnTopic(b.broker, "out", 1);
    const kafka = _kafka(b.bootstrap);
    const plain = kafka.producer();
    await plain.connect();
    await plain.send({ topic: "in", messages: ["1", "2", "3"].map((value) => ({ value })) });
    await plain.disconnect();
    const p = kafka.producer({ transactionalId: "etl", maxInFlightRequests: 1, idempotent: true });
    await p.connect();
    const admin = kafka.admin();
    await admin.connect();
    try {
      // Transform offsets 0..1 and commit; transform offset 2 and abort.
      const ok = await p.transaction();
      await ok.send({ topic: "out", messages: [{ value: "x1" }, { value: "x2" }] });
      await ok.sendOffsets({
        consumerGroupId: "etl-group",
        topics: [{ topic: "in", partitions: [{ partition: 0, offset: "2" }] }],
      });
      await ok.commit();
      const bad = await p.transaction();
      await bad.send({ topic: "out", messages: [{ value: "x3" }] });
      await bad.sendOffsets({
        consumerGroupId: "etl-group",
        topics: [{ topic: "in", partitions: [{ partition: 0, offset: "3" }] }],
      });
      await bad.abort();
      const offsets = await admin.fetchOffsets({ groupId: "etl-group", topics: ["in"] });
      assert.equal(offsets[0]?.partitions[0]?.offset, "2", "the aborted offset commit is dropped");
      assert.deepEqual(
        await _read(kafka, "out", { readUncommitted: false, count: 2, settleMs: 300 }),
        ["x1", "x2"],
      );
    } finally {
      await admin.disconnect();
      await p.disconnect();
    }
  },
);

Deno.test(
  "kafkajs transactions: state, aborted ranges and open transactions survive a broker restart",
  TEST_OPTS,
  async () => {
    await using dir = await tempDir("rustmq-txn-restart-");
    const first = await startTxnTestBroker({ dataDir: dir.path });
    let epoch: number;
    try {
      await createTxnTopic(first.broker, "keep", 1);
      const kafka = _kafka(first.bootstrap);
      const p = kafka.producer({
        transactionalId: "keeper",
        maxInFlightRequests: 1,
        idempotent: true,
      });
      await p.connect();
      const t1 = await p.transaction();
      await t1.send({ topic: "keep", messages: [{ value: "c1" }] });
      await t1.commit();
      const t2 = await p.transaction();
      await t2.send({ topic: "keep", messages: [{ value: "a1" }] });
      await t2.abort();
      // Left open across the restart: it must still hold the LSO afterwards.
      const t3 = await p.transaction();
      await t3.send({ topic: "keep", messages: [{ value: "open" }] });
      epoch = first.broker.txns!.coordinator.get("keeper")!.producerEpoch;
      await p.disconnect().catch(() => {});
    } finally {
      await first.close();
    }
    await using second = await startTxnTestBroker({ dataDir: dir.path });
    const loaded = second.broker.txns!.coordinator.get("keeper");
    assert.equal(loaded?.state, "Ongoing");
    assert.equal(loaded?.producerEpoch, epoch);
    // Each partition's index is rebuilt from its own log after the restart.
    const hw = await indexCaughtUp(second.broker, "keep", 0);
    // c1, COMMIT, a1, ABORT, open: the LSO is held at "open" (offset 4).
    assert.equal(hw, 5);
    assert.equal(second.broker.txns!.lastStableOffset("keep", 0, hw), 4);
    assert.deepEqual(second.broker.txns!.abortedIn("keep", 0, 0, hw), [
      { producerId: loaded!.producerId, firstOffset: 2, lastOffset: 3 },
    ]);
    // A new instance of the application fences the old one: the open transaction is aborted and
    // the epoch moves on.
    const kafka = _kafka(second.bootstrap);
    const p2 = kafka.producer({
      transactionalId: "keeper",
      maxInFlightRequests: 1,
      idempotent: true,
    });
    await p2.connect();
    try {
      // kafkajs sends InitProducerId when the first transaction begins.
      const t = await p2.transaction();
      const after = second.broker.txns!.coordinator.get("keeper")!;
      assert.equal(after.state, "Empty");
      assert.equal(
        after.producerEpoch,
        epoch + 2,
        "one bump for the abort, one for the new instance",
      );
      await t.send({ topic: "keep", messages: [{ value: "c2" }] });
      await t.commit();
    } finally {
      await p2.disconnect();
    }
    assert.deepEqual(
      await _read(kafka, "keep", { readUncommitted: false, count: 2, settleMs: 300 }),
      ["c1", "c2"],
    );
  },
);

Deno.test(
  "kafkajs transactions: after data left the WAL for object storage, a restart rebuilds the index from storage",
  TEST_OPTS,
  async () => {
    await using dir = await tempDir("rustmq-txn-tiered-");
    const config = "[wal]\nupload_interval_ms = 100\n";
    const first = await startTxnTestBroker({ dataDir: dir.path, config });
    try {
      await createTxnTopic(first.broker, "tiered", 1);
      const p = _kafka(first.bootstrap).producer({
        transactionalId: "tierer",
        maxInFlightRequests: 1,
        idempotent: true,
      });
      await p.connect();
      const t1 = await p.transaction();
      await t1.send({ topic: "tiered", messages: [{ value: "c1" }] });
      await t1.commit();
      const t2 = await p.transaction();
      await t2.send({ topic: "tiered", messages: [{ value: "a1" }] });
      await t2.abort();
      const t3 = await p.transaction();
      await t3.send({ topic: "tiered", messages: [{ value: "c2" }] });
      await t3.commit();
      await p.disconnect().catch(() => {});
      const hosted = first.broker.partitions.get("tiered", 0)!;
      const deadline = Date.now() + 10_000;
      const stored = () =>
        Math.max(-1, ...first.broker.partitions.storedRanges(hosted).map((r) => r.lastOffset));
      while (stored() + 1 < hosted.log.highWatermark) {
        assert.ok(Date.now() < deadline, "the partition was uploaded");
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await first.close();
    }
    await using second = await startTxnTestBroker({ dataDir: dir.path, config });
    const hosted = second.broker.partitions.get("tiered", 0)!;
    // The WAL was reclaimed after the upload: nothing below the high watermark is cached, so
    // the index can only come from object storage.
    const cached = [...second.broker.partitions.cachedBatches(hosted)];
    assert.equal(cached.length, 0, "no batch is replayed from the WAL");
    const hw = await indexCaughtUp(second.broker, "tiered", 0);
    // c1, COMMIT, a1, ABORT, c2, COMMIT
    assert.equal(hw, 6);
    assert.equal(second.broker.txns!.lastStableOffset("tiered", 0, hw), 6);
    const pid = second.broker.txns!.coordinator.get("tierer")!.producerId;
    assert.deepEqual(second.broker.txns!.abortedIn("tiered", 0, 0, hw), [
      { producerId: pid, firstOffset: 2, lastOffset: 3 },
    ]);
    const kafka = _kafka(second.bootstrap);
    assert.deepEqual(
      await _read(kafka, "tiered", { readUncommitted: false, count: 2, settleMs: 300 }),
      [
        "c1",
        "c2",
      ],
    );
  },
);
