/**
 * The transaction requests one broker sends another, over one Kafka connection per broker to
 * its replication listener (the broker-to-broker port that followers fetch on):
 * - WriteTxnMarkers v1 (API 27), coordinator to partition leader;
 * - OffsetCommit v8 with no member, coordinator to group coordinator: a committed
 *   transaction's offsets (the receiving broker takes these as is only on that listener);
 * - TxnOffsetCommit v3 with no member, group coordinator to transaction coordinator: offsets
 *   a client sent to the group coordinator (which checked the member) join the transaction.
 *
 * Connections are opened on first use, kept, and dropped on any failure; retrying and finding
 * the new leader are the caller's.
 *
 * @module
 */

import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { decodeResponseHeader, encodeRequestHeader } from "../../protocol/kafka/header.ts";
import { Reader, Writer } from "../../protocol/kafka/wire.ts";
import {
  decodeOffsetCommitResponse,
  decodeTxnOffsetCommitResponse,
  decodeWriteTxnMarkersResponse,
  encodeOffsetCommitRequest,
  encodeTxnOffsetCommitRequest,
  encodeWriteTxnMarkersRequest,
  type TxnOffsetCommitRequest,
  type TxnOffsetCommitResponse,
} from "../../protocol/kafka/messages/mod.ts";
import type { Transport } from "../../protocol/transport/transport.ts";
import type { TxnMarker } from "./txn_marker.ts";

/** WriteTxnMarkers version sent (flexible). */
export const WRITE_TXN_MARKERS_VERSION = 1;
/** OffsetCommit version sent (flexible, with leader epochs). */
export const OFFSET_COMMIT_VERSION = 8;
/** TxnOffsetCommit version sent (flexible). */
export const TXN_OFFSET_COMMIT_VERSION = 3;

/** One offset a committed transaction applies. */
export interface AppliedOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly leaderEpoch: number;
  readonly metadata: string | null;
}

/** A partition to mark. */
export interface MarkedPartition {
  readonly topic: string;
  readonly partition: number;
}

/** Options of {@linkcode TxnBrokerClient}. */
export interface TxnBrokerClientOptions {
  readonly nodeId: number;
  /** Where broker `nodeId` takes broker-to-broker requests, when known. */
  readonly endpoint: (nodeId: number) => { host: string; port: number } | undefined;
  /** Opens a connection (`connect` from protocol/transport, or a fake). */
  readonly connect: (url: string) => Promise<Transport>;
  /** @default 10000 */
  readonly requestTimeoutMs?: number;
}

/** Sends the transaction requests above to other brokers. */
export class TxnBrokerClient {
  readonly #o: TxnBrokerClientOptions;
  readonly #conns = new Map<number, Promise<Transport>>();
  #correlationId = 1;

  constructor(options: TxnBrokerClientOptions) {
    this.#o = options;
  }

  /**
   * Asks broker `leaderId` to write `marker` to `partitions`; resolves to the error code of
   * each partition, by `topic/partition`.
   *
   * @throws {Error} when the broker cannot be reached or answers nothing usable
   */
  async writeMarkers(
    leaderId: number,
    marker: TxnMarker,
    partitions: readonly MarkedPartition[],
  ): Promise<Map<string, number>> {
    const byTopic = new Map<string, number[]>();
    for (const tp of partitions) {
      let list = byTopic.get(tp.topic);
      if (list === undefined) byTopic.set(tp.topic, list = []);
      list.push(tp.partition);
    }
    const v = WRITE_TXN_MARKERS_VERSION;
    const res = await this.#call(
      leaderId,
      ApiKey.WriteTxnMarkers,
      v,
      (w) =>
        encodeWriteTxnMarkersRequest(w, {
          markers: [{
            producerId: BigInt(marker.producerId),
            producerEpoch: marker.producerEpoch,
            transactionResult: marker.commit,
            coordinatorEpoch: marker.coordinatorEpoch,
            topics: [...byTopic].map(([name, partitionIndexes]) => ({ name, partitionIndexes })),
          }],
        }, v),
      decodeWriteTxnMarkersResponse,
    );
    const out = new Map<string, number>();
    for (const m of res.markers) {
      for (const t of m.topics) {
        for (const p of t.partitions) out.set(`${t.name}/${p.partitionIndex}`, p.errorCode);
      }
    }
    return out;
  }

  /**
   * Commits a committed transaction's offsets at the group coordinator `nodeId`; resolves to
   * the first error code, or NONE.
   *
   * @throws {Error} when the broker cannot be reached or answers nothing usable
   */
  async commitOffsets(
    nodeId: number,
    groupId: string,
    offsets: readonly AppliedOffset[],
  ): Promise<number> {
    const byTopic = new Map<string, AppliedOffset[]>();
    for (const o of offsets) {
      let list = byTopic.get(o.topic);
      if (list === undefined) byTopic.set(o.topic, list = []);
      list.push(o);
    }
    const v = OFFSET_COMMIT_VERSION;
    const res = await this.#call(
      nodeId,
      ApiKey.OffsetCommit,
      v,
      (w) =>
        encodeOffsetCommitRequest(w, {
          groupId,
          generationIdOrMemberEpoch: -1,
          memberId: "",
          groupInstanceId: null,
          retentionTimeMs: -1n,
          topics: [...byTopic].map(([name, list]) => ({
            name,
            partitions: list.map((o) => ({
              partitionIndex: o.partition,
              committedOffset: BigInt(o.offset),
              committedLeaderEpoch: o.leaderEpoch,
              commitTimestamp: -1n,
              committedMetadata: o.metadata,
            })),
          })),
        }, v),
      decodeOffsetCommitResponse,
    );
    for (const t of res.topics) {
      for (const p of t.partitions) if (p.errorCode !== 0) return p.errorCode;
    }
    return 0;
  }

  /**
   * Hands a client's TxnOffsetCommit to the transaction coordinator `nodeId`, without the
   * member fields (the caller checked them), and answers its response.
   *
   * @throws {Error} when the broker cannot be reached or answers nothing usable
   */
  async forwardTxnOffsetCommit(
    nodeId: number,
    req: TxnOffsetCommitRequest,
  ): Promise<TxnOffsetCommitResponse> {
    const v = TXN_OFFSET_COMMIT_VERSION;
    const body = { ...req, generationId: -1, memberId: "", groupInstanceId: null };
    return await this.#call(
      nodeId,
      ApiKey.TxnOffsetCommit,
      v,
      (w) => encodeTxnOffsetCommitRequest(w, body, v),
      decodeTxnOffsetCommitResponse,
    );
  }

  /** Closes every connection. */
  close(): void {
    for (const id of [...this.#conns.keys()]) this.#drop(id);
  }

  async #call<Res>(
    nodeId: number,
    apiKey: number,
    version: number,
    encodeBody: (w: Writer) => void,
    decode: (r: Reader, v: number) => Res,
  ): Promise<Res> {
    const w = new Writer({ initialBytes: 256 });
    const correlationId = this.#correlationId;
    this.#correlationId = correlationId >= 0x7fffffff ? 1 : correlationId + 1;
    encodeRequestHeader(w, {
      apiKey,
      apiVersion: version,
      correlationId,
      clientId: `rustmq-txn-${this.#o.nodeId}`,
    });
    encodeBody(w);
    const r = new Reader(await this.#send(nodeId, w.finish()));
    const header = decodeResponseHeader(r, apiKey, version);
    if (header.correlationId !== correlationId) {
      this.#drop(nodeId);
      throw new Error(
        `Cannot use the response of broker ${nodeId} as its correlation id is ${header.correlationId}: expected ${correlationId}`,
      );
    }
    return decode(r, version);
  }

  async #send(leaderId: number, frame: Uint8Array): Promise<Uint8Array> {
    const timeoutMs = this.#o.requestTimeoutMs ?? 10_000;
    try {
      const t = await this.#connection(leaderId);
      const payload = await t.request(frame, { expectResponse: true, timeoutMs });
      if (payload === null) throw new Error(`broker ${leaderId} sent no WriteTxnMarkers response`);
      return payload;
    } catch (err) {
      this.#drop(leaderId);
      throw err;
    }
  }

  #connection(leaderId: number): Promise<Transport> {
    let c = this.#conns.get(leaderId);
    if (c === undefined) {
      const at = this.#o.endpoint(leaderId);
      if (at === undefined) {
        return Promise.reject(
          new Error(`Cannot send WriteTxnMarkers to broker ${leaderId}: its address is unknown`),
        );
      }
      c = this.#o.connect(`tcp://${at.host}:${at.port}`);
      this.#conns.set(leaderId, c);
      // A connection closed by the other side is opened again on next use.
      c.then((t) => t.closed.then(() => this.#conns.get(leaderId) === c && this.#drop(leaderId)))
        .catch(() => {});
    }
    return c;
  }

  #drop(leaderId: number): void {
    const c = this.#conns.get(leaderId);
    this.#conns.delete(leaderId);
    c?.then((t) => t.close(), () => {});
  }
}
