/**
 * {@linkcode ClusterMetadata} backed by the controller quorum, for brokers in a cluster. Reads
 * come from the session's cache; writes go to the controllers and return once the cache shows
 * them. Producer ids are reserved in blocks so most allocations need no round trip.
 *
 * @module
 */

import type { BrokerInfo, ClusterMetadata, TopicMeta } from "../../model/cluster_metadata.ts";
import { MetadataError } from "../metadata/errors.ts";
import type { PartitionRecord, TopicRecord } from "../metadata/state_machine.ts";
import type { ControllerSession } from "./controller_session.ts";
import type { EtlModuleRef } from "../../model/etl_topic_config.ts";

/** Producer ids reserved per controller round trip. */
const PRODUCER_ID_BLOCK = 1000;

/**
 * Cluster metadata from the controllers.
 *
 * @example
 * ```ts ignore
 * const session = await ControllerSession.connect({
 *   endpoints: cfg.controller.endpoints,
 *   broker: { nodeId, host, port, rack: cfg.broker.rack_id || null },
 *   heartbeatIntervalMs: cfg.controller.heartbeat_interval_ms,
 *   logger,
 * });
 * const metadata = new RemoteClusterMetadata(session);
 * const manifest = new RemoteObjectManifest(session);
 * ```
 */
export class RemoteClusterMetadata implements ClusterMetadata {
  readonly #s: ControllerSession;
  #pidNext = 0n;
  #pidLimit = 0n;
  #pidChain: Promise<unknown> = Promise.resolve();

  constructor(session: ControllerSession) {
    this.#s = session;
  }

  get clusterId(): string {
    return this.#s.cache.clusterId;
  }

  /**
   * Kafka clients send admin requests to "the controller"; every broker forwards them to the
   * quorum, so each broker names itself.
   */
  get controllerId(): number {
    return this.#s.broker.nodeId;
  }

  brokers(): readonly BrokerInfo[] {
    return this.#s.cache.brokers().filter((b) => !b.fenced).map((b) => ({
      nodeId: b.nodeId,
      host: b.host,
      port: b.port,
      rack: b.rack,
    }));
  }

  topics(): readonly TopicMeta[] {
    return this.#s.cache.topics();
  }

  topic(name: string): TopicMeta | undefined {
    return this.#s.cache.topic(name);
  }

  async createTopic(
    name: string,
    partitions: number,
    replicationFactor: number,
    configs: Readonly<Record<string, string | null>> = {},
  ): Promise<TopicMeta> {
    const value = await this.#propose({
      v: 1,
      op: "create_topic",
      name,
      partitions,
      replicationFactor,
      configs: { ...configs },
      topicId: "",
    });
    return this.topic(name) ?? (value as TopicRecord);
  }

  async deleteTopic(name: string): Promise<void> {
    await this.#propose({ v: 1, op: "delete_topic", name });
  }

  async createPartitions(name: string, totalCount: number): Promise<TopicMeta> {
    const value = await this.#propose({ v: 1, op: "create_partitions", name, totalCount });
    return this.topic(name) ?? (value as TopicRecord);
  }

  async alterTopicConfig(
    name: string,
    configs: Readonly<Record<string, string | null>>,
  ): Promise<TopicMeta> {
    const value = await this.#propose({
      v: 1,
      op: "alter_topic_config",
      name,
      configs: { ...configs },
    });
    return this.topic(name) ?? (value as TopicRecord);
  }

  allocateProducerId(): Promise<bigint> {
    // Chained so that concurrent callers share one block refill.
    const next = this.#pidChain.then(async () => {
      if (this.#pidNext >= this.#pidLimit) {
        const r = await this.#s.client.call<{ firstId: string; count: number }>("Propose", {
          v: 1,
          key: crypto.randomUUID(),
          cmd: { v: 1, op: "allocate_producer_ids", count: PRODUCER_ID_BLOCK },
        });
        this.#pidNext = BigInt(r.value.firstId);
        this.#pidLimit = this.#pidNext + BigInt(r.value.count);
      }
      return this.#pidNext++;
    });
    this.#pidChain = next.catch(() => {});
    return next;
  }

  onChange(listener: (topics: readonly string[]) => void): void {
    this.#s.cache.onChange((topics, brokersChanged) => {
      // Broker changes move leaders without changing topic names; report every topic then.
      listener(brokersChanged ? this.#s.cache.topics().map((t) => t.name) : topics);
    });
  }

  /** {@linkcode ClusterMetadata.etlModule}, from the session's cache. */
  etlModule(name: string): EtlModuleRef | undefined {
    return this.#s.cache.wasmModule(name);
  }

  /** {@linkcode ClusterMetadata.etlModuleBytes}: one gRPC call to any controller. */
  async etlModuleBytes(sha256: string): Promise<Uint8Array> {
    const r = await this.#s.client.call<{ bytesBase64: string }>("GetWasmModule", {
      v: 1,
      sha256,
    });
    return Uint8Array.from(atob(r.value.bytesBase64), (c) => c.charCodeAt(0));
  }

  /** A partition's full replicated state, including the `partitionEpoch` ISR changes quote. */
  replicationEndpoint(nodeId: number): { host: string; port: number } | undefined {
    const b = this.#s.cache.brokers().find((x) => x.nodeId === nodeId);
    return b?.endpoints["replication"];
  }

  /** {@linkcode ClusterMetadata.proposeIsr}: the partition epoch is the one this broker last saw. */
  async proposeIsr(
    topic: string,
    partition: number,
    leaderEpoch: number,
    isr: readonly number[],
  ): Promise<void> {
    const state = this.partitionState(topic, partition);
    if (state === undefined) {
      throw new MetadataError("UNKNOWN_TOPIC_OR_PARTITION", `${topic}/${partition} is unknown`);
    }
    await this.alterIsr(
      topic,
      partition,
      { leaderEpoch, partitionEpoch: state.partitionEpoch },
      isr,
    );
  }

  partitionState(topic: string, partition: number): PartitionRecord | undefined {
    return this.#s.cache.topic(topic)?.partitions[partition];
  }

  /**
   * Proposes an ISR change for a partition this broker leads. Returns the new partition state;
   * throws FENCED_LEADER_EPOCH / INVALID_UPDATE_VERSION when the broker's view is stale.
   */
  async alterIsr(
    topic: string,
    partition: number,
    expected: { leaderEpoch: number; partitionEpoch: number },
    isr: readonly number[],
  ): Promise<PartitionRecord> {
    return await this.#s.write<PartitionRecord>("AlterIsr", {
      v: 1,
      nodeId: this.#s.broker.nodeId,
      brokerEpoch: this.#s.brokerEpoch,
      topic,
      partition,
      leaderEpoch: expected.leaderEpoch,
      partitionEpoch: expected.partitionEpoch,
      isr: [...isr],
    });
  }

  /** The session this view reads from. */
  get session(): ControllerSession {
    return this.#s;
  }

  async #propose(cmd: Record<string, unknown>): Promise<unknown> {
    try {
      return await this.#s.write("Propose", { v: 1, cmd });
    } catch (err) {
      if (err instanceof MetadataError) throw err;
      throw new MetadataError("UNAVAILABLE", `Cannot reach the controllers: ${String(err)}`, {
        cause: err,
      });
    }
  }
}
