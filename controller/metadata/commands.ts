/**
 * The commands of the metadata state machine. Each is one Raft log entry: a JSON object with a
 * format version `v` and an operation `op`. Everything an apply needs is inside the command (ids,
 * the leader's verdict on unclean election), so applying never reads a clock or a random source.
 *
 * @module
 */

import type { ManifestObject } from "../../model/object_manifest.ts";
import type { ManifestState } from "./manifest_state.ts";
import type { PartitionMove } from "./balance_plan.ts";
import { movesProblem } from "./rebalance_state.ts";
import type {
  AclBinding,
  AclFilter,
  ScramMechanismName,
  StoredScramCredential,
} from "../../model/security_metadata.ts";

/** A broker's listener as it registers it. */
export interface BrokerEndpoint {
  host: string;
  port: number;
}

/** Sets the cluster id once; later ones are ignored. Proposed by the first leader. */
export interface InitClusterCommand {
  v: 1;
  op: "init_cluster";
  clusterId: string;
}

/** Registers (or re-registers) a broker; the entry's index becomes its broker epoch. */
export interface RegisterBrokerCommand {
  v: 1;
  op: "register_broker";
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
  /** Further named listeners, e.g. `replication`. */
  endpoints: Record<string, BrokerEndpoint>;
}

/** Fences a broker whose lease expired; its partitions get new leaders from their ISR. */
export interface FenceBrokerCommand {
  v: 1;
  op: "fence_broker";
  nodeId: number;
  brokerEpoch: number;
  /** Whether a partition with no live ISR member may elect any live replica (data loss). */
  unclean: boolean;
}

/** Lifts the fence of a broker that heartbeats again with its current epoch. */
export interface UnfenceBrokerCommand {
  v: 1;
  op: "unfence_broker";
  nodeId: number;
  brokerEpoch: number;
}

/** Creates a topic; replicas are placed at apply time from the live brokers. */
export interface CreateTopicCommand {
  v: 1;
  op: "create_topic";
  name: string;
  partitions: number;
  replicationFactor: number;
  configs: Record<string, string | null>;
  /** Chosen by the proposer, since ids must not be drawn during apply. */
  topicId: string;
}

/** Deletes a topic. */
export interface DeleteTopicCommand {
  v: 1;
  op: "delete_topic";
  name: string;
}

/** Raises a topic's partition count. */
export interface CreatePartitionsCommand {
  v: 1;
  op: "create_partitions";
  name: string;
  totalCount: number;
}

/** Changes topic configs; a null value resets the key to its default. */
export interface AlterTopicConfigCommand {
  v: 1;
  op: "alter_topic_config";
  name: string;
  configs: Record<string, string | null>;
}

/** An ISR change proposed by a partition leader, compare-and-set on the partition epoch. */
export interface AlterIsrCommand {
  v: 1;
  op: "alter_isr";
  nodeId: number;
  brokerEpoch: number;
  topic: string;
  partition: number;
  leaderEpoch: number;
  partitionEpoch: number;
  isr: number[];
}

/** Reserves a block of producer ids. */
export interface AllocateProducerIdsCommand {
  v: 1;
  op: "allocate_producer_ids";
  count: number;
}

/** Object manifest: records an uploaded object. */
export interface CommitUploadCommand {
  v: 1;
  op: "commit_upload";
  object: ManifestObject;
}

/** Object manifest: swaps compacted objects. */
export interface CommitCompactionCommand {
  v: 1;
  op: "commit_compaction";
  added: ManifestObject[];
  removed: string[];
}

/** Object manifest: advances a partition's log start. */
export interface AdvanceLogStartCommand {
  v: 1;
  op: "advance_log_start";
  key: string;
  offset: number;
}

/** Object manifest: forgets a partition. */
export interface RemovePartitionCommand {
  v: 1;
  op: "remove_partition";
  key: string;
}

/** Takes a decommission slot for a broker: no new replicas are placed on it. */
export interface DecommissionStartCommand {
  v: 1;
  op: "decommission_start";
  nodeId: number;
}

/** Frees a broker's decommission slot (finished or cancelled). */
export interface DecommissionEndCommand {
  v: 1;
  op: "decommission_end";
  nodeId: number;
}

/**
 * Ends a drain: the broker holds no replica any more, so it is marked decommissioned (it may be
 * stopped, and is never given replicas again unless the decommission is cancelled) and its slot
 * is freed. Refused while it still holds a replica.
 */
export interface DecommissionCompleteCommand {
  v: 1;
  op: "decommission_complete";
  nodeId: number;
}

/**
 * A broker about to stop (SIGTERM) hands its leaderships to other ISR members and leaves the
 * ISRs, exactly as a fence does but at the broker's request and never unclean, so producers at
 * acks=all keep going without waiting for its lease to run out. The broker stops heartbeating
 * first; registering again on restart lifts it.
 */
export interface ControlledShutdownCommand {
  v: 1;
  op: "controlled_shutdown";
  nodeId: number;
  brokerEpoch: number;
}

/** Starts a rebalance job with a plan computed by the proposer (see balance_plan.ts). */
export interface RebalanceStartCommand {
  v: 1;
  op: "rebalance_start";
  id: string;
  strategy: string;
  topics: string[] | null;
  maxConcurrentMoves: number;
  moves: PartitionMove[];
}

/** Records how one move of the running rebalance ended (reported by the leader's driver). */
export interface RebalanceProgressCommand {
  v: 1;
  op: "rebalance_progress";
  id: string;
  topic: string;
  partition: number;
  outcome: string;
  reason?: string;
}

/** Cancels the running rebalance. */
export interface RebalanceCancelCommand {
  v: 1;
  op: "rebalance_cancel";
}

/**
 * Moves leadership back to each partition's preferred replica (the first in its replica list)
 * where that replica is live and in the ISR, as Kafka's preferred-leader election does after
 * failures have piled leadership onto a few brokers. `topic` limits it to one topic.
 */
export interface ElectPreferredLeadersCommand {
  v: 1;
  op: "elect_preferred_leaders";
  topic?: string;
}

/**
 * Moves a partition to a new replica set, Kafka style: the new replicas are added first and
 * follow the leader; once every target replica is in the ISR the old ones are dropped (and the
 * leader moves if it is one of them). Scaling out and decommissioning build on this.
 */
export interface ReassignPartitionCommand {
  v: 1;
  op: "reassign_partition";
  topic: string;
  partition: number;
  replicas: number[];
}

/** One topic of {@linkcode ImportLocalCommand}. */
export interface ImportedTopic {
  name: string;
  topicId: string;
  partitions: number;
  configs: Record<string, string>;
}

/**
 * Seeds a brand-new state from `rustmq standalone`'s older local files (metadata.json and
 * manifest.json), keeping the cluster id and topic ids clients already know. Refused unless the
 * state holds no topic and no object yet.
 */
export interface ImportLocalCommand {
  v: 1;
  op: "import_local";
  clusterId: string;
  nextProducerId: string;
  topics: ImportedTopic[];
  manifest: ManifestState;
}

/**
 * Deploys a WebAssembly ETL module; a name deployed again gets the next version. The proposer
 * has validated the bytes against ABI v1 (compiling is async and not for every controller's
 * apply); the state machine keeps them so every controller and broker can serve them.
 */
export interface DeployWasmModuleCommand {
  v: 1;
  op: "deploy_wasm_module";
  name: string;
  sha256: string;
  sizeBytes: number;
  /** The `.wasm`, base64. */
  bytesBase64: string;
}

/** Deletes a WebAssembly ETL module with all its versions. */
export interface DeleteWasmModuleCommand {
  v: 1;
  op: "delete_wasm_module";
  name: string;
}

/**
 * Sets (or replaces) a user's SCRAM credential for one mechanism. The proposer derives it
 * (salt, iterations, StoredKey, ServerKey); no password ever enters the log.
 */
export interface UpsertScramCredentialCommand {
  v: 1;
  op: "upsert_scram_credential";
  user: string;
  mechanism: ScramMechanismName;
  credential: StoredScramCredential;
}

/** Removes a user's credential for one mechanism, or for every mechanism when null. */
export interface DeleteScramCredentialsCommand {
  v: 1;
  op: "delete_scram_credentials";
  user: string;
  mechanism: ScramMechanismName | null;
}

/** Adds ACL bindings; all or none (one invalid binding refuses the command). */
export interface CreateAclsCommand {
  v: 1;
  op: "create_acls";
  acls: AclBinding[];
}

/** Removes the ACLs each filter matches; the result lists them per filter. */
export interface DeleteAclsCommand {
  v: 1;
  op: "delete_acls";
  filters: AclFilter[];
}

/** Every command of the metadata state machine. */
export type MetadataCommand =
  | InitClusterCommand
  | RegisterBrokerCommand
  | FenceBrokerCommand
  | UnfenceBrokerCommand
  | CreateTopicCommand
  | DeleteTopicCommand
  | CreatePartitionsCommand
  | AlterTopicConfigCommand
  | AlterIsrCommand
  | AllocateProducerIdsCommand
  | CommitUploadCommand
  | CommitCompactionCommand
  | AdvanceLogStartCommand
  | RemovePartitionCommand
  | DecommissionStartCommand
  | DecommissionEndCommand
  | DecommissionCompleteCommand
  | ControlledShutdownCommand
  | RebalanceStartCommand
  | RebalanceProgressCommand
  | RebalanceCancelCommand
  | ElectPreferredLeadersCommand
  | ReassignPartitionCommand
  | ImportLocalCommand
  | DeployWasmModuleCommand
  | DeleteWasmModuleCommand
  | UpsertScramCredentialCommand
  | DeleteScramCredentialsCommand
  | CreateAclsCommand
  | DeleteAclsCommand;

/** The operation names, for validating commands that arrive over the network. */
export const COMMAND_OPS: ReadonlySet<MetadataCommand["op"]> = new Set([
  "init_cluster",
  "register_broker",
  "fence_broker",
  "unfence_broker",
  "create_topic",
  "delete_topic",
  "create_partitions",
  "alter_topic_config",
  "alter_isr",
  "allocate_producer_ids",
  "commit_upload",
  "commit_compaction",
  "advance_log_start",
  "remove_partition",
  "decommission_start",
  "decommission_end",
  "decommission_complete",
  "controlled_shutdown",
  "rebalance_start",
  "rebalance_progress",
  "rebalance_cancel",
  "elect_preferred_leaders",
  "reassign_partition",
  "import_local",
  "deploy_wasm_module",
  "delete_wasm_module",
  "upsert_scram_credential",
  "delete_scram_credentials",
  "create_acls",
  "delete_acls",
]);

/** Operations only the controller itself proposes; brokers and REST clients may not. */
export const INTERNAL_OPS: ReadonlySet<MetadataCommand["op"]> = new Set([
  "init_cluster",
  "fence_broker",
  "unfence_broker",
  "import_local",
  "decommission_complete",
  "rebalance_start",
  "rebalance_progress",
  "rebalance_cancel",
]);

/**
 * A Raft entry's payload: the command plus the proposer's request id, which lets the proposing
 * controller match the applied entry to its waiting caller.
 */
export interface CommandEnvelope {
  v: 1;
  rid: string;
  cmd: MetadataCommand;
  /** The client's idempotency key, the same on every retry of one logical request. */
  key?: string;
}

/** Longest idempotency key accepted. */
export const REQUEST_KEY_CHARS_MAX = 128;

/** Largest command accepted from the network, in JSON characters. */
export const COMMAND_CHARS_MAX = 4 * 1024 * 1024;

type _Shape = Record<string, "string" | "number" | "boolean" | "object" | "array" | "rack">;

/** The fields each command must carry, with their JSON types. */
const _SHAPES: Record<MetadataCommand["op"], _Shape> = {
  init_cluster: { clusterId: "string" },
  register_broker: { nodeId: "number", host: "string", port: "number", rack: "rack" },
  fence_broker: { nodeId: "number", brokerEpoch: "number", unclean: "boolean" },
  unfence_broker: { nodeId: "number", brokerEpoch: "number" },
  create_topic: {
    name: "string",
    partitions: "number",
    replicationFactor: "number",
    configs: "object",
    topicId: "string",
  },
  delete_topic: { name: "string" },
  create_partitions: { name: "string", totalCount: "number" },
  alter_topic_config: { name: "string", configs: "object" },
  alter_isr: {
    nodeId: "number",
    brokerEpoch: "number",
    topic: "string",
    partition: "number",
    leaderEpoch: "number",
    partitionEpoch: "number",
    isr: "array",
  },
  allocate_producer_ids: { count: "number" },
  commit_upload: { object: "object" },
  commit_compaction: { added: "array", removed: "array" },
  advance_log_start: { key: "string", offset: "number" },
  remove_partition: { key: "string" },
  decommission_start: { nodeId: "number" },
  decommission_end: { nodeId: "number" },
  decommission_complete: { nodeId: "number" },
  controlled_shutdown: { nodeId: "number", brokerEpoch: "number" },
  rebalance_start: {
    id: "string",
    strategy: "string",
    maxConcurrentMoves: "number",
    moves: "array",
  },
  rebalance_progress: { id: "string", topic: "string", partition: "number", outcome: "string" },
  rebalance_cancel: {},
  elect_preferred_leaders: {},
  reassign_partition: { topic: "string", partition: "number", replicas: "array" },
  import_local: {
    clusterId: "string",
    nextProducerId: "string",
    topics: "array",
    manifest: "object",
  },
  deploy_wasm_module: {
    name: "string",
    sha256: "string",
    sizeBytes: "number",
    bytesBase64: "string",
  },
  delete_wasm_module: { name: "string" },
  upsert_scram_credential: { user: "string", mechanism: "string", credential: "object" },
  delete_scram_credentials: { user: "string" },
  create_acls: { acls: "array" },
  delete_acls: { filters: "array" },
};

function _typeOk(value: unknown, type: _Shape[string]): boolean {
  switch (type) {
    case "array":
      return Array.isArray(value);
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    case "rack":
      return value === null || typeof value === "string";
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
  }
}

function _objectOk(o: unknown): boolean {
  if (typeof o !== "object" || o === null) return false;
  const obj = o as Record<string, unknown>;
  if (typeof obj.objectKey !== "string" || !Array.isArray(obj.ranges)) return false;
  if (typeof obj.sizeBytes !== "number" || typeof obj.createdMs !== "number") return false;
  return obj.ranges.every((r: unknown) => {
    const x = r as Record<string, unknown>;
    return typeof r === "object" && r !== null && typeof x.key === "string" &&
      ["baseOffset", "lastOffset", "position", "length", "maxTimestamp"].every((f) =>
        typeof x[f] === "number"
      );
  });
}

function _importProblem(c: Record<string, unknown>): string | null {
  const topicOk = (t: unknown) => {
    const x = t as Record<string, unknown>;
    return typeof t === "object" && t !== null && typeof x.name === "string" &&
      typeof x.topicId === "string" && Number.isInteger(x.partitions) &&
      _typeOk(x.configs, "object") &&
      Object.values(x.configs as object).every((v) => typeof v === "string");
  };
  if (!(c.topics as unknown[]).every(topicOk)) return "field 'topics' is malformed";
  const m = c.manifest as Record<string, unknown>;
  if (!_typeOk(m.partitions, "object") || !Array.isArray(m.objects)) {
    return "field 'manifest' is malformed";
  }
  if (!m.objects.every(_objectOk)) return "field 'manifest.objects' is malformed";
  const stateOk = (p: unknown) => {
    const x = p as Record<string, unknown>;
    return typeof p === "object" && p !== null && typeof x.logStartOffset === "number" &&
      typeof x.uploadedEndOffset === "number";
  };
  if (!Object.values(m.partitions as object).every(stateOk)) {
    return "field 'manifest.partitions' is malformed";
  }
  return null;
}

/**
 * Checks that a command from the network has the shape its operation needs, so that applying
 * it can only fail in the ways the state machine decides (never with a TypeError on every
 * controller at once). Returns the reason it is malformed, or null.
 *
 * @example
 * ```ts
 * import { commandProblem } from "./commands.ts";
 * import assert from "node:assert/strict";
 * assert.equal(commandProblem({ v: 1, op: "delete_topic", name: "t" }), null);
 * assert.match(commandProblem({ v: 1, op: "delete_topic" })!, /name/);
 * ```
 */
export function commandProblem(cmd: unknown): string | null {
  if (typeof cmd !== "object" || cmd === null) return "command must be an object";
  const c = cmd as Record<string, unknown>;
  if (c.v !== 1) return `command version must be 1: current value is ${String(c.v)}`;
  if (typeof c.op !== "string" || !COMMAND_OPS.has(c.op as MetadataCommand["op"])) {
    return `command op is unknown: current value is ${String(c.op)}`;
  }
  const shape = _SHAPES[c.op as MetadataCommand["op"]];
  for (const [field, type] of Object.entries(shape)) {
    if (!_typeOk(c[field], type)) return `field '${field}' must be ${type}`;
  }
  if (c.op === "register_broker" && c.endpoints !== undefined && !_typeOk(c.endpoints, "object")) {
    return "field 'endpoints' must be object";
  }
  if (c.op === "commit_upload" && !_objectOk(c.object)) return "field 'object' is malformed";
  if (c.op === "commit_compaction") {
    if (!(c.added as unknown[]).every(_objectOk)) return "field 'added' is malformed";
    if (!(c.removed as unknown[]).every((k) => typeof k === "string")) {
      return "field 'removed' must hold strings";
    }
  }
  if (c.op === "import_local") return _importProblem(c);
  if (c.op === "rebalance_start") {
    const topics = c.topics;
    if (topics !== null && !(Array.isArray(topics) && topics.every((t) => typeof t === "string"))) {
      return "field 'topics' must be null or hold strings";
    }
    return movesProblem(c.moves);
  }
  if (c.op === "alter_isr" && !(c.isr as unknown[]).every((n) => Number.isInteger(n))) {
    return "field 'isr' must hold integers";
  }
  for (const field of ["configs"]) {
    if (c[field] === undefined) continue;
    for (const v of Object.values(c[field] as Record<string, unknown>)) {
      if (v !== null && typeof v !== "string") return `field '${field}' values must be strings`;
    }
  }
  return null;
}
