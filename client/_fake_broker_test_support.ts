/**
 * An in-memory broker for unit tests of the client: it answers ApiVersions, Metadata,
 * InitProducerId and Produce through a fake {@linkcode Transport}, and lets a test script the
 * error code of each Produce call. Sequences are checked with the broker's own
 * {@linkcode ProducerStateTable}, so duplicates and gaps behave as on the real broker. Not a
 * `_test.ts` file so tests can import it.
 *
 * @module
 */

import { ApiKey } from "../protocol/kafka/api_keys.ts";
import { decodeRequestHeader, encodeResponseHeader } from "../protocol/kafka/header.ts";
import * as m from "../protocol/kafka/messages/mod.ts";
import { Reader, Writer } from "../protocol/kafka/wire.ts";
import { readBatchHeader } from "../protocol/record/record_batch.ts";
import { ProducerStateTable } from "../broker/produce/producer_state.ts";
import type { Dialer } from "./broker_connection.ts";
import { TimeoutError } from "../protocol/transport/errors.ts";
import type { RequestOptions, Transport } from "../protocol/transport/transport.ts";

/** One Produce request the fake broker saw. */
export interface SeenProduce {
  /** Partition. */
  partition: number;
  /** The batch bytes as sent. */
  records: Uint8Array;
  /** The batch's base sequence. */
  baseSequence: number;
  /** The batch's record count. */
  recordCount: number;
  /** The batch's producer id. */
  producerId: number;
  /** The error code answered. */
  errorCode: number;
}

/** A scripted single-node broker. */
export class _FakeBroker {
  /** Error codes for the next Produce calls, in order; absent means success. */
  readonly produceErrors: number[] = [];
  /** Produce requests seen. */
  readonly produced: SeenProduce[] = [];
  /** Partitions of every topic. */
  partitions = 2;
  /** Called before each Produce is answered; a test can hold a response back. */
  beforeProduce: () => Promise<void> = () => Promise.resolve();
  /** Per partition, the batches appended (duplicates and refused ones are not). */
  readonly log = new Map<number, Uint8Array[]>();
  #offsets = new Map<number, number>();
  #producerStates = new Map<number, ProducerStateTable>();
  #nextProducerId = 7;

  /** A dialer whose transports talk to this broker. */
  readonly dial: Dialer = () => {
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => resolveClosed = r);
    const transport: Transport = {
      protocol: "tcp",
      closed,
      request: (frame: Uint8Array, options: RequestOptions) => {
        // Like the real transports: the deadline covers the whole exchange.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new TimeoutError("REQUEST_TIMEOUT", options.timeoutMs)),
            options.timeoutMs,
          );
        });
        return Promise.race([this.#handle(frame, options), deadline]).finally(() =>
          clearTimeout(timer)
        );
      },
      close: () => resolveClosed(),
    };
    return Promise.resolve(transport);
  };

  async #handle(frame: Uint8Array, options: RequestOptions): Promise<Uint8Array | null> {
    const r = new Reader(frame);
    const h = decodeRequestHeader(r);
    const w = new Writer();
    encodeResponseHeader(w, h.apiKey, h.apiVersion, h.correlationId);
    if (h.apiKey === ApiKey.ApiVersions) {
      const res = m.createApiVersionsResponse();
      res.apiKeys = [
        { apiKey: ApiKey.Produce, minVersion: 3, maxVersion: 11 },
        { apiKey: ApiKey.Metadata, minVersion: 0, maxVersion: 12 },
        { apiKey: ApiKey.ApiVersions, minVersion: 0, maxVersion: 3 },
        { apiKey: ApiKey.InitProducerId, minVersion: 0, maxVersion: 4 },
      ];
      m.encodeApiVersionsResponse(w, res, h.apiVersion);
    } else if (h.apiKey === ApiKey.Metadata) {
      m.encodeMetadataResponse(
        w,
        this.#metadata(m.decodeMetadataRequest(r, h.apiVersion)),
        h.apiVersion,
      );
    } else if (h.apiKey === ApiKey.InitProducerId) {
      const res = m.createInitProducerIdResponse();
      res.producerId = BigInt(this.#nextProducerId++);
      res.producerEpoch = 0;
      m.encodeInitProducerIdResponse(w, res, h.apiVersion);
    } else if (h.apiKey === ApiKey.Produce) {
      const req = m.decodeProduceRequest(r, h.apiVersion);
      await this.beforeProduce();
      m.encodeProduceResponse(w, this.#produce(req), h.apiVersion);
      if (!options.expectResponse) return null;
    } else {
      throw new Error(`fake broker: api ${h.apiKey} is not scripted`);
    }
    return w.finish();
  }

  #metadata(req: m.MetadataRequest): m.MetadataResponse {
    const res = m.createMetadataResponse();
    res.brokers = [{ nodeId: 1, host: "fake", port: 9092, rack: null }];
    res.controllerId = 1;
    res.topics = (req.topics ?? []).map((t) => ({
      errorCode: 0,
      name: t.name,
      topicId: "AAAAAAAAAAAAAAAAAAAAAA",
      isInternal: false,
      topicAuthorizedOperations: 0,
      partitions: Array.from({ length: this.partitions }, (_, p) => ({
        errorCode: 0,
        partitionIndex: p,
        leaderId: 1,
        leaderEpoch: 0,
        replicaNodes: [1],
        isrNodes: [1],
        offlineReplicas: [],
      })),
    }));
    return res;
  }

  #produce(req: m.ProduceRequest): m.ProduceResponse {
    const res = m.createProduceResponse();
    res.responses = req.topicData.map((t) => ({
      name: t.name,
      partitionResponses: t.partitionData.map((p) => {
        const header = readBatchHeader(p.records!);
        const out = m.createProduceResponsePartitionProduceResponse();
        out.index = p.index;
        out.errorCode = this.produceErrors.shift() ?? 0;
        this.produced.push({
          partition: p.index,
          records: p.records!.slice(),
          baseSequence: header.baseSequence,
          recordCount: header.recordCount,
          producerId: header.producerId,
          errorCode: out.errorCode,
        });
        if (out.errorCode !== 0) return out;
        let states = this.#producerStates.get(p.index);
        if (states === undefined) {
          this.#producerStates.set(p.index, states = new ProducerStateTable());
        }
        const seq = {
          producerId: header.producerId,
          producerEpoch: header.producerEpoch,
          baseSequence: header.baseSequence,
          lastOffsetDelta: header.lastOffsetDelta,
        };
        const check = states.check(seq);
        if (check.kind === "error") {
          out.errorCode = check.code === "OUT_OF_ORDER_SEQUENCE_NUMBER" ? 45 : 47;
          this.produced[this.produced.length - 1]!.errorCode = out.errorCode;
        } else if (check.kind === "duplicate") {
          out.baseOffset = BigInt(check.baseOffset);
        } else {
          const base = this.#offsets.get(p.index) ?? 0;
          out.baseOffset = BigInt(base);
          this.#offsets.set(p.index, base + header.recordCount);
          states.record(seq, base);
          this.log.set(p.index, [...(this.log.get(p.index) ?? []), p.records!.slice()]);
        }
        return out;
      }),
    }));
    return res;
  }
}
