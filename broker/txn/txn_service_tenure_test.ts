/**
 * The coordinator's tenure: a broker serves a transactional id only while it leads the id's
 * `__transaction_state` partition at the epoch it read that partition back at, and it reads it
 * back to the log end before serving. Driven over a fake partition manager and metadata with
 * a ManualClock, so each failover step happens exactly when the test says.
 */

import assert from "node:assert/strict";
import { ManualClock } from "../../ops/clock.ts";
import { createLogger } from "../../ops/logger.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import { buildBatch, decodeRecords, setBaseOffset } from "../../protocol/record/record_batch.ts";
import { readBatchHeader } from "../../protocol/record/record_batch.ts";
import { KafkaProtocolError } from "../broker_errors.ts";
import type { PartitionManager } from "../partition_manager.ts";
import type { HostedPartition } from "../hosted_partition.ts";
import type { GroupService } from "../group/group_service.ts";
import type { ClusterMetadata, PartitionMeta, TopicMeta } from "../../model/cluster_metadata.ts";
import { TXN_STATE_TOPIC, TxnService } from "./txn_service.ts";
import type { TxnMetadata } from "./txn_coordinator.ts";
import { encodeTxnKey, encodeTxnValue } from "./txn_record.ts";

const ME = 1;

interface _Hosted {
  readonly key: string;
  readonly topic: string;
  readonly partition: number;
  role: "leader" | "follower";
  leaderEpoch: number;
  readonly log: { logStartOffset: number; highWatermark: number; logEndOffset: number };
  readonly batches: Uint8Array[];
}

interface _Marker {
  readonly key: string;
  readonly producerId: number;
  readonly commit: boolean;
  readonly coordinatorEpoch: number;
}

/** One broker's partitions and its view of the metadata, as the test moves them. */
class _World {
  readonly hosted = new Map<string, _Hosted>();
  readonly meta = new Map<string, PartitionMeta[]>();
  readonly markers: _Marker[] = [];
  /** Partitions whose marker append fails (a leader that cannot be reached). */
  readonly failMarkers = new Set<string>();
  /** Whether appends move the high watermark at once (else the test moves it). */
  holdHighWatermark = false;

  host(topic: string, partition: number, leaderEpoch = 0): _Hosted {
    const h: _Hosted = {
      key: `${topic}/${partition}`,
      topic,
      partition,
      role: "leader",
      leaderEpoch,
      log: { logStartOffset: 0, highWatermark: 0, logEndOffset: 0 },
      batches: [],
    };
    this.hosted.set(h.key, h);
    const parts = this.meta.get(topic) ?? [];
    parts[partition] = { partition, leader: ME, leaderEpoch, replicas: [1, 2], isr: [1, 2] };
    this.meta.set(topic, parts);
    return h;
  }

  /** Moves the lead of a partition (to this broker or another) at a new epoch. */
  lead(topic: string, partition: number, leader: number, leaderEpoch: number): void {
    const h = this.hosted.get(`${topic}/${partition}`)!;
    h.role = leader === ME ? "leader" : "follower";
    h.leaderEpoch = leaderEpoch;
    const parts = [...this.meta.get(topic)!];
    parts[partition] = { ...parts[partition]!, leader, leaderEpoch };
    this.meta.set(topic, parts);
  }

  append(h: _Hosted, batch: Uint8Array): void {
    const copy = batch.slice();
    setBaseOffset(copy, h.log.logEndOffset);
    h.batches.push(copy);
    h.log.logEndOffset = readBatchHeader(copy).lastOffset + 1;
    if (!this.holdHighWatermark) h.log.highWatermark = h.log.logEndOffset;
  }

  /** Another coordinator's (or an earlier) state record, written straight into the log. */
  async appendState(h: _Hosted, m: TxnMetadata): Promise<void> {
    this.append(
      h,
      await buildBatch([{
        key: encodeTxnKey(m.transactionalId),
        value: encodeTxnValue(m),
        timestamp: 0,
      }]),
    );
  }

  partitions(): PartitionManager {
    const get = (topic: string, partition: number) =>
      this.hosted.get(`${topic}/${partition}`) as unknown as HostedPartition | undefined;
    const fake = {
      get,
      partitions: () => this.hosted.values(),
      syncWithMetadata: () => Promise.resolve(),
      readCommitted: (_p: unknown, offset: number) =>
        Promise.resolve({ batches: [], nextOffset: offset }),
      read: (topic: string, partition: number, offset: number) => {
        const h = this.hosted.get(`${topic}/${partition}`)!;
        if (h.role !== "leader") throw new KafkaProtocolError("NOT_LEADER_OR_FOLLOWER", h.key);
        const batches = h.batches.filter((b) =>
          readBatchHeader(b).baseOffset >= offset &&
          readBatchHeader(b).lastOffset < h.log.highWatermark
        );
        return Promise.resolve({
          batches,
          sizeBytes: 0,
          highWatermark: h.log.highWatermark,
          logStartOffset: 0,
        });
      },
      produce: async (
        topic: string,
        partition: number,
        batch: Uint8Array,
        _acks: number,
        options: { marker?: boolean } = {},
      ) => {
        const h = this.hosted.get(`${topic}/${partition}`)!;
        if (h.role !== "leader" || (options.marker && this.failMarkers.has(h.key))) {
          throw new KafkaProtocolError("NOT_LEADER_OR_FOLLOWER", h.key, { retriable: true });
        }
        if (options.marker) {
          const r = (await decodeRecords(batch)).records[0]!;
          this.markers.push({
            key: h.key,
            producerId: readBatchHeader(batch).producerId,
            commit: new DataView(r.key!.buffer, r.key!.byteOffset).getInt16(2) === 1,
            coordinatorEpoch: new DataView(r.value!.buffer, r.value!.byteOffset).getInt32(2),
          });
        }
        this.append(h, batch);
        return { baseOffset: 0, logAppendTimeMs: -1, logStartOffset: 0 };
      },
    };
    return fake as unknown as PartitionManager;
  }

  metadata(): ClusterMetadata {
    const topic = (name: string): TopicMeta | undefined => {
      const parts = this.meta.get(name);
      return parts === undefined
        ? undefined
        : { name, topicId: "AAAAAAAAAAAAAAAAAAAAAA", partitions: parts, config: {} as never };
    };
    const fake = {
      topic,
      brokers: () => [{ nodeId: ME, host: "127.0.0.1", port: 9092, rack: null }],
      allocateProducerId: () => Promise.resolve(4000n),
    };
    return fake as unknown as ClusterMetadata;
  }
}

async function _start(w: _World, clock: ManualClock): Promise<TxnService> {
  return await TxnService.start({
    nodeId: ME,
    metadata: w.metadata(),
    partitions: w.partitions(),
    groups: {} as GroupService,
    logger: createLogger("test", { sink: () => {} }),
    replicationFactor: 2,
    clock,
  }, { markerAttemptsMax: 1, abortCheckIntervalMs: 3_600_000 });
}

/** Lets promise chains settle, moving the manual clock a little each time. */
async function _settle(clock: ManualClock, rounds = 50): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    clock.advance(20);
    await new Promise((r) => setTimeout(r, 0));
  }
}

function _txn(state: TxnMetadata["state"], epoch = 0): TxnMetadata {
  return {
    transactionalId: "x",
    producerId: 4000,
    producerEpoch: epoch,
    timeoutMs: 60_000,
    state,
    partitions: state === "Empty" || state.startsWith("Complete")
      ? []
      : [{ topic: "t", partition: 0, firstOffset: -1 }],
    groups: [],
    offsets: [],
    startMs: state === "Empty" ? -1 : 0,
    updateMs: 0,
  };
}

Deno.test("TxnService writes no marker for an id whose state partition it no longer leads", async () => {
  const clock = new ManualClock(1_000);
  const w = new _World();
  w.host(TXN_STATE_TOPIC, 0);
  w.host("t", 0);
  const svc = await _start(w, clock);
  try {
    assert.equal(svc.coordinatorError("x"), ErrorCode.NONE);
    const init = await svc.initProducerId("x", 60_000);
    assert.equal(init.errorCode, ErrorCode.NONE);
    const p = { transactionalId: "x", producerId: 4000, producerEpoch: 0 };
    assert.deepEqual(await svc.addPartitions(p, [{ topic: "t", partition: 0 }]), [0]);
    // The commit is decided (PrepareCommit is durable) but its marker cannot be written yet.
    // The answer is the retriable CONCURRENT_TRANSACTIONS until the transaction completes.
    w.failMarkers.add("t/0");
    assert.equal(await svc.endTxn(p, true), ErrorCode.CONCURRENT_TRANSACTIONS);
    assert.equal(svc.coordinator.get("x")?.state, "PrepareCommit");
    assert.equal(await svc.endTxn(p, true), ErrorCode.CONCURRENT_TRANSACTIONS, "a retry too");
    assert.equal(w.markers.length, 0);
    // The state partition moves to broker 2 (this one missed its lease), which finishes the
    // transaction; the producer's next one begins on t/0.
    w.lead(TXN_STATE_TOPIC, 0, 2, 1);
    w.failMarkers.clear();
    w.append(
      w.hosted.get("t/0")!,
      await buildBatch([{ value: null, timestamp: 0 }], {
        producerId: 4000,
        producerEpoch: 0,
        baseSequence: 1,
        transactional: true,
      }),
    );
    // The periodic check must not finish the remembered PrepareCommit: its COMMIT marker would
    // close the producer's next transaction on t/0.
    await svc.abortExpired();
    assert.deepEqual(w.markers, []);
    assert.equal(svc.coordinatorError("x"), ErrorCode.NOT_COORDINATOR);
    assert.equal(svc.coordinator.get("x"), undefined, "the stale state is forgotten");
    // Leading again, at epoch 2, it serves what the log says, not what it remembered.
    const state = w.hosted.get(`${TXN_STATE_TOPIC}/0`)!;
    await w.appendState(state, _txn("CompleteCommit"));
    await w.appendState(state, _txn("Ongoing"));
    w.lead(TXN_STATE_TOPIC, 0, ME, 2);
    await svc.reloadPartition(0);
    assert.equal(svc.coordinatorError("x"), ErrorCode.NONE);
    assert.equal(svc.coordinator.get("x")?.state, "Ongoing");
    assert.deepEqual(w.markers, []);
    // Its markers now carry the epoch it serves at.
    assert.equal(await svc.endTxn(p, false), ErrorCode.NONE);
    assert.deepEqual(w.markers, [{
      key: "t/0",
      producerId: 4000,
      commit: false,
      coordinatorEpoch: 2,
    }]);
  } finally {
    svc.close();
  }
});

Deno.test("TxnService reads a state partition to its log end before serving its ids", async () => {
  const clock = new ManualClock(1_000);
  const w = new _World();
  const state = w.host(TXN_STATE_TOPIC, 0, 3);
  w.host("t", 0);
  // The previous coordinator committed, completed, and began the next transaction, all acked;
  // this new leader's high watermark has not caught up with the last two records yet.
  w.holdHighWatermark = true;
  await w.appendState(state, _txn("PrepareCommit"));
  state.log.highWatermark = state.log.logEndOffset;
  await w.appendState(state, _txn("CompleteCommit"));
  await w.appendState(state, _txn("Ongoing"));
  const svc = await _start(w, clock);
  try {
    await _settle(clock, 5);
    assert.equal(svc.coordinatorError("x"), ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    // Handlers answer the above; the service itself writes nothing for an id it does not serve.
    const end = state.log.logEndOffset;
    assert.equal((await svc.initProducerId("x", 60_000)).errorCode, ErrorCode.NOT_COORDINATOR);
    assert.equal(state.log.logEndOffset, end);
    // Finishing the PrepareCommit below the high watermark would write a COMMIT marker that
    // closes the producer's next transaction.
    assert.deepEqual(w.markers, []);
    state.log.highWatermark = state.log.logEndOffset;
    await _settle(clock);
    assert.equal(svc.coordinatorError("x"), ErrorCode.NONE);
    assert.equal(svc.coordinator.get("x")?.state, "Ongoing");
    assert.deepEqual(w.markers, []);
  } finally {
    svc.close();
  }
});
