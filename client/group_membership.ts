/**
 * One member's side of the classic group protocol: JoinGroup, SyncGroup (running the assignor
 * when this member leads), Heartbeat, LeaveGroup, and the offset requests that the coordinator
 * fences by generation (OffsetCommit, OffsetFetch).
 *
 * Group requests go over a connection of their own to the coordinator, as in the Java client:
 * JoinGroup and SyncGroup park on the broker for up to the rebalance timeout, and a broker may
 * answer a connection's requests in order, so Fetch must not queue behind them.
 *
 * @module
 */

import { ErrorCode } from "../protocol/kafka/errors.ts";
import {
  createHeartbeatRequest,
  createJoinGroupRequest,
  createLeaveGroupRequest,
  createOffsetCommitRequest,
  createOffsetFetchRequest,
  createSyncGroupRequest,
  type JoinGroupResponse,
} from "../protocol/kafka/messages/mod.ts";
import {
  HEARTBEAT,
  JOIN_GROUP,
  LEAVE_GROUP,
  OFFSET_COMMIT,
  OFFSET_FETCH,
  SYNC_GROUP,
} from "./api_specs.ts";
import { type Assignor, assignorByName, type AssignorMember } from "./assignors.ts";
import { BrokerConnection } from "./broker_connection.ts";
import type { Cluster } from "./cluster.ts";
import { sleep } from "../ops/clock.ts";
import {
  CONSUMER_PROTOCOL_VERSION_MAX,
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
  type TopicPartitions,
} from "./consumer_protocol.ts";
import { COORDINATOR_MOVED_CODES, findCoordinatorUrl } from "./coordinator_lookup.ts";
import { BrokerError, brokerError, isRetriable, TimeoutError } from "./errors.ts";

/** A topic, a partition, and the offset of the next record to consume there. */
export interface TopicPartitionOffset {
  /** Topic. */
  topic: string;
  /** Partition. */
  partition: number;
  /** The next offset to consume (one past the last processed record). */
  offset: number;
  /**
   * Metadata stored with a committed offset (Kafka's `committedMetadata`, at most the broker's
   * `offset.metadata.max.bytes`). Sent as "" when absent; read back only when not empty.
   */
  metadata?: string;
}

/** A committed offset and the metadata stored with it ("" when none was). */
export interface CommittedOffset {
  /** The committed offset, -1 where none is. */
  readonly offset: number;
  /** The metadata committed with it. */
  readonly metadata: string;
}

/** Settings of a {@linkcode GroupMembership}. */
export interface MembershipSettings {
  /** Group id. */
  groupId: string;
  /** Static member id, or null. */
  groupInstanceId: string | null;
  /** Session timeout sent in JoinGroup. */
  sessionTimeoutMs: number;
  /** Rebalance timeout sent in JoinGroup. */
  rebalanceTimeoutMs: number;
  /** Assignors in order of preference. */
  assignors: readonly Assignor[];
}

/** The outcome of a completed join: this member's generation and assignment. */
export interface JoinOutcome {
  /** Generation joined. */
  generationId: number;
  /** Protocol (assignor) the group chose. */
  protocolName: string;
  /** Partitions assigned to this member. */
  assigned: TopicPartitions[];
}

/** Errors after which the member must join again rather than fail. */
export const REJOIN_CODES: ReadonlySet<number> = new Set([
  ErrorCode.REBALANCE_IN_PROGRESS,
  ErrorCode.ILLEGAL_GENERATION,
  ErrorCode.UNKNOWN_MEMBER_ID,
]);

/** The protocol type of consumer groups. */
export const CONSUMER_PROTOCOL_TYPE = "consumer";

const _JOIN_EXTRA_MS = 5000;

/**
 * The membership of one consumer in one group.
 *
 * @example
 * ```ts ignore
 * const m = new GroupMembership(cluster, settings);
 * const { assigned } = await m.join(["orders"], [], Date.now() + 60_000);
 * await m.heartbeat();
 * ```
 */
export class GroupMembership {
  /** Member id the coordinator gave us ("" before the first join). */
  memberId = "";
  /** Generation of the last completed join (-1 before one). */
  generationId = -1;
  readonly #cluster: Cluster;
  readonly #s: MembershipSettings;
  #conn: Promise<BrokerConnection> | null = null;

  /** Creates a membership; nothing is sent until `join`. */
  constructor(cluster: Cluster, settings: MembershipSettings) {
    this.#cluster = cluster;
    this.#s = settings;
  }

  /** The settings. */
  get settings(): MembershipSettings {
    return this.#s;
  }

  /** A connection to the coordinator, looked up and dialled on demand. */
  coordinator(): Promise<BrokerConnection> {
    const current = this.#conn;
    if (current !== null) {
      return current.then(
        (c) => c.isClosed ? this.#redial(current) : c,
        () => this.#redial(current),
      );
    }
    return this.#redial(null);
  }

  #redial(seen: Promise<BrokerConnection> | null): Promise<BrokerConnection> {
    if (this.#conn !== seen && this.#conn !== null) return this.coordinator();
    const next = (async () => {
      const url = await findCoordinatorUrl(this.#cluster, this.#s.groupId);
      const { dial, clientId, requestTimeoutMs } = this.#cluster.settings;
      return await BrokerConnection.open(url, dial, { clientId, requestTimeoutMs });
    })();
    this.#conn = next;
    next.catch(() => {
      if (this.#conn === next) this.#conn = null;
    });
    return next;
  }

  /** Forgets the coordinator (after NOT_COORDINATOR or a lost connection). */
  coordinatorLost(): void {
    const old = this.#conn;
    this.#conn = null;
    old?.then((c) => c.close(), () => {});
  }

  /** Closes the coordinator connection. */
  close(): void {
    this.coordinatorLost();
  }

  /**
   * Joins (or rejoins) the group and waits for this member's assignment, retrying coordinator
   * moves and rebalances until `deadlineMs`. `owned` goes into the subscription so that
   * cooperative assignors can leave partitions where they are.
   */
  async join(
    topics: readonly string[],
    owned: readonly TopicPartitions[],
    deadlineMs: number,
  ): Promise<JoinOutcome> {
    for (let attempt = 0;; attempt++) {
      try {
        const outcome = await this.#joinOnce(topics, owned);
        if (outcome !== null) return outcome;
      } catch (error) {
        if (!isRetriable(error)) throw error;
        // A typed broker error says whether the coordinator moved; anything else lost the link.
        if (!(error instanceof BrokerError) || COORDINATOR_MOVED_CODES.has(error.kafkaCode)) {
          this.coordinatorLost();
        }
      }
      const waitMs = this.#cluster.backoffMs(Math.min(attempt, 4));
      if (this.#cluster.clock.nowMs() + waitMs > deadlineMs) {
        throw new TimeoutError(
          "GROUP_JOIN_TIMEOUT",
          `Cannot join group ${this.#s.groupId} as the deadline passed after ${
            attempt + 1
          } attempts`,
        );
      }
      await sleep(this.#cluster.clock, waitMs);
    }
  }

  /** One JoinGroup + SyncGroup round; null means "try again now". */
  async #joinOnce(
    topics: readonly string[],
    owned: readonly TopicPartitions[],
  ): Promise<JoinOutcome | null> {
    const conn = await this.coordinator();
    const join = await this.#sendJoin(conn, topics, owned);
    if (join.errorCode === ErrorCode.MEMBER_ID_REQUIRED) {
      // KIP-394: the coordinator handed out our id; the next join must carry it.
      this.memberId = join.memberId;
      return null;
    }
    if (join.errorCode === ErrorCode.UNKNOWN_MEMBER_ID) {
      this.memberId = "";
      return null;
    }
    if (join.errorCode === ErrorCode.REBALANCE_IN_PROGRESS) return null;
    if (join.errorCode !== ErrorCode.NONE) throw brokerError(join.errorCode);
    this.memberId = join.memberId;
    const protocolName = join.protocolName ?? "";
    const assignments = join.leader === join.memberId && !join.skipAssignment
      ? await this.#lead(join, protocolName)
      : [];
    const sync = await this.#sendSync(conn, join.generationId, protocolName, assignments);
    if (sync.errorCode === ErrorCode.UNKNOWN_MEMBER_ID) this.memberId = "";
    if (REJOIN_CODES.has(sync.errorCode)) return null;
    if (sync.errorCode !== ErrorCode.NONE) throw brokerError(sync.errorCode);
    this.generationId = join.generationId;
    return {
      generationId: join.generationId,
      protocolName,
      assigned: decodeAssignment(sync.assignment).assignedPartitions,
    };
  }

  async #sendJoin(
    conn: BrokerConnection,
    topics: readonly string[],
    owned: readonly TopicPartitions[],
  ): Promise<JoinGroupResponse> {
    const version = conn.version(JOIN_GROUP);
    const req = createJoinGroupRequest();
    req.groupId = this.#s.groupId;
    req.sessionTimeoutMs = this.#s.sessionTimeoutMs;
    req.rebalanceTimeoutMs = this.#s.rebalanceTimeoutMs;
    req.memberId = this.memberId;
    if (this.#s.groupInstanceId !== null) {
      if (version < 5) {
        throw brokerError(ErrorCode.UNSUPPORTED_VERSION, {
          brokerMessage: "static membership needs JoinGroup v5",
        });
      }
      req.groupInstanceId = this.#s.groupInstanceId;
    }
    req.protocolType = CONSUMER_PROTOCOL_TYPE;
    req.protocols = this.#s.assignors.map((a) => ({
      name: a.name,
      metadata: encodeSubscription({
        version: a.subscriptionVersion,
        topics: [...topics],
        userData: a.userData(this.generationId),
        ownedPartitions: [...owned],
        generationId: this.generationId,
        rackId: null,
      }),
    }));
    const res = await conn.request(JOIN_GROUP, req, {
      timeoutMs: this.#s.rebalanceTimeoutMs + _JOIN_EXTRA_MS,
    });
    if (res === null) throw brokerError(ErrorCode.UNKNOWN_SERVER_ERROR);
    return res;
  }

  /** The leader's job: decode every subscription, learn partition counts, run the assignor. */
  async #lead(
    join: JoinGroupResponse,
    protocolName: string,
  ): Promise<{ memberId: string; assignment: Uint8Array }[]> {
    const assignor = assignorByName(protocolName);
    const members: AssignorMember[] = join.members.map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      subscription: decodeSubscription(m.metadata),
    }));
    const partitionsPerTopic = new Map<string, number>();
    const topics = new Set(members.flatMap((m) => m.subscription.topics));
    for (const topic of [...topics].sort()) {
      this.#cluster.metadata.invalidate(topic);
      try {
        partitionsPerTopic.set(topic, (await this.#cluster.topic(topic)).partitions.length);
      } catch (error) {
        // A subscribed topic that does not exist (yet) simply has no partitions to assign.
        if (!(error instanceof BrokerError)) throw error;
      }
    }
    const result = assignor.assign(members, partitionsPerTopic);
    // Write the oldest version any member reads, so that older clients can decode it.
    const version = Math.min(
      CONSUMER_PROTOCOL_VERSION_MAX,
      ...members.map((m) => m.subscription.version),
    );
    return members.map((m) => ({
      memberId: m.memberId,
      assignment: encodeAssignment({
        version: Math.max(0, version),
        assignedPartitions: result.get(m.memberId) ?? [],
        userData: new Uint8Array(0),
      }),
    }));
  }

  async #sendSync(
    conn: BrokerConnection,
    generationId: number,
    protocolName: string,
    assignments: { memberId: string; assignment: Uint8Array }[],
  ) {
    const version = conn.version(SYNC_GROUP);
    const req = createSyncGroupRequest();
    req.groupId = this.#s.groupId;
    req.generationId = generationId;
    req.memberId = this.memberId;
    if (version >= 3) req.groupInstanceId = this.#s.groupInstanceId;
    if (version >= 5) {
      req.protocolType = CONSUMER_PROTOCOL_TYPE;
      req.protocolName = protocolName;
    }
    req.assignments = assignments;
    const res = await conn.request(SYNC_GROUP, req, {
      timeoutMs: this.#s.rebalanceTimeoutMs + _JOIN_EXTRA_MS,
    });
    if (res === null) throw brokerError(ErrorCode.UNKNOWN_SERVER_ERROR);
    return res;
  }

  /** Sends one Heartbeat and returns its error code (transport errors are thrown). */
  async heartbeat(): Promise<number> {
    const conn = await this.coordinator();
    const req = createHeartbeatRequest();
    req.groupId = this.#s.groupId;
    req.generationId = this.generationId;
    req.memberId = this.memberId;
    if (conn.version(HEARTBEAT) >= 3) req.groupInstanceId = this.#s.groupInstanceId;
    // A heartbeat that waits longer than the session is worthless: the session is over.
    const res = await conn.request(HEARTBEAT, req, { timeoutMs: this.#s.sessionTimeoutMs });
    return res?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
  }

  /** Leaves the group (best effort: the session timeout removes us anyway). */
  async leave(): Promise<void> {
    if (this.memberId === "") return;
    const conn = await this.coordinator();
    const req = createLeaveGroupRequest();
    req.groupId = this.#s.groupId;
    if (conn.version(LEAVE_GROUP) >= 3) {
      req.members = [{
        memberId: this.memberId,
        groupInstanceId: this.#s.groupInstanceId,
        reason: null,
      }];
    } else req.memberId = this.memberId;
    await conn.request(LEAVE_GROUP, req);
    this.memberId = "";
    this.generationId = -1;
  }

  /**
   * Commits `offsets` under the current generation (or as a group-less "simple" commit when
   * this member never joined). Throws the first partition's error as a typed `BrokerError`.
   */
  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    const conn = await this.coordinator();
    const version = conn.version(OFFSET_COMMIT);
    const req = createOffsetCommitRequest();
    req.groupId = this.#s.groupId;
    req.generationIdOrMemberEpoch = this.generationId;
    req.memberId = this.memberId;
    if (version >= 7) req.groupInstanceId = this.#s.groupInstanceId;
    const byTopic = new Map<string, TopicPartitionOffset[]>();
    for (const o of offsets) byTopic.set(o.topic, [...byTopic.get(o.topic) ?? [], o]);
    req.topics = [...byTopic].map(([name, list]) => ({
      name,
      partitions: list.map((o) => ({
        partitionIndex: o.partition,
        committedOffset: BigInt(o.offset),
        committedLeaderEpoch: -1,
        commitTimestamp: -1n,
        committedMetadata: o.metadata ?? "",
      })),
    }));
    const res = await conn.request(OFFSET_COMMIT, req);
    for (const t of res?.topics ?? []) {
      for (const p of t.partitions) {
        if (p.errorCode !== ErrorCode.NONE) {
          throw brokerError(p.errorCode, { topic: t.name, partition: p.partitionIndex });
        }
      }
    }
  }

  /**
   * Committed offsets of `partitions` (-1 where none is committed), by "topic\0partition";
   * null asks for all of the group's.
   */
  async fetchCommitted(
    partitions: readonly TopicPartitions[] | null,
  ): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const [k, c] of await this.fetchCommittedWithMetadata(partitions)) out.set(k, c.offset);
    return out;
  }

  /** As {@linkcode fetchCommitted}, with the metadata stored beside each offset. */
  async fetchCommittedWithMetadata(
    partitions: readonly TopicPartitions[] | null,
  ): Promise<Map<string, CommittedOffset>> {
    const out = new Map<string, CommittedOffset>();
    if (partitions !== null && partitions.length === 0) return out;
    const conn = await this.coordinator();
    const req = createOffsetFetchRequest();
    req.groupId = this.#s.groupId;
    // null asks for every partition the group has an offset for.
    req.topics = partitions === null
      ? null
      : partitions.map((tp) => ({ name: tp.topic, partitionIndexes: [...tp.partitions] }));
    // Wait for pending transactional commits rather than read around them (KIP-447).
    if (conn.version(OFFSET_FETCH) >= 7) req.requireStable = true;
    const res = await conn.request(OFFSET_FETCH, req);
    if (res === null) throw brokerError(ErrorCode.UNKNOWN_SERVER_ERROR);
    if (res.errorCode !== ErrorCode.NONE) throw brokerError(res.errorCode);
    for (const t of res.topics) {
      for (const p of t.partitions) {
        if (p.errorCode !== ErrorCode.NONE) {
          throw brokerError(p.errorCode, { topic: t.name, partition: p.partitionIndex });
        }
        out.set(`${t.name}\0${p.partitionIndex}`, {
          offset: Number(p.committedOffset),
          metadata: p.metadata ?? "",
        });
      }
    }
    return out;
  }
}
