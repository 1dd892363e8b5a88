/**
 * A single-voter controller inside the broker's process, for `rustmq standalone`: the same Raft
 * log, state machine and snapshots as a cluster controller, with no network hop. It implements
 * both {@linkcode ClusterMetadata} and {@linkcode ObjectManifest} for the co-located broker.
 * Leases are off: the broker shares the process, so it cannot stop heartbeating on its own.
 *
 * @module
 */

import type { BrokerInfo, ClusterMetadata, TopicMeta } from "../model/cluster_metadata.ts";
import { randomTopicId } from "../model/cluster_metadata.ts";
import type { TopicConfig } from "../model/topic_config.ts";
import type {
  LocatedRange,
  ManifestObject,
  ObjectManifest,
  PartitionTierState,
} from "../model/object_manifest.ts";
import type { Logger } from "../ops/logger.ts";
import type { BrokerEndpoint, MetadataCommand } from "./metadata/commands.ts";
import { MetadataError } from "./metadata/errors.ts";
import { type TopicRecord, wasmModuleBytes } from "./metadata/state_machine.ts";
import type { EtlModuleRef } from "../model/etl_topic_config.ts";
import type { ManifestState } from "./metadata/manifest_state.ts";
import { ControllerNode } from "./controller_node.ts";
import { FileStorage, type RaftStorage, SeededRandom } from "./raft/mod.ts";
import { LoopbackTransport } from "./transport/raft_transport.ts";

/** Options of {@linkcode EmbeddedController.start}. */
export interface EmbeddedControllerOptions {
  /** Directory of the Raft log and snapshots, e.g. `<data>/controller`. */
  dataDir: string;
  /** The co-located broker, registered on start. */
  broker: BrokerInfo & { endpoints?: Record<string, BrokerEndpoint> };
  logger: Logger;
  /** Configs of new topics where the request sets none. @default Kafka's defaults */
  topicDefaults?: Readonly<Partial<TopicConfig>>;
  /** Applied entries between snapshots. @default 10000 */
  snapshotEntries?: number;
  /** Storage to use instead of files in `dataDir` (tests). */
  storage?: RaftStorage;
  /**
   * The text of standalone's older `metadata.json` and `manifest.json` (null when absent).
   * Imported once, when the controller's state is still empty, keeping the cluster id and topic
   * ids; afterwards the files are no longer read and may be archived.
   */
  importLocal?: { metadata: string | null; manifest: string | null };
}

const PRODUCER_ID_BLOCK = 1000;

/** Proposes `import_local` from LocalMetadata / LocalObjectManifest files, once. */
async function _importLocal(
  node: ControllerNode,
  files: { metadata: string | null; manifest: string | null },
): Promise<boolean> {
  if (files.metadata === null && files.manifest === null) return false;
  const s = node.sm.state;
  if (Object.keys(s.topics).length > 0 || s.manifest.objects.length > 0) return false;
  const md = files.metadata === null ? null : JSON.parse(files.metadata) as {
    v: number;
    clusterId: string;
    nextProducerId: string;
    topics: TopicMeta[];
  };
  const manifest = files.manifest === null
    ? { v: 1, partitions: {}, objects: [] }
    : JSON.parse(files.manifest) as { v: number } & ManifestState;
  if ((md !== null && md.v !== 1) || manifest.v !== 1) {
    throw new RangeError("Cannot import local metadata of a version other than 1");
  }
  await node.execute({
    v: 1,
    op: "import_local",
    clusterId: md?.clusterId ?? "",
    nextProducerId: md?.nextProducerId ?? "0",
    topics: (md?.topics ?? []).map((t) => ({
      name: t.name,
      topicId: t.topicId,
      partitions: t.partitions.length,
      configs: Object.fromEntries(Object.entries(t.config).map(([k, v]) => [k, String(v)])),
    })),
    manifest: { partitions: manifest.partitions, objects: manifest.objects },
  });
  return true;
}

/**
 * The embedded controller.
 *
 * @example
 * ```ts ignore
 * const controller = await EmbeddedController.start({
 *   dataDir: `${dataDir}/controller`,
 *   broker: { nodeId, host, port, rack: null },
 *   logger,
 * });
 * const broker = await Broker.start(cfg, { ..., metadata: controller, manifest: controller });
 * mountAdminApi(opsApp, controller.node); // optional: the REST API in standalone
 * ```
 */
export class EmbeddedController implements ClusterMetadata, ObjectManifest, AsyncDisposable {
  /** The controller node; mount the admin REST API on it with `mountAdminApi`. */
  readonly node: ControllerNode;
  readonly #self: BrokerInfo;
  readonly #defaults: Record<string, string>;
  #pidNext = 0n;
  #pidLimit = 0n;
  #pidChain: Promise<unknown> = Promise.resolve();

  private constructor(node: ControllerNode, options: EmbeddedControllerOptions) {
    this.node = node;
    this.#self = options.broker;
    this.#defaults = Object.fromEntries(
      Object.entries(options.topicDefaults ?? {}).map(([k, v]) => [k, String(v)]),
    );
  }

  /** Opens the log, elects itself, waits for the cluster id and registers the broker. */
  static async start(options: EmbeddedControllerOptions): Promise<EmbeddedController> {
    const id = "controller-embedded";
    const node = await ControllerNode.open({
      id,
      voters: [id],
      storage: options.storage ?? await FileStorage.open(options.dataDir),
      transport: new LoopbackTransport(),
      random: new SeededRandom(crypto.getRandomValues(new Uint32Array(1))[0]!),
      logger: options.logger.child("controller"),
      tickMs: 50,
      electionTicks: 2,
      brokerLeaseMs: 0,
      ...(options.snapshotEntries !== undefined
        ? { snapshotEntries: options.snapshotEntries }
        : {}),
    });
    const c = new EmbeddedController(node, options);
    try {
      const b = options.broker;
      await node.execute({
        v: 1,
        op: "register_broker",
        nodeId: b.nodeId,
        host: b.host,
        port: b.port,
        rack: b.rack,
        endpoints: b.endpoints ?? {},
      });
      if (options.importLocal !== undefined) await _importLocal(node, options.importLocal);
      for (let i = 0; i < 200 && node.sm.clusterId === ""; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      if (node.sm.clusterId === "") {
        throw new MetadataError("TIMEOUT", "Cannot start the embedded controller: no cluster id");
      }
    } catch (err) {
      await node.close();
      throw err;
    }
    return c;
  }

  get clusterId(): string {
    return this.node.sm.clusterId;
  }

  get controllerId(): number {
    return this.#self.nodeId;
  }

  brokers(): readonly BrokerInfo[] {
    return this.node.sm.brokers().filter((b) => !b.fenced).map((b) => ({
      nodeId: b.nodeId,
      host: b.host,
      port: b.port,
      rack: b.rack,
    }));
  }

  topics(): readonly TopicMeta[] {
    return this.node.sm.topics();
  }

  topic(name: string): TopicMeta | undefined {
    return this.node.sm.topic(name);
  }

  /** {@linkcode ClusterMetadata.etlModule}, from the state machine. */
  etlModule(name: string): EtlModuleRef | undefined {
    const m = this.node.sm.wasmModule(name);
    return m === undefined
      ? undefined
      : { name: m.name, version: m.version, sha256: m.sha256, sizeBytes: m.sizeBytes };
  }

  /** {@linkcode ClusterMetadata.etlModuleBytes}, from the state machine. */
  etlModuleBytes(sha256: string): Promise<Uint8Array> {
    return Promise.resolve(wasmModuleBytes(this.node.sm.wasmModules(), sha256));
  }

  async createTopic(
    name: string,
    partitions: number,
    replicationFactor: number,
    configs: Readonly<Record<string, string | null>> = {},
  ): Promise<TopicMeta> {
    const r = await this.#run({
      v: 1,
      op: "create_topic",
      name,
      partitions,
      replicationFactor,
      configs: { ...this.#defaults, ...configs },
      topicId: randomTopicId(),
    });
    return r as TopicRecord;
  }

  async deleteTopic(name: string): Promise<void> {
    await this.#run({ v: 1, op: "delete_topic", name });
  }

  async createPartitions(name: string, totalCount: number): Promise<TopicMeta> {
    return await this.#run({ v: 1, op: "create_partitions", name, totalCount }) as TopicRecord;
  }

  async alterTopicConfig(
    name: string,
    configs: Readonly<Record<string, string | null>>,
  ): Promise<TopicMeta> {
    return await this.#run({
      v: 1,
      op: "alter_topic_config",
      name,
      configs: { ...configs },
    }) as TopicRecord;
  }

  allocateProducerId(): Promise<bigint> {
    const next = this.#pidChain.then(async () => {
      if (this.#pidNext >= this.#pidLimit) {
        const v = await this.#run({
          v: 1,
          op: "allocate_producer_ids",
          count: PRODUCER_ID_BLOCK,
        }) as {
          firstId: string;
          count: number;
        };
        this.#pidNext = BigInt(v.firstId);
        this.#pidLimit = this.#pidNext + BigInt(v.count);
      }
      return this.#pidNext++;
    });
    this.#pidChain = next.catch(() => {});
    return next;
  }

  onChange(listener: (topics: readonly string[]) => void): void {
    this.node.onDelta((delta) => {
      const all = delta.reset === true || delta.brokers !== undefined;
      const names = all ? this.node.sm.topics().map((t) => t.name) : Object.keys(delta.topics);
      if (names.length > 0) listener(names);
    });
  }

  async commitUpload(obj: ManifestObject): Promise<void> {
    await this.#run({ v: 1, op: "commit_upload", object: obj });
  }

  async commitCompaction(
    added: readonly ManifestObject[],
    removed: readonly string[],
  ): Promise<void> {
    await this.#run({ v: 1, op: "commit_compaction", added: [...added], removed: [...removed] });
  }

  async advanceLogStart(key: string, offset: number): Promise<string[]> {
    return (await this.#run({ v: 1, op: "advance_log_start", key, offset }) as {
      dropped: string[];
    })
      .dropped;
  }

  async removePartition(key: string): Promise<string[]> {
    return (await this.#run({ v: 1, op: "remove_partition", key }) as { dropped: string[] })
      .dropped;
  }

  partition(key: string): PartitionTierState | undefined {
    return this.node.sm.manifest.partition(key);
  }

  ranges(key: string): readonly LocatedRange[] {
    return this.node.sm.manifest.ranges(key);
  }

  objects(): readonly ManifestObject[] {
    return this.node.sm.manifest.objects();
  }

  has(objectKey: string): boolean {
    return this.node.sm.manifest.has(objectKey);
  }

  /** Stops the controller; its log stays in `dataDir`. */
  async close(): Promise<void> {
    await this.node.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #run(cmd: MetadataCommand): Promise<unknown> {
    return (await this.node.execute(cmd)).value;
  }
}
