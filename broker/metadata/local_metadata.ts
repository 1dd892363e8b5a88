/**
 * Single-node cluster metadata for `standalone`, kept in a durable JSON file.
 *
 * @module
 */

import {
  InvalidTopicError,
  parseTopicConfig,
  TOPIC_CONFIG_DEFAULTS,
  TOPIC_PARTITIONS_MAX,
  type TopicConfig,
  validateTopicName,
} from "../../model/topic_config.ts";
import {
  type BrokerInfo,
  type ClusterMetadata,
  type PartitionMeta,
  randomTopicId,
  TopicExistsError,
  type TopicMeta,
  UnknownTopicError,
} from "../../model/cluster_metadata.ts";
import { type Disk, systemDisk, writeFileAtomic } from "../../ops/disk.ts";
import { decodeCheckedText, encodeCheckedText } from "./checked_text.ts";

/** Where {@linkcode LocalMetadata} keeps its state. */
export interface MetadataPersistence {
  load(): Promise<string | null>;
  save(text: string): Promise<void>;
}

/** Options of {@linkcode fileMetadataPersistence}. */
export interface FileMetadataPersistenceOptions {
  /** The file system (a `CrashDisk` in power-cut tests). @default systemDisk */
  disk?: Disk;
}

/**
 * A file written through the Disk seam with a checksum header (broker/metadata/checked_text.ts),
 * fsync, an atomic rename and an fsync of its directory, so a crash leaves the old or the new
 * state and a torn or damaged file is refused by checksum. A failed directory fsync fails the
 * save: the rename is not durable without it.
 */
export function fileMetadataPersistence(
  path: string,
  options: FileMetadataPersistenceOptions = {},
): MetadataPersistence {
  const disk = options.disk ?? systemDisk;
  return {
    async load() {
      let bytes: Uint8Array;
      try {
        bytes = await disk.readFile(path);
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) return null;
        throw err;
      }
      return decodeCheckedText(bytes, path);
    },
    save: (text) => writeFileAtomic(disk, path, encodeCheckedText(text)),
  };
}

interface _State {
  v: 1;
  clusterId: string;
  nextProducerId: string;
  topics: TopicMeta[];
}

/** Producer ids are reserved in blocks so that only one write in this many allocations hits disk. */
const PRODUCER_ID_BLOCK = 1000n;

/**
 * Single-node metadata for `standalone`: this broker leads every partition.
 */
export class LocalMetadata implements ClusterMetadata {
  readonly #self: BrokerInfo;
  readonly #store: MetadataPersistence;
  readonly #defaults: Readonly<TopicConfig> | undefined;
  #state: _State = { v: 1, clusterId: "", nextProducerId: "0", topics: [] };
  #producerIdNext = 0n;
  #producerIdLimit = 0n;
  readonly #listeners: ((topics: readonly string[]) => void)[] = [];
  #writeChain: Promise<void> = Promise.resolve();
  readonly #randomId: () => string;

  private constructor(
    self: BrokerInfo,
    store: MetadataPersistence,
    defaults: Readonly<TopicConfig> | undefined,
    randomId: () => string,
  ) {
    this.#self = self;
    this.#store = store;
    this.#defaults = defaults;
    this.#randomId = randomId;
  }

  /** Opens (or creates) the local metadata. */
  static async open(
    self: BrokerInfo,
    store: MetadataPersistence,
    options: { topicDefaults?: Readonly<TopicConfig>; randomId?: () => string } = {},
  ): Promise<LocalMetadata> {
    const randomId = options.randomId ?? randomTopicId;
    const m = new LocalMetadata(self, store, options.topicDefaults, randomId);
    const text = await store.load();
    if (text !== null) {
      const parsed = JSON.parse(text) as _State;
      if (parsed.v !== 1) throw new RangeError(`Cannot read metadata version ${parsed.v}`);
      m.#state = parsed;
    } else {
      m.#state.clusterId = randomId();
      await store.save(JSON.stringify(m.#state));
    }
    m.#producerIdNext = BigInt(m.#state.nextProducerId);
    m.#producerIdLimit = m.#producerIdNext;
    // Leadership follows this broker, whatever id it had when the file was written.
    // Configs added since the file was written take their defaults.
    m.#state.topics = m.#state.topics.map((t) => ({
      ...t,
      config: { ...TOPIC_CONFIG_DEFAULTS, ...t.config },
      partitions: t.partitions.map((p) => ({
        ...p,
        leader: self.nodeId,
        replicas: [self.nodeId],
        isr: [self.nodeId],
      })),
    }));
    return m;
  }

  get clusterId(): string {
    return this.#state.clusterId;
  }

  get controllerId(): number {
    return this.#self.nodeId;
  }

  brokers(): readonly BrokerInfo[] {
    return [this.#self];
  }

  topics(): readonly TopicMeta[] {
    return this.#state.topics;
  }

  topic(name: string): TopicMeta | undefined {
    return this.#state.topics.find((t) => t.name === name);
  }

  async createTopic(
    name: string,
    partitions: number,
    replicationFactor: number,
    configs: Readonly<Record<string, string | null>> = {},
  ): Promise<TopicMeta> {
    validateTopicName(name);
    _checkPartitions(partitions);
    if (!Number.isInteger(replicationFactor) || replicationFactor < 1) {
      throw new InvalidTopicError(
        "INVALID_REPLICATION_FACTOR",
        `Replication factor must be at least 1: current value is ${replicationFactor}`,
      );
    }
    if (replicationFactor > 1) {
      throw new InvalidTopicError(
        "INVALID_REPLICATION_FACTOR",
        `Cannot create topic '${name}' with replication factor ${replicationFactor} as this cluster has 1 broker`,
      );
    }
    const config = parseTopicConfig(configs, this.#defaults);
    if (this.topic(name)) throw new TopicExistsError(name);
    const topic: TopicMeta = {
      name,
      topicId: this.#randomId(),
      partitions: Array.from({ length: partitions }, (_, i) => this.#partition(i)),
      config,
    };
    this.#state.topics = [...this.#state.topics, topic];
    await this.#persist([name]);
    return topic;
  }

  async deleteTopic(name: string): Promise<void> {
    if (!this.topic(name)) throw new UnknownTopicError(name);
    this.#state.topics = this.#state.topics.filter((t) => t.name !== name);
    await this.#persist([name]);
  }

  async createPartitions(name: string, totalCount: number): Promise<TopicMeta> {
    const t = this.topic(name);
    if (!t) throw new UnknownTopicError(name);
    _checkPartitions(totalCount);
    if (totalCount <= t.partitions.length) {
      throw new InvalidTopicError(
        "INVALID_PARTITIONS",
        `Cannot change topic '${name}' to ${totalCount} partitions as it has ${t.partitions.length}: partitions can only be added`,
      );
    }
    const extra = Array.from(
      { length: totalCount - t.partitions.length },
      (_, i) => this.#partition(t.partitions.length + i),
    );
    return await this.#replace(t, { ...t, partitions: [...t.partitions, ...extra] });
  }

  async alterTopicConfig(
    name: string,
    configs: Readonly<Record<string, string | null>>,
  ): Promise<TopicMeta> {
    const t = this.topic(name);
    if (!t) throw new UnknownTopicError(name);
    return await this.#replace(t, { ...t, config: parseTopicConfig(configs, t.config) });
  }

  async allocateProducerId(): Promise<bigint> {
    if (this.#producerIdNext >= this.#producerIdLimit) {
      this.#producerIdLimit = this.#producerIdNext + PRODUCER_ID_BLOCK;
      this.#state.nextProducerId = this.#producerIdLimit.toString();
      await this.#persist([]);
    }
    return this.#producerIdNext++;
  }

  onChange(listener: (topics: readonly string[]) => void): void {
    this.#listeners.push(listener);
  }

  #partition(i: number): PartitionMeta {
    const id = this.#self.nodeId;
    return { partition: i, leader: id, leaderEpoch: 0, replicas: [id], isr: [id] };
  }

  async #replace(old: TopicMeta, next: TopicMeta): Promise<TopicMeta> {
    this.#state.topics = this.#state.topics.map((t) => (t === old ? next : t));
    await this.#persist([next.name]);
    return next;
  }

  #persist(changed: readonly string[]): Promise<void> {
    const text = JSON.stringify(this.#state);
    // Writes are chained so that the file always ends with the newest state.
    // A failed save fails its caller only: the next save writes the whole newer state.
    const run = this.#writeChain.then(() => this.#store.save(text));
    this.#writeChain = run.catch(() => {});
    return run.then(() => {
      if (changed.length > 0) { for (const l of this.#listeners) l(changed); }
    });
  }
}

function _checkPartitions(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > TOPIC_PARTITIONS_MAX) {
    throw new InvalidTopicError(
      "INVALID_PARTITIONS",
      `Partition count must be between 1 and ${TOPIC_PARTITIONS_MAX}: current value is ${n}`,
    );
  }
}
