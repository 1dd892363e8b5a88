/**
 * A consumer that is a member of a consumer group: the coordinator spreads the partitions of
 * the subscribed topics over the members, and positions are committed to the group so that a
 * restarted or replacing member goes on where the last one stopped.
 *
 * Rebalances happen inside `poll`, as in the Java client: a heartbeat in the background learns
 * that the group is rebalancing, and the next `poll` rejoins, running the rebalance listener.
 *
 * @module
 */

import { ErrorCode } from "../protocol/kafka/errors.ts";
import { type Assignor, assignorByName, type AssignorName } from "./assignors.ts";
import type { Cluster } from "./cluster.ts";
import { sleep, type TimerHandle } from "../ops/clock.ts";
import {
  Consumer,
  type ConsumerOptions,
  type ConsumerRecord,
  type PollOptions,
  type TopicPartition,
} from "./consumer.ts";
import type { TopicPartitions } from "./consumer_protocol.ts";
import { COORDINATOR_MOVED_CODES } from "./coordinator_lookup.ts";
import { BrokerError, brokerError, ClosedError, isRetriable } from "./errors.ts";
import {
  GroupMembership,
  type JoinOutcome,
  REJOIN_CODES,
  type TopicPartitionOffset,
} from "./group_membership.ts";

/** What a rebalance listener learns besides the partitions. */
export interface RebalanceContext {
  /** The generation now joined (for `revoked`, the one being left). */
  generationId: number;
  /** This member's id. */
  memberId: string;
  /** Every partition this member owns after the callback's change. */
  assignment: TopicPartition[];
}

/** Called around ownership changes; a returned promise is awaited before the consumer goes on. */
export interface RebalanceListener {
  /** Partitions newly owned; their positions are already set from the committed offsets. */
  assigned?(partitions: TopicPartition[], context: RebalanceContext): unknown;
  /**
   * Partitions about to be given up (their offsets are already committed with auto-commit).
   * Commit anything else you must now: after this, another member may consume them.
   */
  revoked?(partitions: TopicPartition[], context: RebalanceContext): unknown;
}

/** Options of a group consumer: the {@linkcode ConsumerOptions} plus the group's. */
export interface GroupConsumerOptions extends ConsumerOptions {
  /** The group to join. */
  groupId: string;
  /** Static membership id (KIP-345): a restart within the session timeout keeps its partitions. @default {none} */
  groupInstanceId?: string;
  /** The coordinator drops a member that sent no heartbeat for this long (broker range 6000+). @default {10000} */
  sessionTimeoutMs?: number;
  /** Longest the group waits for members to rejoin in a rebalance. @default {60000} */
  rebalanceTimeoutMs?: number;
  /** Time between heartbeats; keep it under a third of the session timeout. @default {3000} */
  heartbeatIntervalMs?: number;
  /** Commit the positions of consumed records in the background (inside `poll`). @default {true} */
  autoCommit?: boolean;
  /** Time between automatic commits. @default {5000} */
  autoCommitIntervalMs?: number;
  /**
   * Assignors in order of preference. Mixing cooperative and eager assignors makes this member
   * rebalance eagerly (as the Java client does). `RoundRobinAssigner` is kafkajs's protocol:
   * keep it in the list to share a group with kafkajs consumers.
   * @default {["range", "RoundRobinAssigner"]}
   */
  assignors?: readonly AssignorName[];
  /** Rebalance listener. @default {none} */
  onRebalance?: RebalanceListener;
}

/** Longest one slice of `poll` fetches before it looks at the group again. */
const _POLL_SLICE_MS = 500;
/** How long `poll` idles between checks while it owns no partition. */
const _IDLE_SLICE_MS = 50;

function _key(topic: string, partition: number): string {
  return `${topic}\0${partition}`;
}

function _grouped(tps: readonly TopicPartition[]): TopicPartitions[] {
  const m = new Map<string, number[]>();
  for (const tp of tps) m.set(tp.topic, [...m.get(tp.topic) ?? [], tp.partition]);
  return [...m].map(([topic, partitions]) => ({ topic, partitions }));
}

function _minus(a: readonly TopicPartition[], b: readonly TopicPartition[]): TopicPartition[] {
  const keys = new Set(b.map((tp) => _key(tp.topic, tp.partition)));
  return a.filter((tp) => !keys.has(_key(tp.topic, tp.partition)));
}

function _checkPositive(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot create the group consumer as ${name} must be a positive integer: current value is ${value}`,
    );
  }
}

interface _Settings {
  groupId: string;
  groupInstanceId: string | null;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  heartbeatIntervalMs: number;
  autoCommit: boolean;
  autoCommitIntervalMs: number;
  assignors: Assignor[];
  onRebalance: RebalanceListener;
}

function _settings(options: GroupConsumerOptions): _Settings {
  if (typeof options.groupId !== "string" || options.groupId === "") {
    throw new RangeError("Cannot create the group consumer as groupId is empty");
  }
  const s: _Settings = {
    groupId: options.groupId,
    groupInstanceId: options.groupInstanceId ?? null,
    sessionTimeoutMs: options.sessionTimeoutMs ?? 10_000,
    rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? 60_000,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 3000,
    autoCommit: options.autoCommit ?? true,
    autoCommitIntervalMs: options.autoCommitIntervalMs ?? 5000,
    assignors: (options.assignors ?? ["range", "RoundRobinAssigner"]).map(assignorByName),
    onRebalance: options.onRebalance ?? {},
  };
  for (
    const name of [
      "sessionTimeoutMs",
      "rebalanceTimeoutMs",
      "heartbeatIntervalMs",
      "autoCommitIntervalMs",
    ] as const
  ) _checkPositive(name, s[name]);
  if (s.heartbeatIntervalMs >= s.sessionTimeoutMs) {
    throw new RangeError(
      `Cannot create the group consumer as heartbeatIntervalMs must be below sessionTimeoutMs (${s.sessionTimeoutMs}): current value is ${s.heartbeatIntervalMs}`,
    );
  }
  if (s.assignors.length === 0) {
    throw new RangeError("Cannot create the group consumer as assignors is empty");
  }
  if (s.groupInstanceId === "") {
    throw new RangeError("Cannot create the group consumer as groupInstanceId is empty");
  }
  return s;
}

/**
 * A consumer-group member. Create one with `client.consumer({ groupId })`, then `subscribe`
 * and `poll` in a loop.
 *
 * **Delivery contract: at least once.** A record counts as processed once the application
 * calls `poll` again after receiving it (or commits it explicitly). Auto-commit, and the commit
 * made before partitions are revoked or the consumer closes, store the position after the last
 * record handed out by `poll`, never beyond it. So a record is never skipped, but the records
 * handed out since the last successful commit are delivered again, to this or another member,
 * after a crash, a session timeout, or a commit that failed because the group had already moved
 * to a new generation. Make processing idempotent, or commit with `commitOffsets` after each
 * batch to narrow that window. Within one generation a partition belongs to one member only.
 *
 * @example
 * ```ts ignore
 * const consumer = client.consumer({
 *   groupId: "billing",
 *   autoOffsetReset: "earliest",
 *   onRebalance: { assigned: (tps) => console.log("got", tps) },
 * });
 * consumer.subscribe(["orders"]);
 * for (;;) {
 *   for (const record of await consumer.poll({ timeoutMs: 1000 })) handle(record);
 * }
 * ```
 */
export class GroupConsumer extends Consumer {
  readonly #cluster: Cluster;
  readonly #s: _Settings;
  readonly #m: GroupMembership;
  readonly #cooperative: boolean;
  readonly #lastCommitted = new Map<string, number>();
  #topics: string[] = [];
  #needsRejoin = false;
  /** The member lost its generation (session expired): its partitions are gone, uncommitted. */
  #lost = false;
  #joined = false;
  #heartbeatTimer: TimerHandle | null = null;
  #heartbeatEpoch = 0;
  #fatal: unknown = null;
  #commitChain: Promise<void> = Promise.resolve();
  #nextAutoCommitMs = 0;
  #closing = false;

  /** Use `client.consumer({ groupId })`; options are validated here. */
  constructor(cluster: Cluster, options: GroupConsumerOptions) {
    const { groupId: _g, ...base } = options;
    super(cluster, base);
    this.#cluster = cluster;
    this.#s = _settings(options);
    this.#cooperative = this.#s.assignors.every((a) => a.cooperative);
    this.#m = new GroupMembership(cluster, {
      groupId: this.#s.groupId,
      groupInstanceId: this.#s.groupInstanceId,
      sessionTimeoutMs: this.#s.sessionTimeoutMs,
      rebalanceTimeoutMs: this.#s.rebalanceTimeoutMs,
      assignors: this.#s.assignors,
    });
  }

  /** The group id. */
  get groupId(): string {
    return this.#s.groupId;
  }

  /** This member's id and generation (`""` and -1 before the first join). */
  get generation(): { memberId: string; generationId: number } {
    return { memberId: this.#m.memberId, generationId: this.#m.generationId };
  }

  /** Subscribes to `topics` (replacing any earlier subscription); the next `poll` joins. */
  subscribe(topics: readonly string[]): void {
    this.#checkUsable();
    if (topics.length === 0 || topics.some((t) => typeof t !== "string" || t === "")) {
      throw new RangeError("Cannot subscribe as topics must be non-empty topic names");
    }
    const next = [...new Set(topics)].sort();
    if (next.join("\0") !== this.#topics.join("\0")) this.#needsRejoin = true;
    this.#topics = next;
  }

  /** The subscribed topics. */
  subscription(): string[] {
    return [...this.#topics];
  }

  /** Manual assignment is for consumers without a subscription (offsets still commit). */
  override assign(partitions: readonly TopicPartition[]): void {
    if (this.#topics.length > 0) {
      throw new RangeError("Cannot assign partitions as the consumer is subscribed to topics");
    }
    super.assign(partitions);
  }

  /**
   * Joins or rejoins the group when needed, commits on the auto-commit schedule, and returns
   * the next records of the owned partitions (see {@linkcode Consumer.poll}).
   */
  override async poll(options: PollOptions = {}): Promise<ConsumerRecord[]> {
    this.#checkUsable();
    const deadlineMs = this.#cluster.clock.nowMs() + (options.timeoutMs ?? 1000);
    for (;;) {
      if (this.#topics.length > 0 && this.#needsRejoin) await this.#rebalance();
      this.#maybeAutoCommit();
      const leftMs = Math.max(0, deadlineMs - this.#cluster.clock.nowMs());
      const records = await super.poll({ ...options, timeoutMs: Math.min(leftMs, _POLL_SLICE_MS) });
      this.#checkUsable();
      if (records.length > 0 || this.#cluster.clock.nowMs() >= deadlineMs) return records;
      if (this.assignment().length === 0 || this.#everythingPaused()) {
        await sleep(this.#cluster.clock, Math.min(leftMs, _IDLE_SLICE_MS));
      }
    }
  }

  #everythingPaused(): boolean {
    return this.assignment().every((tp) =>
      this.paused().some((p) => p.topic === tp.topic && p.partition === tp.partition)
    );
  }

  /**
   * Commits offsets and waits for the coordinator to store them. Without `offsets`, commits
   * the position of every owned partition (one past the last record `poll` returned). Each
   * offset is the next record to consume. Rejects with a `BrokerError`: `REBALANCE_IN_PROGRESS`,
   * `ILLEGAL_GENERATION` or `UNKNOWN_MEMBER_ID` mean the partitions may already belong to
   * another member (the next `poll` rejoins).
   */
  async commitOffsets(offsets?: Iterable<TopicPartitionOffset>): Promise<void> {
    this.#checkUsable();
    const list = offsets === undefined ? this.#positions() : [...offsets];
    for (const o of list) {
      if (!Number.isSafeInteger(o.offset) || o.offset < 0) {
        throw new RangeError(
          `Cannot commit as the offset must be >= 0: current value is ${o.offset}`,
        );
      }
    }
    const run = this.#commitChain.then(() => this.#commitNow(list));
    this.#commitChain = run.catch(() => {});
    await run;
  }

  /**
   * Starts a commit without waiting (commits run in order). `onComplete` gets null or the
   * error; without it, errors are dropped, as a later commit supersedes this one.
   */
  commitAsync(
    offsets?: Iterable<TopicPartitionOffset>,
    onComplete?: (error: unknown | null) => void,
  ): void {
    this.commitOffsets(offsets).then(() => onComplete?.(null), (e) => onComplete?.(e));
  }

  /**
   * The committed offsets of `partitions` (-1 where the group has none), each with the
   * `metadata` committed beside it when that is not empty.
   */
  async committed(partitions: readonly TopicPartition[]): Promise<TopicPartitionOffset[]> {
    const map = await this.#withCoordinator(() =>
      this.#m.fetchCommittedWithMetadata(_grouped(partitions))
    );
    return partitions.map((tp) => {
      const c = map.get(_key(tp.topic, tp.partition));
      const out: TopicPartitionOffset = {
        topic: tp.topic,
        partition: tp.partition,
        offset: c?.offset ?? -1,
      };
      if (c !== undefined && c.metadata !== "") out.metadata = c.metadata;
      return out;
    });
  }

  /**
   * Commits (with auto-commit), runs the `revoked` listener, leaves the group and stops. A
   * static member (groupInstanceId) does not leave: it keeps its partitions until the session
   * timeout, so that a restart does not move them.
   */
  override async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#stopHeartbeat();
    try {
      if (this.#joined && !this.#lost) {
        if (this.#s.autoCommit) {
          await this.#commitChain;
          await this.#commitNow(this.#positions()).catch(() => {});
        }
        await this.#callRevoked(this.assignment(), []);
        if (this.#s.groupInstanceId === null) await this.#m.leave().catch(() => {});
      }
    } finally {
      this.#m.close();
      await super.close();
    }
  }

  #checkUsable(): void {
    if (this.#closing) throw new ClosedError("consumer");
    if (this.#fatal !== null) throw this.#fatal;
  }

  // --------------------------------------------------------------- rebalancing

  async #rebalance(): Promise<void> {
    this.#stopHeartbeat();
    this.#needsRejoin = false;
    const current = this.assignment();
    if (this.#lost) {
      // The group moved on without us: the partitions are someone else's, nothing to commit.
      await this.#callRevoked(current, []);
      super.assign([]);
      this.#lost = false;
    } else if (!this.#cooperative) await this.#revoke(current, []);
    const owned = this.#cooperative ? _grouped(this.assignment()) : [];
    let outcome: JoinOutcome;
    try {
      const deadlineMs = this.#cluster.clock.nowMs() + 2 * this.#s.rebalanceTimeoutMs;
      outcome = await this.#m.join(this.#topics, owned, deadlineMs);
    } catch (error) {
      this.#needsRejoin = true;
      if (!isRetriable(error)) this.#fatal = error;
      throw error;
    }
    await this.#apply(outcome);
    this.#joined = true;
    this.#startHeartbeat();
  }

  async #apply(outcome: JoinOutcome): Promise<void> {
    const subscribed = new Set(this.#topics);
    const next: TopicPartition[] = outcome.assigned.flatMap((tp) =>
      subscribed.has(tp.topic)
        ? tp.partitions.map((partition) => ({ topic: tp.topic, partition }))
        : []
    );
    const current = this.assignment();
    const revoked = _minus(current, next);
    const added = _minus(next, current);
    if (revoked.length > 0) {
      await this.#revoke(revoked, _minus(current, revoked));
      // Cooperative: the partitions we gave up wait for a second rebalance to find their owner.
      this.#needsRejoin = true;
    }
    super.assign(next);
    await this.#initPositions(added);
    await this.#s.onRebalance.assigned?.(added, this.#context(next));
  }

  /** Commits the revoked partitions' positions (auto-commit), then tells the listener. */
  async #revoke(revoked: TopicPartition[], remaining: TopicPartition[]): Promise<void> {
    if (revoked.length === 0) return;
    if (this.#s.autoCommit) {
      const keys = new Set(revoked.map((tp) => _key(tp.topic, tp.partition)));
      const offsets = this.#positions().filter((o) => keys.has(_key(o.topic, o.partition)));
      await this.#commitChain;
      // A failed commit means the records are delivered again: at-least-once, never lost.
      await this.#commitNow(offsets).catch(() => {});
    }
    await this.#callRevoked(revoked, remaining);
    super.assign(remaining);
  }

  async #callRevoked(revoked: TopicPartition[], remaining: TopicPartition[]): Promise<void> {
    if (revoked.length === 0) return;
    await this.#s.onRebalance.revoked?.(revoked, this.#context(remaining));
  }

  #context(assignment: TopicPartition[]): RebalanceContext {
    return {
      generationId: this.#m.generationId,
      memberId: this.#m.memberId,
      assignment: assignment.map((tp) => ({ ...tp })),
    };
  }

  /** Sets positions of newly owned partitions from the group's committed offsets. */
  async #initPositions(added: TopicPartition[]): Promise<void> {
    if (added.length === 0) return;
    const committed = await this.#withCoordinator(() => this.#m.fetchCommitted(_grouped(added)));
    for (const tp of added) {
      const key = _key(tp.topic, tp.partition);
      const offset = committed.get(key) ?? -1;
      this.#lastCommitted.set(key, offset);
      // No committed offset: the position stays unset and autoOffsetReset decides.
      if (offset >= 0) await this.seek(tp, offset);
    }
  }

  // ------------------------------------------------------------------ commits

  /** Positions that moved since they were last committed. */
  #positions(): TopicPartitionOffset[] {
    const out: TopicPartitionOffset[] = [];
    for (const tp of this.assignment()) {
      const offset = this.position(tp);
      if (offset === null || this.#lastCommitted.get(_key(tp.topic, tp.partition)) === offset) {
        continue;
      }
      out.push({ topic: tp.topic, partition: tp.partition, offset });
    }
    return out;
  }

  async #commitNow(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    try {
      await this.#withCoordinator(() => this.#m.commit(offsets));
    } catch (error) {
      if (error instanceof BrokerError && REJOIN_CODES.has(error.kafkaCode)) {
        this.#needsRejoin = true;
      }
      throw error;
    }
    for (const o of offsets) this.#lastCommitted.set(_key(o.topic, o.partition), o.offset);
  }

  #maybeAutoCommit(): void {
    if (!this.#s.autoCommit || !this.#joined) return;
    const nowMs = this.#cluster.clock.nowMs();
    if (nowMs < this.#nextAutoCommitMs) return;
    this.#nextAutoCommitMs = nowMs + this.#s.autoCommitIntervalMs;
    this.commitAsync();
  }

  /** Runs a coordinator request, looking the coordinator up again when it moved. */
  async #withCoordinator<T>(op: () => Promise<T>): Promise<T> {
    const deadlineMs = this.#cluster.clock.nowMs() + this.#cluster.settings.requestTimeoutMs;
    return await this.#cluster.retry(op, {
      deadlineMs,
      retryIf: (error) => !(error instanceof BrokerError && REJOIN_CODES.has(error.kafkaCode)),
      onRetry: (error) => {
        if (!(error instanceof BrokerError) || COORDINATOR_MOVED_CODES.has(error.kafkaCode)) {
          this.#m.coordinatorLost();
        }
      },
    });
  }

  // --------------------------------------------------------------- heartbeats

  #startHeartbeat(): void {
    this.#stopHeartbeat();
    const epoch = this.#heartbeatEpoch;
    this.#heartbeatTimer = this.#cluster.clock.setTimer(
      this.#s.heartbeatIntervalMs,
      () => void this.#beat(epoch),
    );
  }

  #stopHeartbeat(): void {
    this.#heartbeatEpoch++;
    if (this.#heartbeatTimer !== null) this.#cluster.clock.clearTimer(this.#heartbeatTimer);
    this.#heartbeatTimer = null;
  }

  async #beat(epoch: number): Promise<void> {
    this.#heartbeatTimer = null;
    let code: number;
    try {
      code = await this.#m.heartbeat();
    } catch {
      // The coordinator is unreachable; look it up again on the next beat.
      code = ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
    if (epoch !== this.#heartbeatEpoch || this.#closing) return;
    if (code === ErrorCode.REBALANCE_IN_PROGRESS) {
      this.#needsRejoin = true;
      return;
    }
    if (code === ErrorCode.ILLEGAL_GENERATION || code === ErrorCode.UNKNOWN_MEMBER_ID) {
      if (code === ErrorCode.UNKNOWN_MEMBER_ID) this.#m.memberId = "";
      this.#lost = true;
      this.#needsRejoin = true;
      return;
    }
    if (code === ErrorCode.FENCED_INSTANCE_ID) {
      this.#fatal = brokerError(code, { brokerMessage: `group ${this.#s.groupId}` });
      return;
    }
    if (COORDINATOR_MOVED_CODES.has(code)) this.#m.coordinatorLost();
    this.#startHeartbeat();
  }
}
