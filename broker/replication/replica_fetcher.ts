/**
 * The replica fetcher: the thin driver that follows every partition this broker replicates
 * from one leader broker, over one connection to the leader's replication port
 * (`tcp://host:9093`). All decisions are {@linkcode FollowerState}'s; this file turns its
 * requests into batched Kafka requests and applies its actions through a {@linkcode FollowerSink}.
 *
 * One round ({@linkcode ReplicaFetcher.runOnce}):
 * 1. connect if needed (exponential backoff on failure);
 * 2. one OffsetForLeaderEpoch request for every partition that must truncate;
 * 3. ListOffsets (earliest, latest) for partitions that got OFFSET_OUT_OF_RANGE;
 * 4. one Fetch (replica id = this node) for every partition that is fetching;
 * 5. or, with nothing to send, sleep until a backoff ends or a partition is added.
 *
 * A failed request closes the connection and backs off the whole fetcher, as Kafka's
 * `replica.fetch.backoff.ms` does. Programmer errors (TypeError, RangeError, a broken log
 * invariant) are not retried: they stop the loop and are logged.
 *
 * @module
 */

import { type Clock, sleep } from "../../ops/clock.ts";
import type { Transport } from "../../protocol/transport/transport.ts";
import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { decodeResponseHeader, encodeRequestHeader } from "../../protocol/kafka/header.ts";
import { Reader, recordsBytes, Writer } from "../../protocol/kafka/wire.ts";
import {
  createFetchRequest,
  createFetchRequestPartition,
  createFetchRequestTopic,
  createListOffsetsRequest,
  createOffsetForLeaderEpochRequest,
  decodeFetchResponse,
  decodeListOffsetsResponse,
  decodeOffsetForLeaderEpochResponse,
  encodeFetchRequest,
  encodeListOffsetsRequest,
  encodeOffsetForLeaderEpochRequest,
  type FetchResponse,
  type ListOffsetsResponse,
} from "../../protocol/kafka/messages/mod.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import type { Logger } from "../../ops/logger.ts";
import { partitionKey } from "../log/log_cache.ts";
import { type FollowerAction, type FollowerLogView, FollowerState } from "./follower_state.ts";

/** Fetch version used: v12 carries lastFetchedEpoch and divergingEpoch, and topic names. */
export const REPLICA_FETCH_VERSION = 12;
/** OffsetForLeaderEpoch version used (flexible, with replica id). */
export const OFFSET_FOR_LEADER_EPOCH_VERSION = 4;
/** ListOffsets version used (with currentLeaderEpoch). */
export const LIST_OFFSETS_VERSION = 4;

/** Where fetched data goes: implemented by the broker's partition manager. */
export interface FollowerSink {
  /** The local partition as the follower state reads it, or undefined when not hosted. */
  view(topic: string, partition: number): FollowerLogView | undefined;
  /**
   * Appends batches with leader-assigned offsets (WAL append, log cache, PartitionLog
   * `appendAssigned`, epoch cache `assignEpochsFromBatches`), then sets the local HW to
   * min(leaderHw, local LEO) and the log start to max(local, leaderLogStart) where allowed.
   * Resolves once durable in the WAL, so the next fetch offset tells the leader the truth.
   */
  appendAsFollower(
    topic: string,
    partition: number,
    batches: readonly Uint8Array[],
    leaderHighWatermark: number,
    leaderLogStartOffset: number,
  ): Promise<void>;
  /** Truncates the log, cache and epoch cache to end at or below `offset` (durably). */
  truncateTo(topic: string, partition: number, offset: number): Promise<void>;
  /** Empties the partition and restarts it at `offset` (durably). */
  resetTo(topic: string, partition: number, offset: number): Promise<void>;
  /**
   * Moves the LEO (and HW) up to `offset`, keeping the log start: the leader's data below it is
   * in object storage. Durable because the object manifest records it.
   */
  skipTo(topic: string, partition: number, offset: number, epoch: number): Promise<void>;
  /** The leader refused us as stale: refresh metadata from the controller. */
  requestMetadataRefresh(reason: string): void;
}

/** Options of {@linkcode ReplicaFetcher}. */
export interface ReplicaFetcherOptions {
  /** This broker's node id, sent as the replica id. */
  readonly nodeId: number;
  /** The leader broker followed. */
  readonly leaderId: number;
  /** The leader's replication endpoint, e.g. `tcp://host:9093`. */
  readonly url: string;
  /** Opens a connection (`connect` from protocol/transport, or a fake). */
  readonly connect: (url: string) => Promise<Transport>;
  readonly sink: FollowerSink;
  /** Backoff sleeps and timestamps; tests pass a manual clock. */
  readonly clock: Clock;
  readonly logger: Logger;
  /** Fetch long-poll. @default 500 */
  readonly maxWaitMs?: number;
  /** @default 1 */
  readonly minBytes?: number;
  /** Bytes per Fetch response. @default 16777216 */
  readonly maxBytes?: number;
  /** Bytes per partition per Fetch. @default 1048576 */
  readonly partitionMaxBytes?: number;
  /** Deadline of one request; must exceed maxWaitMs. @default 30000 */
  readonly requestTimeoutMs?: number;
  /** First connection backoff. @default 100 */
  readonly backoffMs?: number;
  /** Backoff doubles up to this. @default 5000 */
  readonly backoffMaxMs?: number;
  /** Most partitions followed. @default 100000 */
  readonly partitionsMax?: number;
  /**
   * Pause after a Fetch that returned nothing and no error, in case the leader did not
   * long-poll: the loop must never spin. @default 10
   */
  readonly emptyFetchPauseMs?: number;
}

/** What one round did, for tests and metrics. */
export type FetchRoundResult = "worked" | "idle" | "backoff";

/** Follows every partition led by one broker. */
export class ReplicaFetcher {
  readonly #o: Required<ReplicaFetcherOptions>;
  readonly #partitions = new Map<string, FollowerState>();
  /** Actions being applied, per partition: removal waits for them (see removePartition). */
  readonly #applying = new Map<string, Promise<void>>();
  #transport: Transport | null = null;
  #correlationId = 1;
  #connectFailures = 0;
  #running = false;
  #loop: Promise<void> | null = null;
  #wake = new AbortController();
  #stop = new AbortController();

  constructor(options: ReplicaFetcherOptions) {
    this.#o = {
      maxWaitMs: 500,
      minBytes: 1,
      maxBytes: 16 << 20,
      partitionMaxBytes: 1 << 20,
      requestTimeoutMs: 30_000,
      backoffMs: 100,
      backoffMaxMs: 5000,
      partitionsMax: 100_000,
      emptyFetchPauseMs: 10,
      ...options,
    };
    if (this.#o.requestTimeoutMs <= this.#o.maxWaitMs) {
      throw new RangeError(
        `Cannot create replica fetcher as requestTimeoutMs must exceed maxWaitMs: current values are ${this.#o.requestTimeoutMs} and ${this.#o.maxWaitMs}`,
      );
    }
  }

  /** The leader followed. */
  get leaderId(): number {
    return this.#o.leaderId;
  }
  /** Partitions followed. */
  get partitionCount(): number {
    return this.#partitions.size;
  }
  /** Every partition followed, with the leader epoch it follows. */
  followed(): { topic: string; partition: number; leaderEpoch: number }[] {
    return [...this.#partitions.values()].map((s) => ({
      topic: s.topic,
      partition: s.partition,
      leaderEpoch: s.leaderEpoch,
    }));
  }

  /** The follower state of a partition (for metrics and tests). */
  state(topic: string, partition: number): FollowerState | undefined {
    return this.#partitions.get(partitionKey(topic, partition));
  }

  /**
   * Starts following a partition at `leaderEpoch`, or moves it to a new epoch (it then
   * truncates again before fetching).
   *
   * @throws {RangeError} beyond `partitionsMax`, or when the sink does not host the partition
   */
  addPartition(topic: string, partition: number, leaderEpoch: number): void {
    const key = partitionKey(topic, partition);
    const existing = this.#partitions.get(key);
    if (existing !== undefined) {
      existing.updateLeader(this.#o.leaderId, leaderEpoch);
    } else {
      if (this.#partitions.size >= this.#o.partitionsMax) {
        throw new RangeError(
          `Cannot follow ${key} as the fetcher follows ${this.#partitions.size} partitions: the limit is ${this.#o.partitionsMax}`,
        );
      }
      const log = this.#o.sink.view(topic, partition);
      if (log === undefined) throw new RangeError(`Cannot follow ${key} as it is not hosted`);
      this.#partitions.set(
        key,
        new FollowerState({ topic, partition, leaderId: this.#o.leaderId, leaderEpoch, log }),
      );
    }
    this.#wakeUp();
  }

  /**
   * Stops following a partition (it became leader, or moved away). Resolves once no fetched
   * state is being applied to it any more: an append that was already under way finishes
   * first (no further action starts). A caller that changes the partition's role must wait
   * for this, as Kafka's fetcher removal waits for the partition's in-flight processing: an
   * append finishing after the partition became leader would write a follower's view (its
   * epoch cache entry, its high watermark) over the new leader's, and the leader then no
   * longer knows its own epoch.
   */
  removePartition(topic: string, partition: number): Promise<void> {
    const key = partitionKey(topic, partition);
    this.#partitions.delete(key);
    return this.#applying.get(key) ?? Promise.resolve();
  }

  /** Runs rounds until {@linkcode stop}. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#stop = new AbortController();
    this.#loop = this.#run();
  }

  /** Stops the loop and closes the connection. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#stop.abort();
    this.#wakeUp();
    this.#transport?.close();
    this.#transport = null;
    await this.#loop;
    this.#loop = null;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      try {
        await this.runOnce();
      } catch (err) {
        this.#o.logger.error("replica fetcher stopped on a bug", { err, leader: this.#o.leaderId });
        this.#running = false;
      }
    }
  }

  /** One round (see the module comment). Exposed for deterministic tests. */
  async runOnce(): Promise<FetchRoundResult> {
    if (this.#partitions.size === 0) {
      await this.#idle(this.#o.backoffMaxMs);
      return "idle";
    }
    const transport = await this.#connection();
    if (transport === null) return "backoff";
    const now = this.#o.clock.nowMs();
    const plan = this.#plan(now);
    let empty = false;
    try {
      if (plan.truncating.length > 0) await this.#offsetForLeaderEpoch(transport, plan.truncating);
      if (plan.outOfRange.length > 0) await this.#listOffsets(transport, plan.outOfRange);
      if (plan.fetching.length > 0) empty = await this.#fetch(transport, plan.fetching);
    } catch (err) {
      if (err instanceof TypeError || err instanceof RangeError || !_isOperational(err)) throw err;
      return await this.#dropConnection(err);
    }
    if (empty && plan.truncating.length + plan.outOfRange.length === 0) {
      await this.#idle(this.#o.emptyFetchPauseMs);
      return "idle";
    }
    if (plan.truncating.length + plan.outOfRange.length + plan.fetching.length > 0) return "worked";
    if (plan.waitUntilMs !== null) await this.#idle(Math.max(0, plan.waitUntilMs - now));
    return "idle";
  }

  #plan(nowMs: number) {
    const truncating: _Pending<"offsetForLeaderEpoch">[] = [];
    const outOfRange: _Pending<"listOffsets">[] = [];
    const fetching: _Pending<"fetch">[] = [];
    let waitUntilMs: number | null = null;
    for (const state of this.#partitions.values()) {
      const req = state.nextRequest(nowMs);
      if (req.kind === "offsetForLeaderEpoch") truncating.push({ state, req });
      else if (req.kind === "listOffsets") outOfRange.push({ state, req });
      else if (req.kind === "fetch") fetching.push({ state, req });
      else waitUntilMs = Math.min(waitUntilMs ?? Infinity, req.untilMs);
    }
    return { truncating, outOfRange, fetching, waitUntilMs };
  }

  async #connection(): Promise<Transport | null> {
    if (this.#transport !== null) return this.#transport;
    try {
      const connecting = this.#o.connect(this.#o.url);
      // stop() must not wait for a slow connect; a connection that arrives late is closed.
      const signal = this.#stop.signal;
      const stopped = new Promise<null>((resolve) => {
        signal.addEventListener("abort", () => resolve(null), { once: true });
      });
      const transport = await Promise.race([connecting, stopped]);
      if (transport === null || (!this.#running && this.#loop !== null)) {
        connecting.then((t) => t.close(), () => {});
        return null;
      }
      this.#transport = transport;
      this.#connectFailures = 0;
      return this.#transport;
    } catch (err) {
      if (err instanceof TypeError || err instanceof RangeError) throw err;
      await this.#dropConnection(err);
      return null;
    }
  }

  async #dropConnection(err: unknown): Promise<"backoff"> {
    this.#transport?.close();
    this.#transport = null;
    const ms = Math.min(
      this.#o.backoffMaxMs,
      this.#o.backoffMs * 2 ** Math.min(this.#connectFailures, 30),
    );
    this.#connectFailures++;
    this.#o.logger.warn("replica fetcher lost its leader connection; backing off", {
      leader: this.#o.leaderId,
      url: this.#o.url,
      backoffMs: ms,
      err,
    });
    await this.#idle(ms);
    return "backoff";
  }

  async #idle(ms: number): Promise<void> {
    if (!this.#running && this.#loop !== null) return;
    // A wake-up aborts the sleep: that rejection only means "go on now".
    await sleep(this.#o.clock, ms, this.#wake.signal).catch(() => {});
  }

  #wakeUp(): void {
    this.#wake.abort();
    this.#wake = new AbortController();
  }

  async #offsetForLeaderEpoch(
    transport: Transport,
    pending: readonly _Pending<"offsetForLeaderEpoch">[],
  ): Promise<void> {
    const req = createOffsetForLeaderEpochRequest();
    req.replicaId = this.#o.nodeId;
    req.topics = _byTopic(pending, (p) => ({
      partition: p.state.partition,
      currentLeaderEpoch: p.req.currentLeaderEpoch,
      leaderEpoch: p.req.leaderEpoch,
    }));
    const res = await this.#request(
      transport,
      ApiKey.OffsetForLeaderEpoch,
      OFFSET_FOR_LEADER_EPOCH_VERSION,
      (w, v) => encodeOffsetForLeaderEpochRequest(w, req, v),
      decodeOffsetForLeaderEpochResponse,
    );
    const answers = _answers(res, (t) => t.topic, (t) => t.partitions, (p) => p.partition);
    for (const { state, req: p } of pending) {
      const a = answers.get(partitionKey(state.topic, state.partition));
      const answer = a === undefined ? _missing : {
        errorCode: a.errorCode,
        leaderEpoch: a.leaderEpoch,
        endOffset: Number(a.endOffset),
      };
      this.#o.logger.debug("leader answered OffsetForLeaderEpoch", {
        partition: partitionKey(state.topic, state.partition),
        leader: this.#o.leaderId,
        currentLeaderEpoch: p.currentLeaderEpoch,
        asked: p.leaderEpoch,
        ...answer,
      });
      await this.#apply(state, state.onOffsetForLeaderEpoch(answer, this.#o.clock.nowMs()));
    }
  }

  async #listOffsets(
    transport: Transport,
    pending: readonly _Pending<"listOffsets">[],
  ): Promise<void> {
    const ask = async (timestamp: bigint) => {
      const req = createListOffsetsRequest();
      req.replicaId = this.#o.nodeId;
      req.topics = _byTopic(pending, (p) => ({
        partitionIndex: p.state.partition,
        currentLeaderEpoch: p.req.currentLeaderEpoch,
        timestamp,
        maxNumOffsets: 1,
      })).map((t) => ({ name: t.topic, partitions: t.partitions }));
      const res: ListOffsetsResponse = await this.#request(
        transport,
        ApiKey.ListOffsets,
        LIST_OFFSETS_VERSION,
        (w, v) => encodeListOffsetsRequest(w, req, v),
        decodeListOffsetsResponse,
      );
      return _answers(res, (t) => t.name, (t) => t.partitions, (p) => p.partitionIndex);
    };
    const earliest = await ask(-2n);
    const latest = await ask(-1n);
    for (const { state } of pending) {
      const key = partitionKey(state.topic, state.partition);
      const e = earliest.get(key);
      const l = latest.get(key);
      const errorCode = e === undefined || l === undefined
        ? ErrorCode.UNKNOWN_SERVER_ERROR
        : e.errorCode !== ErrorCode.NONE
        ? e.errorCode
        : l.errorCode;
      const answer = {
        errorCode,
        logStartOffset: Number(e?.offset ?? -1n),
        logEndOffset: Number(l?.offset ?? -1n),
      };
      await this.#apply(state, state.onLeaderOffsets(answer, this.#o.clock.nowMs()));
    }
  }

  /** Sends one Fetch; true when every partition answered without error and without data. */
  async #fetch(transport: Transport, pending: readonly _Pending<"fetch">[]): Promise<boolean> {
    const req = createFetchRequest();
    // v12 carries the replica id at the top level; v15+ would use replicaState.replicaId.
    req.replicaId = this.#o.nodeId;
    req.maxWaitMs = this.#o.maxWaitMs;
    req.minBytes = this.#o.minBytes;
    req.maxBytes = this.#o.maxBytes;
    req.topics = _byTopic(pending, (p) => ({
      ...createFetchRequestPartition(),
      partition: p.state.partition,
      currentLeaderEpoch: p.req.currentLeaderEpoch,
      fetchOffset: BigInt(p.req.fetchOffset),
      lastFetchedEpoch: p.req.lastFetchedEpoch,
      logStartOffset: BigInt(p.req.logStartOffset),
      partitionMaxBytes: this.#o.partitionMaxBytes,
    })).map((t) => ({ ...createFetchRequestTopic(), topic: t.topic, partitions: t.partitions }));
    const res: FetchResponse = await this.#request(
      transport,
      ApiKey.Fetch,
      REPLICA_FETCH_VERSION,
      (w, v) => encodeFetchRequest(w, req, v),
      decodeFetchResponse,
    );
    const answers = _answers(res, (t) => t.topic, (t) => t.partitions, (p) => p.partitionIndex);
    let empty = true;
    for (const { state } of pending) {
      const p = answers.get(partitionKey(state.topic, state.partition));
      if (p === undefined || p.errorCode !== ErrorCode.NONE || (p.records?.length ?? 0) > 0) {
        empty = false;
      }
      const errorCode = res.errorCode !== ErrorCode.NONE
        ? res.errorCode
        : p?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
      const answer = {
        errorCode,
        highWatermark: Number(p?.highWatermark ?? -1n),
        logStartOffset: Number(p?.logStartOffset ?? -1n),
        divergingEpoch: {
          epoch: p?.divergingEpoch.epoch ?? -1,
          endOffset: Number(p?.divergingEpoch.endOffset ?? -1n),
        },
        snapshotEndOffset: Number(p?.snapshotId.endOffset ?? -1n),
        snapshotEpoch: p?.snapshotId.epoch ?? -1,
        // Decoded from the wire, so always plain bytes (slices exist only to encode).
        records: p?.records == null ? null : recordsBytes(p.records),
      };
      if (answer.errorCode !== ErrorCode.NONE || answer.divergingEpoch.epoch >= 0) {
        this.#o.logger.debug("leader answered a replica fetch with an error or a divergence", {
          partition: partitionKey(state.topic, state.partition),
          leader: this.#o.leaderId,
          errorCode: answer.errorCode,
          divergingEpoch: answer.divergingEpoch,
        });
      }
      await this.#apply(state, state.onFetch(answer, this.#o.clock.nowMs()));
    }
    return empty;
  }

  /**
   * Applies a partition's actions in order; the partition may have been removed meanwhile. A
   * sink failure (WAL full, storage error) sends the partition back to truncation after a
   * backoff: its phase may already assume an action that did not happen.
   */
  async #apply(state: FollowerState, actions: readonly FollowerAction[]): Promise<void> {
    const key = partitionKey(state.topic, state.partition);
    const applying = this.#applyOrRetry(state, actions);
    // Never rejects: programmer errors are rethrown to the loop below, not to removers.
    const settled = applying.catch(() => {});
    this.#applying.set(key, settled);
    try {
      await applying;
    } finally {
      if (this.#applying.get(key) === settled) this.#applying.delete(key);
    }
  }

  async #applyOrRetry(state: FollowerState, actions: readonly FollowerAction[]): Promise<void> {
    try {
      await this.#applyAll(state, actions);
    } catch (err) {
      if (err instanceof TypeError || err instanceof RangeError || !_isOperational(err)) throw err;
      this.#o.logger.warn("replica fetcher could not apply fetched state; retrying", {
        partition: partitionKey(state.topic, state.partition),
        err,
      });
      state.onApplyFailed(this.#o.clock.nowMs());
    }
  }

  async #applyAll(state: FollowerState, actions: readonly FollowerAction[]): Promise<void> {
    const { topic, partition } = state;
    for (const a of actions) {
      if (this.#partitions.get(partitionKey(topic, partition)) !== state) return;
      switch (a.kind) {
        case "truncate":
          await this.#o.sink.truncateTo(topic, partition, a.offset);
          break;
        case "resetLog":
          await this.#o.sink.resetTo(topic, partition, a.offset);
          break;
        case "skipTo":
          await this.#o.sink.skipTo(topic, partition, a.offset, a.epoch);
          break;
        case "append":
          await this.#o.sink.appendAsFollower(
            topic,
            partition,
            a.batches,
            a.leaderHighWatermark,
            a.leaderLogStartOffset,
          );
          break;
        case "refreshMetadata":
          this.#o.sink.requestMetadataRefresh(a.reason);
          break;
      }
    }
  }

  async #request<Res>(
    transport: Transport,
    apiKey: number,
    version: number,
    encodeBody: (w: Writer, v: number) => void,
    decode: (r: Reader, v: number) => Res,
  ): Promise<Res> {
    const w = new Writer({ initialBytes: 1024 });
    const correlationId = this.#correlationId;
    this.#correlationId = correlationId >= 0x7fffffff ? 1 : correlationId + 1;
    encodeRequestHeader(w, {
      apiKey,
      apiVersion: version,
      correlationId,
      clientId: `rustmq-replica-${this.#o.nodeId}`,
    });
    encodeBody(w, version);
    const timeoutMs = this.#o.requestTimeoutMs;
    const payload = await transport.request(w.finish(), { expectResponse: true, timeoutMs });
    if (payload === null) throw new ReplicaFetchError(`The leader sent no response`);
    const r = new Reader(payload);
    const header = decodeResponseHeader(r, apiKey, version);
    if (header.correlationId !== correlationId) {
      throw new ReplicaFetchError(
        `Cannot use the response as its correlation id is ${header.correlationId}: expected ${correlationId}`,
      );
    }
    return decode(r, version);
  }
}

/** A response from the leader could not be used; the connection is dropped and retried. */
export class ReplicaFetchError extends Error {
  /** Stable name of the condition. */
  readonly code = "REPLICA_FETCH_FAILED";
  /** A new connection may work. */
  readonly retriable = true;
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ReplicaFetchError";
  }
}

interface _Pending<K extends string> {
  state: FollowerState;
  req: Extract<ReturnType<FollowerState["nextRequest"]>, { kind: K }>;
}

const _missing = {
  errorCode: ErrorCode.UNKNOWN_SERVER_ERROR,
  leaderEpoch: -1,
  endOffset: -1,
};

/** Errors a connection can raise on purpose (typed, with a code), and malformed responses. */
function _isOperational(err: unknown): boolean {
  if (err instanceof ReplicaFetchError) return true;
  const name = (err as { name?: unknown } | null)?.name;
  if (name === "MalformedFrameError") return true;
  // We built the request: failing to encode it is our bug, not the network's.
  if (name === "FrameEncodeError") return false;
  return typeof (err as { code?: unknown } | null)?.code === "string";
}

function _byTopic<P extends { state: FollowerState }, T>(
  pending: readonly P[],
  partitionOf: (p: P) => T,
): { topic: string; partitions: T[] }[] {
  const byTopic = new Map<string, T[]>();
  for (const p of pending) {
    let list = byTopic.get(p.state.topic);
    if (list === undefined) byTopic.set(p.state.topic, list = []);
    list.push(partitionOf(p));
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

function _answers<R, T, P>(
  res: R & { topics?: T[]; responses?: T[] },
  topicName: (t: T) => string,
  partitionsOf: (t: T) => P[],
  indexOf: (p: P) => number,
): Map<string, P> {
  const out = new Map<string, P>();
  for (const t of res.topics ?? res.responses ?? []) {
    for (const p of partitionsOf(t)) out.set(partitionKey(topicName(t), indexOf(p)), p);
  }
  return out;
}
